"""electra.pt.trainer: shared embeddings, gradient flow, the loss recipe, the optimizer."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from electra.common.config import generator_config
from electra.common.pretraining import noise, recipe
from electra.common.pretraining.schedule import LinearSchedule
from electra.pt.optim import ElectraAdamW
from electra.pt.trainer import ElectraPretrainer, PretrainingTrainer
from tests.conftest import masked_batch, tiny_config


def make_batch(config, B=3, L=12, seed=0):
    return {k: torch.as_tensor(v, dtype=torch.long) for k, v in masked_batch(config.vocab_size, B, L, seed).items()}


@pytest.fixture
def pretrainer():
    torch.manual_seed(0)
    disc = tiny_config()
    return ElectraPretrainer(disc, generator_config(disc, 0.5))


def test_embeddings_and_layer_norm_are_one_module_and_head_is_tied(pretrainer):
    gen, disc = pretrainer.generator, pretrainer.discriminator
    assert gen.electra.embeddings is disc.electra.embeddings
    assert gen.generator_lm_head.weight is disc.electra.embeddings.word_embeddings.weight
    names = [n for n, _ in pretrainer.named_parameters()]
    assert not any(n.startswith("generator.electra.embeddings.") for n in names)  # listed once
    moved = copy.deepcopy(pretrainer)
    assert moved.generator.generator_lm_head.weight is moved.discriminator.electra.embeddings.word_embeddings.weight
    assert moved.generator.electra.embeddings is moved.discriminator.electra.embeddings


def test_mismatched_pair_is_refused():
    disc = tiny_config()
    with pytest.raises(ValueError, match="embedding_size"):
        ElectraPretrainer(disc, generator_config(disc, 0.5).replace(embedding_size=16))


def test_losses_follow_the_recipe_with_injected_noise(pretrainer):
    batch = make_batch(pretrainer.discriminator.config)
    V = pretrainer.discriminator.config.vocab_size
    noise = torch.from_numpy(recipe.gumbel(np.random.default_rng(1).random((3, 12, V), dtype=np.float32)))
    pretrainer.eval()
    out = pretrainer(**batch, gumbel_noise=noise)
    chosen = batch["mlm_labels"] != -100
    # Generator: full-sequence MaskedLM logits at the chosen positions give the same loss.
    full = pretrainer.generator(batch["masked_ids"], batch["attention_mask"], batch["token_type_ids"]).logits
    assert out.generator_logits.shape[:2] == out.prediction_mask.shape == (3, 8)  # K slots: the most chosen in a row, rounded up to 8
    assert torch.equal(out.prediction_positions[out.prediction_mask], chosen.nonzero()[:, 1])  # each row's chosen positions, in order
    assert torch.allclose(out.generator_logits[out.prediction_mask], full[chosen], atol=1e-5)
    assert out.generator_loss.item() == pytest.approx(F.cross_entropy(full[chosen], batch["mlm_labels"][chosen]).item(), abs=1e-5)
    # Sampling: argmax of logits + noise at the chosen positions, originals elsewhere.
    expected = batch["input_ids"].clone()
    expected[chosen] = (full[chosen] + noise[chosen]).argmax(-1)
    assert torch.equal(out.sampled_ids, expected)
    assert torch.equal(out.replaced, (expected != batch["input_ids"]).long())
    # Discriminator: BCE over non-padding positions; total = 1 x gen + 50 x disc.
    logits = pretrainer.discriminator(expected, batch["attention_mask"], batch["token_type_ids"]).logits
    valid = batch["attention_mask"].bool()
    bce = F.binary_cross_entropy_with_logits(logits[valid], out.replaced[valid].float())
    assert out.discriminator_loss.item() == pytest.approx(bce.item(), abs=1e-6)
    assert out.loss.item() == pytest.approx(out.generator_loss.item() + 50 * bce.item(), rel=1e-6)


def recount(batch, generator_logits, discriminator_logits, replaced):
    """`recipe.METRIC_COUNTS` recounted in NumPy from a forward's outputs ((M, V) generator logits at the chosen positions)."""
    chosen, valid = batch["mlm_labels"] != -100, batch["attention_mask"] == 1
    predicted, truth = discriminator_logits > 0, replaced == 1
    return [int((generator_logits.argmax(-1) == batch["mlm_labels"][chosen]).sum()), int(chosen.sum()),
            int(((predicted == truth) & valid).sum()), int(valid.sum()), int((predicted & truth & valid).sum()),
            int((predicted & valid).sum()), int((truth & valid).sum())]


