"""electra.tf.trainer: shared embeddings, gradient flow, the loss recipe, the optimizer,
training state (portable to electra.pt), and data-parallel steps with tf.distribute."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, masked_batch, tiny_config
from electra.common.config import generator_config
from electra.common.pretraining import noise, recipe
from electra.common.pretraining.masking import DEFAULT_MASK_PROB
from electra.common.pretraining.schedule import LinearSchedule
from electra.tf.optim import ElectraAdamW
from electra.tf.trainer import ElectraPretrainer, PretrainingTrainer


def make_batch(config, B=3, L=12, seed=0):
    return {k: v.astype(np.int32) for k, v in masked_batch(config.vocab_size, B, L, seed).items()}


def make_pretrainer(seed=0, prior=DEFAULT_MASK_PROB, **changes):
    disc = tiny_config(**changes)
    model = ElectraPretrainer(disc, generator_config(disc, 0.5), seed=seed, prior=prior)
    model.build()
    return model


@pytest.fixture
def pretrainer():
    return make_pretrainer()


def test_embeddings_and_layer_norm_are_one_layer_and_head_reads_the_shared_table(pretrainer):
    gen, disc = pretrainer.generator, pretrainer.discriminator
    assert gen.electra.embeddings is disc.electra.embeddings
    assert [v.name for v in gen.generator_lm_head.weights] == ["bias"]
    names = [n for n, _, _ in pretrainer.named_variables()]
    assert not any(n.startswith("generator.electra.embeddings.") for n in names)  # listed once
    assert len({id(v) for v in pretrainer.trainable_variables}) == len(pretrainer.trainable_variables) == len(names)
    # The names are electra.pt's parameter names: training checkpoints cross backends.
    torch = pytest.importorskip("torch")
    from electra.pt.trainer import ElectraPretrainer as PtPretrainer

    torch.manual_seed(0)
    pt = PtPretrainer(pretrainer.discriminator.config, pretrainer.generator.config)
    assert {n: tuple(p.shape) for n, p in pt.named_parameters()} == {
        n: tuple(reversed(v.shape)) if t else tuple(v.shape) for n, v, t in pretrainer.named_variables()
    }


def test_mismatched_pair_is_refused():
    disc = tiny_config()
    with pytest.raises(ValueError, match="embedding_size"):
        ElectraPretrainer(disc, generator_config(disc, 0.5).replace(embedding_size=16))
    with pytest.raises(ValueError, match="temperature"):
        ElectraPretrainer(disc, generator_config(disc, 0.5), temperature=0)


def test_losses_follow_the_recipe_with_injected_noise(pretrainer):
    batch = make_batch(pretrainer.discriminator.config)
    V = pretrainer.discriminator.config.vocab_size
    noise = recipe.gumbel(np.random.default_rng(1).random((3, 12, V), dtype=np.float32))
    out = pretrainer(**batch, gumbel_noise=noise)
    chosen = batch["mlm_labels"] != -100
    full = pretrainer.generator(batch["masked_ids"], batch["attention_mask"], batch["token_type_ids"]).logits.numpy()
    assert out.generator_logits.shape[:2] == out.prediction_mask.shape == (3, 8)  # K slots: the most chosen in a row, rounded up to 8
    np.testing.assert_array_equal(out.prediction_positions.numpy()[out.prediction_mask.numpy()], chosen.nonzero()[1])
    np.testing.assert_allclose(out.generator_logits.numpy()[out.prediction_mask.numpy()], full[chosen], atol=1e-5)
    logp = full[chosen] - np.log(np.exp(full[chosen]).sum(-1, keepdims=True))
    expected_gen = -logp[np.arange(chosen.sum()), batch["mlm_labels"][chosen]].mean()
    assert float(out.generator_loss) == pytest.approx(expected_gen, abs=1e-5)
    expected = batch["input_ids"].copy()
    expected[chosen] = (full[chosen] + noise[chosen]).argmax(-1)
    np.testing.assert_array_equal(out.sampled_ids.numpy(), expected)
    np.testing.assert_array_equal(out.replaced.numpy(), (expected != batch["input_ids"]).astype(np.int32))
    logits = pretrainer.discriminator(expected, batch["attention_mask"], batch["token_type_ids"]).logits.numpy()
    valid = batch["attention_mask"] == 1
    x, y = logits[valid], out.replaced.numpy()[valid]
    bce = np.mean(np.logaddexp(0, x) - x * y)
    assert float(out.discriminator_loss) == pytest.approx(bce, abs=1e-6)
    assert float(out.loss) == pytest.approx(float(out.generator_loss) + 50 * bce, rel=1e-6)


def test_gradients_reach_shared_embeddings_from_both_losses_but_not_generator_from_disc(pretrainer):
    batch = make_batch(pretrainer.discriminator.config)
    word = pretrainer.discriminator.electra.embeddings.word_embeddings.embeddings
    layer_norm = pretrainer.discriminator.electra.embeddings.LayerNorm.gamma
    gen_query = pretrainer.generator.electra.encoder.layer[0].attention.self.query.kernel
    with tf.GradientTape(persistent=True) as tape:
        out = pretrainer(**batch, noise_key=tf.constant([0, 1], tf.int64))
    g_gen = tape.gradient(out.generator_loss, [word, layer_norm])
    g_disc = tape.gradient(out.discriminator_loss, [word, layer_norm, gen_query])
    assert all(float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0 for g in g_gen)
    assert all(float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0 for g in g_disc[:2])
    assert g_disc[2] is None  # the sample is discrete


def recount(batch, generator_logits, discriminator_logits, replaced):
    """`recipe.METRIC_COUNTS` recounted in NumPy from a forward's outputs ((M, V) generator logits at the chosen positions)."""
    chosen, valid = batch["mlm_labels"] != -100, batch["attention_mask"] == 1
    predicted, truth = discriminator_logits > 0, replaced == 1
    return [int((generator_logits.argmax(-1) == batch["mlm_labels"][chosen]).sum()), int(chosen.sum()),
            int(((predicted == truth) & valid).sum()), int(valid.sum()), int((predicted & truth & valid).sum()),
            int((predicted & valid).sum()), int((truth & valid).sum())]


