"""electra.flax.trainer: shared embeddings, gradient flow, the loss recipe, the optimizer,
the trainer (state round trip, portability of its state, loss falls, 2-way == 1-way)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import electra.flax as ef
from conftest import REPO_ROOT, masked_batch, tiny_config
from electra.common.config import generator_config
from electra.common.pretraining import noise, recipe
from electra.common.pretraining.schedule import LinearSchedule
from electra.flax import losses
from electra.flax.optim import clip_by_global_norm, decay_mask, electra_adamw
from electra.flax.trainer import ElectraPretrainer, PretrainingTrainer


def make_batch(config, B=3, L=12, seed=0):
    return {k: v.astype(np.int32) for k, v in masked_batch(config.vocab_size, B, L, seed).items()}


@pytest.fixture(scope="module")
def pretrainer():
    disc = tiny_config()
    return ElectraPretrainer(disc, generator_config(disc, 0.5))


def test_one_embeddings_subtree_and_the_head_is_tied(pretrainer):
    params = pretrainer.params
    assert "embeddings" in params["discriminator"]["electra"]
    assert "embeddings" not in params["generator"]["electra"]  # the generator has none of its own
    assert set(params["generator"]["generator_lm_head"]) == {"bias"}  # weight = the shared word table
    full = ElectraPretrainer.generator_params(params)
    assert full["electra"]["embeddings"] is params["discriminator"]["electra"]["embeddings"]
    assert full["electra"]["encoder"] is params["generator"]["electra"]["encoder"]


def test_mismatched_pair_is_refused():
    disc = tiny_config()
    with pytest.raises(ValueError, match="embedding_size"):
        ElectraPretrainer(disc, generator_config(disc, 0.5).replace(embedding_size=16))
    with pytest.raises(ValueError, match="temperature"):
        ElectraPretrainer(disc, generator_config(disc, 0.5), temperature=0.0)


def _full_generator(pretrainer, params):
    model = ef.ElectraForMaskedLM(pretrainer.generator.config)
    model.params = ElectraPretrainer.generator_params(params)
    return model


def test_losses_follow_the_recipe_with_injected_noise(pretrainer):
    batch = make_batch(pretrainer.discriminator.config)
    V = pretrainer.discriminator.config.vocab_size
    noise = recipe.gumbel(np.random.default_rng(1).random((3, 12, V), dtype=np.float32))
    noise[0, 1, batch["input_ids"][0, 1]] = 50.0  # this position samples its original token back
    out = pretrainer(**batch, gumbel_noise=noise)
    chosen = batch["mlm_labels"] != -100
    # Generator: full-sequence MaskedLM logits at the chosen positions give the same loss.
    full = np.asarray(_full_generator(pretrainer, pretrainer.params)(batch["masked_ids"], batch["attention_mask"],
                                                                    batch["token_type_ids"]).logits)
    mask = np.asarray(out.prediction_mask)
    assert out.generator_logits.shape[:2] == mask.shape == (3, 8)  # K slots: the most chosen in a row, rounded up to 8
    np.testing.assert_array_equal(np.asarray(out.prediction_positions)[mask], chosen.nonzero()[1])
    np.testing.assert_allclose(np.asarray(out.generator_logits)[mask], full[chosen], atol=1e-5)
    expected_gen = float(losses.cross_entropy(jnp.asarray(full[chosen]), jnp.asarray(batch["mlm_labels"][chosen])))
    assert float(out.generator_loss) == pytest.approx(expected_gen, abs=1e-5)
    # Sampling: argmax of logits + noise at the chosen positions, originals elsewhere.
    expected = batch["input_ids"].copy()
    expected[chosen] = (full[chosen] + noise[chosen]).argmax(-1)
    np.testing.assert_array_equal(np.asarray(out.sampled_ids), expected)
    np.testing.assert_array_equal(np.asarray(out.replaced), (expected != batch["input_ids"]).astype(np.int32))
    assert out.replaced[0, 1] == 0 and 0 < int(out.replaced.sum()) < int(chosen.sum())
    # Discriminator: BCE over non-padding positions; total = 1 x gen + 50 x disc.
    disc = ef.ElectraForPreTraining(pretrainer.discriminator.config)
    disc.params = pretrainer.params["discriminator"]
    logits = np.asarray(disc(expected, batch["attention_mask"], batch["token_type_ids"]).logits)
    valid = batch["attention_mask"] == 1
    x, y = logits[valid].astype(np.float64), (expected != batch["input_ids"])[valid]
    bce = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    assert float(out.discriminator_loss) == pytest.approx(bce, abs=1e-6)
    assert float(out.loss) == pytest.approx(float(out.generator_loss) + 50 * bce, rel=1e-6)
    # A temperature divides the logits before the noise is added.
    hot = ElectraPretrainer(pretrainer.discriminator.config, pretrainer.generator.config, temperature=4.0)
    expected[chosen] = (full[chosen] / 4.0 + noise[chosen]).argmax(-1)
    np.testing.assert_array_equal(np.asarray(hot(**batch, gumbel_noise=noise, params=pretrainer.params).sampled_ids), expected)


def test_gradients_reach_shared_embeddings_from_both_losses_but_not_generator_from_disc(pretrainer):
    batch = {k: jnp.asarray(v) for k, v in make_batch(pretrainer.discriminator.config).items()}

    def part(name):
        return jax.grad(lambda p: getattr(pretrainer.apply(p, **batch, noise_key=np.uint32([0, 0]), max_predictions=8), name))(pretrainer.params)

    g_gen, g_disc = part("generator_loss"), part("discriminator_loss")
    for grads in (g_gen, g_disc):
        shared = grads["discriminator"]["electra"]["embeddings"]
        assert np.abs(np.asarray(shared["word_embeddings"]["embedding"])).sum() > 0
        assert np.abs(np.asarray(shared["LayerNorm"]["scale"])).sum() > 0
    query = g_disc["generator"]["electra"]["encoder"]["layer"]["0"]["attention"]["self"]["query"]["kernel"]
    assert np.all(np.asarray(query) == 0)  # the sample is discrete: no gradient into the generator
    assert np.abs(np.asarray(g_gen["generator"]["generator_lm_head"]["bias"])).sum() > 0


def test_adamw_without_bias_correction_and_clipping_match_hand_computation():
    params = {"dense": {"kernel": jnp.array([1.0, -2.0]), "bias": jnp.array([0.5])}, "LayerNorm": {"scale": jnp.array([1.0])}}
    mask = decay_mask(params)
    assert mask == {"dense": {"kernel": True, "bias": False}, "LayerNorm": {"scale": False}}
    tx = electra_adamw(mask, weight_decay=0.01)
    grads = {"dense": {"kernel": jnp.array([0.2, -0.4]), "bias": jnp.array([1.0])}, "LayerNorm": {"scale": jnp.array([0.0])}}
    updates, state = tx.update(grads, tx.init(params), params)
    m = 0.1 * np.array([0.2, -0.4])
    v = 0.001 * np.array([0.2, -0.4]) ** 2
    np.testing.assert_allclose(updates["dense"]["kernel"], m / (np.sqrt(v) + 1e-6) + 0.01 * np.array([1.0, -2.0]), rtol=1e-5)
    np.testing.assert_allclose(updates["dense"]["bias"], [0.1 / (np.sqrt(0.001) + 1e-6)], rtol=1e-5)  # no decay
    np.testing.assert_allclose(state.nu["dense"]["bias"], [0.001], rtol=1e-6)
    clipped, norm = clip_by_global_norm(grads, 0.5)
    assert float(norm) == pytest.approx(np.sqrt(0.04 + 0.16 + 1.0), rel=1e-6)
    np.testing.assert_allclose(clipped["dense"]["bias"], [0.5 / (float(norm) + 1e-6)], rtol=1e-6)
    unclipped, _ = clip_by_global_norm(grads, 10.0)
    np.testing.assert_array_equal(unclipped["dense"]["kernel"], grads["dense"]["kernel"])


def test_trainer_state_round_trip_repeats_the_same_step(pretrainer, tmp_path):
    disc = pretrainer.discriminator.config
    batch = make_batch(disc)
    schedule = LinearSchedule(1e-3, 2, 10)
    first = PretrainingTrainer(pretrainer, schedule, seed=3)
    first.train_step(batch, 0)
    saved = first.state_arrays()
    assert "param/discriminator.electra.embeddings.word_embeddings.weight" in saved
    assert saved["param/discriminator.electra.embeddings_project.weight"].shape == (32, 24)  # canonical (out, in)
    assert not any(k.startswith("param/generator.electra.embeddings.") for k in saved)
    assert "param/generator.generator_lm_head.weight" not in saved
    a = first.train_step(batch, 1)
    assert set(a) == {"loss", "generator_loss", "discriminator_loss", "generator_accuracy", "discriminator_accuracy",
                      "discriminator_precision", "discriminator_recall", "lr", "grad_norm"}
    assert a["lr"] == pytest.approx(1e-3 * 0.5 * 0.9)  # warmup 1/2, decay 9/10
    second = PretrainingTrainer(ElectraPretrainer(disc, generator_config(disc, 0.5), seed=7), schedule, seed=3)
    second.load_state_arrays(saved)
    b = second.train_step(batch, 1)
    assert a == b
    with pytest.raises(ValueError, match="lacks"):
        second.load_state_arrays({})
    bad = dict(saved, **{"adam_m/discriminator.discriminator_predictions.dense.bias": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="dense.bias"):
        second.load_state_arrays(bad)
    # Export: canonical folders that the model classes load, equal to the trained weights.
    first.export(tmp_path)
    generator = ef.ElectraForMaskedLM.from_pretrained(tmp_path / "generator")
    discriminator = ef.ElectraForPreTraining.from_pretrained(tmp_path / "discriminator")
    state = first.state_arrays()
    gen_state = generator.canonical_state_dict()
    np.testing.assert_array_equal(gen_state["electra.embeddings.word_embeddings.weight"],
                                  state["param/discriminator.electra.embeddings.word_embeddings.weight"])
    np.testing.assert_array_equal(gen_state["generator_lm_head.bias"], state["param/generator.generator_lm_head.bias"])
    np.testing.assert_array_equal(discriminator.canonical_state_dict()["discriminator_predictions.dense.weight"],
                                  state["param/discriminator.discriminator_predictions.dense.weight"])


def test_state_names_and_shapes_equal_the_pytorch_trainers(pretrainer):
    torch = pytest.importorskip("torch")
    from electra.pt.trainer import ElectraPretrainer as PtPretrainer
    from electra.pt.trainer import PretrainingTrainer as PtTrainer

    disc = pretrainer.discriminator.config
    schedule = LinearSchedule(1e-3, 2, 10)
    torch.manual_seed(0)
    pt_trainer = PtTrainer(PtPretrainer(disc, generator_config(disc, 0.5)), schedule, device="cpu")
    pt_trainer.train_step({k: v.astype(np.int64) for k, v in make_batch(disc).items()}, 0)
    theirs = pt_trainer.state_arrays()
    ours = PretrainingTrainer(pretrainer, schedule).state_arrays()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    trainer = PretrainingTrainer(pretrainer, schedule)
    trainer.load_state_arrays(theirs)  # a PyTorch checkpoint resumes in Flax
    for key, value in trainer.state_arrays().items():
        np.testing.assert_array_equal(value, theirs[key], err_msg=key)


def test_the_loss_falls_on_a_repeated_batch(pretrainer):
    disc = pretrainer.discriminator.config
    batch = make_batch(disc, B=4, L=16, seed=5)
    trainer = PretrainingTrainer(pretrainer, LinearSchedule(2e-3, 3, 60), seed=1)
    losses_ = [trainer.train_step(batch, step)["loss"] for step in range(40)]
    assert np.mean(losses_[-5:]) < 0.7 * np.mean(losses_[:5])
    held_out = trainer.evaluate(batch, step=0)
    assert held_out["scores"].shape == (4, 16) and held_out["generator_correct"].dtype == bool
    assert held_out["generator_correct"].shape == ((batch["mlm_labels"] != -100).sum(),)


def test_a_fixed_max_predictions_compiles_the_steps_once(pretrainer):
    disc = pretrainer.discriminator.config
    trainer = PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 10), seed=2, max_predictions=11)
    batches = []
    for n, seed in ((2, 0), (6, 1), (11, 2)):  # rows with at most n masked positions: K would be 8, 8, 16
        batch = make_batch(disc, B=3, L=16, seed=seed)
        keep = np.cumsum(batch["mlm_labels"] != -100, axis=1) <= n
        batch["mlm_labels"] = np.where(keep, batch["mlm_labels"], -100).astype(np.int32)
        batches.append(batch)
    assert len({int((b["mlm_labels"] != -100).sum(axis=1).max()) for b in batches}) > 1
    for step, batch in enumerate(batches):
        metrics = trainer.train_step(batch, step)
        assert np.isfinite(metrics["loss"])
        held_out = trainer.evaluate(batch, step)
        assert held_out["generator_correct"].shape == ((batch["mlm_labels"] != -100).sum(),)
    assert trainer._train._cache_size() == 1 and trainer._eval._cache_size() == 1
    too_many = make_batch(disc, B=3, L=16, seed=3)
    too_many["mlm_labels"][0] = -100
    too_many["mlm_labels"][0, 1:13] = 7  # 12 masked positions in row 0
    with pytest.raises(ValueError, match="12 masked positions, more than the trainer's max_predictions=11"):
        trainer.train_step(too_many, 3)
    with pytest.raises(ValueError, match="max_predictions must be >= 1"):
        PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 10), max_predictions=0)


def recount(batch, generator_logits, discriminator_logits, replaced):
    """`recipe.METRIC_COUNTS` recounted in NumPy from a forward's outputs ((M, V) generator logits)."""
    chosen, valid = batch["mlm_labels"] != -100, batch["attention_mask"] == 1
    predicted, truth = discriminator_logits > 0, replaced == 1
    return [int((generator_logits.argmax(-1) == batch["mlm_labels"][chosen]).sum()), int(chosen.sum()),
            int(((predicted == truth) & valid).sum()), int(valid.sum()), int((predicted & truth & valid).sum()),
            int((predicted & valid).sum()), int((truth & valid).sum())]