def test_metrics_are_ratios_of_the_counts_and_the_trainer_divides_the_summed_counts():
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    # HF's zero output bias: the untrained discriminator predicts both classes (the prior's bias predicts none).
    model = ElectraPretrainer(disc, generator_config(disc, 0.5), prior=None)
    batch = masked_batch(disc.vocab_size, B=4, L=12, seed=5)  # row 1 padded
    out = model(**{k: torch.as_tensor(v) for k, v in batch.items()}, noise_key=noise.noise_key(3, 0))
    counts = recount(batch, out.generator_logits[out.prediction_mask].detach().numpy(), out.discriminator_logits.detach().numpy(), out.replaced.numpy())
    assert out.metric_counts.dtype == torch.float32 and out.metric_counts.tolist() == counts
    assert counts[3] == 45 and 0 < counts[4] < min(counts[5], counts[6])  # padding left out; precision, recall not 0 or 1
    c = np.float32(counts)
    assert out.generator_accuracy.item() == c[0] / c[1]
    assert out.discriminator_accuracy.item() == c[2] / c[3]
    assert out.discriminator_precision.item() == c[4] / c[5]
    assert out.discriminator_recall.item() == c[4] / c[6]
    # The trainer's step 0 runs the same forward and divides its counts in float64.
    metrics = PretrainingTrainer(model, LinearSchedule(1e-3, 1, 10), seed=3, device="cpu").train_step(batch, 0)
    assert [metrics[k] for k in recipe.STEP_METRICS[3:]] == [counts[0] / counts[1], counts[2] / counts[3], counts[4] / counts[5], counts[4] / counts[6]]
    for key in recipe.STEP_LOSSES:
        assert metrics[key] == pytest.approx(getattr(out, key).item(), rel=1e-6), key


def test_gradients_reach_shared_embeddings_from_both_losses_but_not_generator_from_disc(pretrainer):
    batch = make_batch(pretrainer.discriminator.config)
    pretrainer.eval()
    out = pretrainer(**batch, noise_key=(0, 0))
    word = pretrainer.discriminator.electra.embeddings.word_embeddings.weight
    layer_norm = pretrainer.discriminator.electra.embeddings.LayerNorm.weight
    gen_query = pretrainer.generator.electra.encoder.layer[0].attention.self.query.weight
    g_gen = torch.autograd.grad(out.generator_loss, [word, layer_norm], retain_graph=True)
    g_disc = torch.autograd.grad(out.discriminator_loss, [word, layer_norm, gen_query], retain_graph=True, allow_unused=True)
    assert all(g.abs().sum() > 0 for g in g_gen)
    assert g_disc[0].abs().sum() > 0 and g_disc[1].abs().sum() > 0
    assert g_disc[2] is None or g_disc[2].abs().sum() == 0  # the sample is discrete


def test_adamw_without_bias_correction_matches_hand_computation():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    b = torch.nn.Parameter(torch.tensor([0.5]))
    opt = ElectraAdamW([("dense.weight", p), ("dense.bias", b)], lr=0.1, weight_decay=0.01)
    p.grad = torch.tensor([0.2, -0.4])
    b.grad = torch.tensor([1.0])
    opt.step()
    m = 0.1 * np.array([0.2, -0.4])
    v = 0.001 * np.array([0.2, -0.4]) ** 2
    expected = np.array([1.0, -2.0]) - 0.1 * (m / (np.sqrt(v) + 1e-6) + 0.01 * np.array([1.0, -2.0]))
    assert np.allclose(p.detach().numpy(), expected, atol=1e-6)
    mb, vb = 0.1, 0.001  # bias: no weight decay
    assert np.allclose(b.detach().numpy(), 0.5 - 0.1 * mb / (np.sqrt(vb) + 1e-6), atol=1e-6)
    with pytest.raises(ValueError, match="shared"):
        ElectraAdamW([("a", p), ("b", p)])


def test_trainer_state_round_trip_repeats_the_same_step(pretrainer):
    disc = pretrainer.discriminator.config
    batch = {k: v.numpy() for k, v in make_batch(disc).items()}
    schedule = LinearSchedule(1e-3, 2, 10)
    first = PretrainingTrainer(pretrainer, schedule, seed=3, device="cpu")
    first.train_step(batch, 0)
    saved = first.state_arrays()
    a = first.train_step(batch, 1)
    torch.manual_seed(123)
    second = PretrainingTrainer(ElectraPretrainer(disc, generator_config(disc, 0.5)), schedule, seed=3, device="cpu")
    second.load_state_arrays(saved)
    b = second.train_step(batch, 1)
    assert a == b
    with pytest.raises(ValueError, match="lacks"):
        second.load_state_arrays({})


def test_a_batch_over_max_predictions_is_refused(pretrainer):
    disc = pretrainer.discriminator.config
    trainer = PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 10), seed=2, device="cpu", max_predictions=11)
    batch = make_batch(disc, B=3, L=16, seed=3)
    batch["mlm_labels"][0] = -100
    batch["mlm_labels"][0, 1:13] = 7  # 12 masked positions in row 0
    with pytest.raises(ValueError, match="12 masked positions, more than the trainer's max_predictions=11"):
        trainer.train_step(batch, 0)
    with pytest.raises(ValueError, match="max_predictions must be >= 1"):
        PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 10), max_predictions=0)