def test_metrics_are_ratios_of_the_counts_and_the_trainer_divides_the_summed_counts():
    # HF's zero output bias: the untrained discriminator predicts both classes (the prior's bias predicts none).
    model = make_pretrainer(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, prior=None)
    batch = make_batch(model.discriminator.config, B=4, seed=5)  # row 1 padded
    out = model(**batch, noise_key=tf.constant(noise.noise_key(3, 0), tf.int64))
    counts = recount(batch, out.generator_logits.numpy()[out.prediction_mask.numpy()], out.discriminator_logits.numpy(), out.replaced.numpy())
    assert out.metric_counts.dtype == tf.float32 and out.metric_counts.numpy().tolist() == counts
    assert counts[3] == 45 and 0 < counts[4] < min(counts[5], counts[6])  # padding left out; precision, recall not 0 or 1
    c = np.float32(counts)
    assert float(out.generator_accuracy) == c[0] / c[1]
    assert float(out.discriminator_accuracy) == c[2] / c[3]
    assert float(out.discriminator_precision) == c[4] / c[5]
    assert float(out.discriminator_recall) == c[4] / c[6]
    # The trainer's step 0 runs the same forward and divides its counts in float64.
    metrics = PretrainingTrainer(model, LinearSchedule(1e-3, 1, 10), seed=3).train_step(batch, 0)
    assert [metrics[k] for k in recipe.STEP_METRICS[3:]] == [counts[0] / counts[1], counts[2] / counts[3], counts[4] / counts[5], counts[4] / counts[6]]
    for key in recipe.STEP_LOSSES:
        assert metrics[key] == pytest.approx(float(getattr(out, key)), rel=1e-6), key


def test_adamw_without_bias_correction_matches_hand_computation():
    p = tf.Variable([1.0, -2.0])
    b = tf.Variable([0.5])
    opt = ElectraAdamW([("dense.weight", p), ("dense.bias", b)], weight_decay=0.01)
    opt.apply([tf.constant([0.2, -0.4]), tf.constant([1.0])], tf.constant(0.1))
    m = 0.1 * np.array([0.2, -0.4])
    v = 0.001 * np.array([0.2, -0.4]) ** 2
    expected = np.array([1.0, -2.0]) - 0.1 * (m / (np.sqrt(v) + 1e-6) + 0.01 * np.array([1.0, -2.0]))
    np.testing.assert_allclose(p.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), 0.5 - 0.1 * 0.1 / (np.sqrt(0.001) + 1e-6), atol=1e-6)  # bias: no decay
    with pytest.raises(ValueError, match="shared"):
        ElectraAdamW([("a", p), ("b", p)])


def test_trainer_state_round_trip_repeats_the_same_step_and_loss_falls():
    first_model = make_pretrainer(hidden_dropout_prob=0.1)
    disc = first_model.discriminator.config
    batch = make_batch(disc)
    schedule = LinearSchedule(2e-3, 2, 40)
    first = PretrainingTrainer(first_model, schedule, seed=3)
    first.train_step(batch, 0)
    saved = first.state_arrays()
    assert {k.split("/")[0] for k in saved} == {"param", "adam_m", "adam_v"}
    a = first.train_step(batch, 1)
    assert set(a) == {"loss", "generator_loss", "discriminator_loss", "generator_accuracy", "discriminator_accuracy",
                      "discriminator_precision", "discriminator_recall", "lr", "grad_norm"}
    second = PretrainingTrainer(make_pretrainer(seed=9, hidden_dropout_prob=0.1), schedule, seed=3)
    second.load_state_arrays(saved)
    b = second.train_step(batch, 1)
    assert a == b
    with pytest.raises(ValueError, match="lacks"):
        second.load_state_arrays({})
    losses = [second.train_step(batch, step)["loss"] for step in range(2, 25)]
    assert np.mean(losses[-4:]) < 0.7 * losses[0]