def test_metrics_are_ratios_of_the_counts_and_the_trainer_divides_the_summed_counts():
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    # HF's zero output bias: the untrained discriminator predicts both classes (the prior's bias predicts none).
    model = ElectraPretrainer(disc, generator_config(disc, 0.5), prior=None)
    batch = make_batch(disc, B=4, seed=5)  # row 1 padded
    out = model(**batch, noise_key=noise.noise_key(3, 0))
    counts = recount(batch, np.asarray(out.generator_logits)[np.asarray(out.prediction_mask)], np.asarray(out.discriminator_logits), np.asarray(out.replaced))
    assert out.metric_counts.dtype == jnp.float32 and out.metric_counts.tolist() == counts
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


TWO_WAY = textwrap.dedent("""
    import json, sys
    import numpy as np
    import jax
    sys.path[:0] = [{root!r}, {root!r} + "/tests"]
    from conftest import tiny_config
    from electra.common.config import generator_config
    from electra.common.pretraining.schedule import LinearSchedule
    from electra.flax.trainer import ElectraPretrainer, PretrainingTrainer, data_parallel_mesh
    from test_trainer import make_batch

    assert len(jax.devices()) == 2, jax.devices()
    disc = tiny_config()
    batch = make_batch(disc, B=4, L=12, seed=2)
    results = []
    for mesh in (None, data_parallel_mesh()):
        trainer = PretrainingTrainer(ElectraPretrainer(disc, generator_config(disc, 0.5)), LinearSchedule(1e-3, 1, 10), seed=4, mesh=mesh)
        metrics = [dict(trainer.train_step(batch, step)) for step in range(2)]
        sharding = trainer.params["discriminator"]["electra"]["embeddings"]["LayerNorm"]["scale"].sharding
        results.append((metrics, trainer.state_arrays(), len(sharding.device_set)))
    (m1, s1, d1), (m2, s2, d2) = results
    assert (d1, d2) == (1, 2), (d1, d2)
    worst = max(float(np.abs(s1[k] - s2[k]).max()) for k in s1)
    print(json.dumps({{"one": m1, "two": m2, "worst": worst}}))
""")