def test_discriminator_bias_starts_at_the_masking_prior_unless_none():
    disc = tiny_config()
    biases = {prior: ElectraPretrainer(disc, generator_config(disc, 0.5), prior=prior).discriminator.discriminator_predictions
              .dense_prediction.bias.detach().numpy() for prior in (0.15, 0.3, None)}
    assert biases[0.15].tolist() == [np.float32(recipe.prior_logit(0.15))]
    assert biases[0.3].tolist() == [np.float32(recipe.prior_logit(0.3))] and biases[None].tolist() == [0.0]


def test_compiled_step_equals_the_eager_step():
    """`compile=True` (`electra pretrain --compile`): torch.compile of the training forward
    gives the eager steps' losses and weights (float32, CPU inductor)."""
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    batch = masked_batch(disc.vocab_size, B=2, L=12)
    runs = []
    for compile in (False, True):
        trainer = PretrainingTrainer(ElectraPretrainer(disc, generator_config(disc, 0.5), seed=0), LinearSchedule(1e-3, 1, 10),
                                     seed=0, compile=compile)
        runs.append(([trainer.train_step(batch, step)["loss"] for step in range(2)], trainer.state_arrays()))
    assert runs[1][0] == pytest.approx(runs[0][0], rel=1e-5)
    for key, value in runs[0][1].items():
        np.testing.assert_allclose(runs[1][1][key], value, atol=1e-5, rtol=1e-4, err_msg=key)


def compile_inputs(disc, B=4, L=12, seed=5):
    batch = masked_batch(disc.vocab_size, B=B, L=L, seed=seed)
    tensors = {k: torch.as_tensor(v) for k, v in batch.items()}
    normalizers = torch.tensor([(batch["mlm_labels"] != -100).sum(), batch["attention_mask"].sum()], dtype=torch.float32)
    return tensors, dict(noise_key=torch.tensor(noise.noise_key(0, 1)), normalizers=(normalizers[0], normalizers[1]), max_predictions=8)


def test_the_pretraining_forward_and_backward_compile_as_one_graph_equal_to_eager():
    """`torch.compile(fullgraph=True)` raises at the first graph break: the step's forward
    (prediction slots, counter-based noise, sampling, both losses, metric counts) and its
    backward trace whole, and give the eager step's numbers. A second batch of the same shapes
    but other contents (other masked positions, other normalisers and noise key) reuses the
    graph. `aot_eager` traces forward and backward as inductor does, without a C++ compiler."""
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = ElectraPretrainer(disc, generator_config(disc, 0.5), seed=0, unscored_ids=(1,))
    from torch._dynamo.testing import CompileCounterWithBackend

    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(model, fullgraph=True, backend=counter)
    for seed, step in ((5, 1), (6, 2)):
        tensors, args = compile_inputs(disc, seed=seed)
        args["noise_key"] = torch.tensor(noise.noise_key(0, step))
        results = []
        for forward in (model, compiled):
            model.zero_grad(set_to_none=True)
            out = forward(**tensors, **args)
            out.loss.backward()
            results.append((out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
        (eager, eager_grads), (graph, graph_grads) = results
        assert eager.replaced.any()
        assert torch.equal(graph.sampled_ids, eager.sampled_ids) and torch.equal(graph.metric_counts, eager.metric_counts)
        for key in recipe.STEP_LOSSES:
            assert torch.allclose(getattr(graph, key), getattr(eager, key), atol=1e-6), key
        assert eager_grads.keys() == graph_grads.keys()
        for name, grad in eager_grads.items():
            assert torch.allclose(graph_grads[name], grad, atol=1e-6), name
    assert counter.frame_count == 1  # one graph, compiled once for both batches


def test_host_tensors_take_the_numpy_batch_step():
    """The step takes a batch of host tensors (what `stage` pins on a GPU; on a CPU `stage`
    returns the batch as it is) as it takes NumPy: the same metrics and weights."""
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    batch = masked_batch(disc.vocab_size, B=4, L=12, seed=3)
    trainers = [PretrainingTrainer(ElectraPretrainer(disc, generator_config(disc, 0.5), seed=0), LinearSchedule(1e-3, 1, 10),
                                   seed=1, device="cpu") for _ in range(2)]
    assert trainers[0].stage(batch) is batch  # nothing to pin without a GPU
    tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
    assert dict(trainers[0].train_step(batch, 0)) == dict(trainers[1].train_step(tensors, 0))
    states = [trainer.state_arrays() for trainer in trainers]
    for key, value in states[0].items():
        np.testing.assert_array_equal(states[1][key], value, err_msg=key)