def test_checkpoint_from_electra_pt_resumes_in_tf():
    torch = pytest.importorskip("torch")
    from electra.pt.trainer import ElectraPretrainer as PtPretrainer
    from electra.pt.trainer import PretrainingTrainer as PtTrainer

    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    gen = generator_config(disc, 0.5)
    schedule = LinearSchedule(1e-3, 2, 10)
    torch.manual_seed(0)
    pt = PtTrainer(PtPretrainer(disc, gen), schedule, seed=0, device="cpu")
    batch = make_batch(disc)
    pt.train_step(batch, 0)
    ours = PretrainingTrainer(ElectraPretrainer(disc, gen, seed=1), schedule, seed=0)
    ours.load_state_arrays(pt.state_arrays())
    for key, value in pt.state_arrays().items():
        np.testing.assert_array_equal(ours.state_arrays()[key], value, err_msg=key)
    noise = recipe.gumbel(np.random.default_rng(2).random((3, 12, disc.vocab_size), dtype=np.float32))
    with torch.no_grad():
        expected = pt.model.eval()(**{k: torch.as_tensor(v, dtype=torch.long) for k, v in batch.items()}, gumbel_noise=torch.from_numpy(noise))
    out = ours.model(**batch, gumbel_noise=noise)
    assert float(out.loss) == pytest.approx(float(expected.loss), abs=1e-4)


def test_export_writes_both_networks_in_canonical_format(tmp_path, pretrainer):
    import electra.tf as etf

    trainer = PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 5))
    trainer.export(tmp_path)
    disc = etf.ElectraForPreTraining.from_pretrained(tmp_path / "discriminator")
    gen = etf.ElectraForMaskedLM.from_pretrained(tmp_path / "generator")
    shared = pretrainer.discriminator.electra.embeddings.word_embeddings.embeddings.numpy()
    np.testing.assert_array_equal(gen.electra.embeddings.word_embeddings.embeddings.numpy(), shared)
    np.testing.assert_array_equal(disc.electra.embeddings.word_embeddings.embeddings.numpy(), shared)


def test_mirrored_strategy_step_equals_single_device_step(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow"}
    worker = REPO_ROOT / "tests" / "tf" / "mirrored_worker.py"
    result = subprocess.run([sys.executable, "-P", str(worker), str(REPO_ROOT)], env=env, capture_output=True,
                            text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    one, two = report["metrics"]
    for a, b in zip(one, two):
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    assert report["max_param_diff"] < 1e-5


def test_xla_compiled_step_equals_the_plain_step():
    # The Gumbel noise and the dropout masks come from int64 Philox words
    # (electra.tf.prng), which XLA draws as the TF kernels do: same samples, same step.
    disc = tiny_config(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    batch = make_batch(disc)
    steps = []
    for jit_compile in (False, True):
        trainer = PretrainingTrainer(ElectraPretrainer(disc, generator_config(disc, 0.5), seed=0), LinearSchedule(1e-3, 1, 10), seed=1, jit_compile=jit_compile)
        steps.append([trainer.train_step(batch, step) for step in range(2)])
    for plain, xla in zip(*steps):
        assert all(np.isfinite(v) for v in xla.values())
        for key in plain:
            assert xla[key] == pytest.approx(plain[key], rel=1e-4, abs=1e-5), key


def test_data_parallel_workers_barrier_waits_for_the_chief(tmp_path):
    """With TF_CONFIG naming two workers, the non-chief returns from the barrier only after
    the chief has written what it writes before the barrier (the tokenizer, in a run)."""
    import json
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
        procs.append(subprocess.Popen([sys.executable, str(REPO_ROOT / "tests" / "tf" / "barrier_worker.py"), str(tmp_path)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-2000:]
        assert out.strip().splitlines()[-1] == "found"


def test_a_batch_over_max_predictions_is_refused(pretrainer):
    disc = pretrainer.discriminator.config
    trainer = PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 10), seed=2, max_predictions=11)
    batch = make_batch(disc, B=3, L=16, seed=3)
    batch["mlm_labels"][0] = -100
    batch["mlm_labels"][0, 1:13] = 7  # 12 masked positions in row 0
    with pytest.raises(ValueError, match="12 masked positions, more than the trainer's max_predictions=11"):
        trainer.train_step(batch, 0)
    with pytest.raises(ValueError, match="max_predictions must be >= 1"):
        PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 10), max_predictions=0)


def test_discriminator_bias_starts_at_the_masking_prior_unless_none():
    def bias(prior):
        return make_pretrainer(prior=prior).discriminator.discriminator_predictions.dense_prediction.bias.numpy().tolist()

    assert bias(0.15) == [np.float32(recipe.prior_logit(0.15))] and bias(None) == [0.0]