def test_two_way_data_parallel_step_equals_one_way():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    # -P: keep the working directory off sys.path; tests/flax is put on it by the script itself.
    script = TWO_WAY.format(root=str(REPO_ROOT))
    env["PYTHONPATH"] = str(REPO_ROOT / "tests" / "flax")
    result = subprocess.run([sys.executable, "-P", "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for one, two in zip(report["one"], report["two"]):
        for key in one:
            assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key
    assert report["worst"] < 1e-5


def test_discriminator_bias_starts_at_the_masking_prior_unless_none():
    disc = tiny_config()

    def bias(prior):
        params = ElectraPretrainer(disc, generator_config(disc, 0.5), prior=prior).params
        return np.asarray(params["discriminator"]["discriminator_predictions"]["dense_prediction"]["bias"]).tolist()

    assert bias(0.15) == [np.float32(recipe.prior_logit(0.15))] and bias(None) == [0.0]


def test_a_staged_batch_takes_the_numpy_batch_step():
    """`stage` (the prefetching thread's device_put) gives a batch that `train_step` and
    `evaluate` take as the NumPy batch: the same metrics and parameters, bit for bit."""
    from electra.common.pretraining.prefetch import StagedBatch

    disc = tiny_config()
    batch = make_batch(disc, B=4, L=12, seed=3)
    trainers = [PretrainingTrainer(ElectraPretrainer(disc, generator_config(disc, 0.5)), LinearSchedule(1e-3, 1, 10), seed=1)
                for _ in range(2)]
    staged = trainers[1].stage(batch)
    assert isinstance(staged, StagedBatch) and all(isinstance(v, jax.Array) for v in staged.device.values())
    results = [dict(trainers[0].train_step(batch, 0)), dict(trainers[1].train_step(staged, 0))]
    assert results[0] == results[1]
    for key, value in trainers[0].state_arrays().items():
        np.testing.assert_array_equal(trainers[1].state_arrays()[key], value, err_msg=key)
    evaluated = [trainers[0].evaluate(batch, 1), trainers[1].evaluate(trainers[1].stage(batch), 1)]
    for key, value in evaluated[0].items():
        np.testing.assert_array_equal(evaluated[1][key], value, err_msg=key)
