"""Cross-backend parity of one replaced-token-detection pretraining step.

The same weights (the PyTorch pretrainer's, moved through each trainer's portable
`load_state_arrays`), the same masked batch and the same injected Gumbel noise give the
same losses and metrics (1e-5) and the same gradients (1e-4) in `electra.pt`,
`electra.tf` and `electra.flax`; every backend draws the same counter-based noise; and one
optimizer step of each backend's `PretrainingTrainer`, with its own noise, gives the same
metrics and Adam moments. Each with every attended
position scored (HF's loss) and with `unscored_ids` left out (electra pretrain's).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import masked_batch, tiny_config  # noqa: E402
from electra.common.config import generator_config  # noqa: E402
from electra.common.pretraining import recipe  # noqa: E402
from electra.common.pretraining.schedule import LinearSchedule  # noqa: E402
from electra.pt.trainer import ElectraPretrainer as PtPretrainer  # noqa: E402

LOSS_ATOL = 1e-5
GRAD_ATOL = 1e-4
METRICS = recipe.STEP_METRICS
BACKENDS = ("tf", "flax")


def configs():
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return disc, generator_config(disc, 0.5)


def make_batch(vocab_size: int, B: int = 3, L: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """A masked batch with padding in row 1, two segments and at least one prediction per row."""
    return masked_batch(vocab_size, B, L, seed, pad=4, always=(2,), segment_b=True)


@pytest.fixture(scope="module", params=["all-scored", "unscored-ids"])
def reference(request):
    """The PyTorch pretrainer's weights, a batch, noise, and its outputs and gradients; with
    "unscored-ids", the id that opens every row (as [CLS]) and one other left out of the
    discriminator's loss."""
    disc, gen = configs()
    batch = make_batch(disc.vocab_size)
    unscored = () if request.param == "all-scored" else (1, int(batch["input_ids"][0, 5]))
    model = PtPretrainer(disc, gen, seed=3, unscored_ids=unscored)
    params = {f"param/{n}": p.detach().numpy().copy() for n, p in model.named_parameters()}
    noise = recipe.gumbel(np.random.default_rng(1).random((*batch["input_ids"].shape, disc.vocab_size), dtype=np.float32))
    out = model(**{k: torch.from_numpy(v) for k, v in batch.items()}, gumbel_noise=torch.from_numpy(noise))
    out.loss.backward()
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
    metrics = {k: float(getattr(out, k).detach()) for k in METRICS}
    return dict(params=params, batch=batch, noise=noise, metrics=metrics, grads=grads, counts=out.metric_counts.numpy(),
                replaced=out.replaced.numpy(), disc_logits=out.discriminator_logits.detach().numpy(), unscored=unscored)


def test_the_discriminator_loss_counts_the_scored_positions_only(reference):
    """The loss is the BCE mean over attended positions less the unscored ids' (by hand)."""
    batch = reference["batch"]
    scored = batch["attention_mask"].astype(bool) & ~np.isin(batch["input_ids"], reference["unscored"])
    np.testing.assert_array_equal(scored, recipe.scored_positions(batch["input_ids"], batch["attention_mask"], reference["unscored"]))
    if reference["unscored"]:
        assert (batch["attention_mask"].astype(bool) & ~scored).sum() >= 4  # the test leaves some out
    z, y = reference["disc_logits"].astype(np.float64), reference["replaced"]
    bce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    assert reference["metrics"]["discriminator_loss"] == pytest.approx(bce[scored].mean(), abs=1e-6)
    assert reference["counts"][3] == scored.sum()  # recipe.METRIC_COUNTS: the positions the metrics count


def tf_forward_and_grads(params, batch, noise, unscored):
    tf = pytest.importorskip("tensorflow")
    from electra.tf.trainer import ElectraPretrainer, PretrainingTrainer

    disc, gen = configs()
    trainer = PretrainingTrainer(ElectraPretrainer(disc, gen, seed=0, unscored_ids=unscored), LinearSchedule(1e-3, 1, 10))
    trainer.load_state_arrays(params)
    named = trainer.model.named_variables()
    inputs = {k: tf.constant(v.astype(np.int32)) for k, v in batch.items()}
    with tf.GradientTape() as tape:
        out = trainer.model(**inputs, gumbel_noise=tf.constant(noise), training=False)
    grads = tape.gradient(out.loss, [v for _, v, _ in named])
    by_name = {}
    for (name, _, transposed), grad in zip(named, grads):
        if grad is not None:
            g = np.asarray(tf.convert_to_tensor(grad))
            by_name[name] = g.T if transposed else g
    return out, by_name


def flax_forward_and_grads(params, batch, noise, unscored):
    jax = pytest.importorskip("jax")
    from electra.common.weights.layouts import hf_flax_to_canonical
    from electra.flax.trainer import ElectraPretrainer, PretrainingTrainer

    disc, gen = configs()
    model = ElectraPretrainer(disc, gen, seed=0, unscored_ids=unscored)
    trainer = PretrainingTrainer(model, LinearSchedule(1e-3, 1, 10))
    trainer.load_state_arrays(params)
    inputs = {k: jax.numpy.asarray(v.astype(np.int32)) for k, v in batch.items()}

    def loss(p):
        out = model.apply(p, **inputs, gumbel_noise=jax.numpy.asarray(noise))
        return out.loss, out

    (_, out), grads = jax.value_and_grad(loss, has_aux=True)(trainer.params)
    return out, hf_flax_to_canonical(jax.device_get(grads))


FORWARDS = {"tf": tf_forward_and_grads, "flax": flax_forward_and_grads}


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_step_gives_the_same_losses_and_gradients(reference, backend):
    out, grads = FORWARDS[backend](reference["params"], reference["batch"], reference["noise"], reference["unscored"])
    np.testing.assert_array_equal(np.asarray(out.replaced), reference["replaced"])
    assert reference["replaced"].any(), "the noise should make the generator replace some tokens"
    mask = reference["batch"]["attention_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(out.discriminator_logits)[mask], reference["disc_logits"][mask], atol=LOSS_ATOL)
    for key in METRICS:
        assert float(getattr(out, key)) == pytest.approx(reference["metrics"][key], abs=LOSS_ATOL), key
    np.testing.assert_array_equal(np.asarray(out.metric_counts), reference["counts"])  # recipe.METRIC_COUNTS, exactly
    expected = reference["grads"]
    # Every parameter the PyTorch graph reaches has a gradient in the other backend, and
    # parameters PyTorch leaves without one get none or zeros.
    assert set(expected) <= set(grads), sorted(set(expected) - set(grads))[:5]
    for name, grad in grads.items():
        want = expected.get(name, np.zeros_like(grad))
        np.testing.assert_allclose(grad, want, atol=GRAD_ATOL, rtol=1e-4, err_msg=name)
    shared = "discriminator.electra.embeddings.word_embeddings.weight"
    assert np.abs(grads[shared]).sum() > 0


def trainer_for(backend: str, temperature: float, unscored: tuple[int, ...]):
    disc, gen = configs()
    module = __import__(f"electra.{backend}.trainer", fromlist=["ElectraPretrainer"])
    # A huge clip norm leaves the gradients unscaled: Adam's first moment is then 0.1 x gradient.
    return module.PretrainingTrainer(module.ElectraPretrainer(disc, gen, temperature=temperature, seed=0, unscored_ids=unscored),
                                     LinearSchedule(1e-3, 2, 10), seed=0, clip_norm=1e9)


def backend_noise(backend: str, key, row_offset: int, B: int, K: int, V: int) -> np.ndarray:
    """A backend's counter-based noise (B, K, V) as NumPy."""
    if backend == "pt":
        from electra.pt.trainer import slot_noise

        return slot_noise(torch.tensor(key), row_offset, B, K, V, "cpu").numpy()
    if backend == "tf":
        tf = pytest.importorskip("tensorflow")
        from electra.tf.trainer import slot_noise

        return slot_noise(tf.constant(key, tf.int64), row_offset, B, K, V).numpy()
    pytest.importorskip("jax")
    from electra.flax.trainer import slot_noise

    return np.asarray(slot_noise(np.uint32(key), row_offset, B, K, V))


@pytest.mark.parametrize("backend", ("pt", *BACKENDS))
def test_counter_noise_is_the_reference_in_every_backend(backend):
    """Each backend's Gumbel noise equals NumPy's `noise.reference_noise` (the integer hash
    exactly, the two float32 logs to 1e-6) and samples the same tokens; a row's noise depends
    on its global index only (not on the batch it sits in or on K)."""
    from electra.common.pretraining import noise

    key, V = noise.noise_key(7, 3), 1000
    want = noise.reference_noise(key, np.arange(5, 9), 6, V)  # global rows 5..8
    got = backend_noise(backend, key, 5, 4, 6, V)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    logits = np.random.default_rng(0).normal(size=(4, 6, V)).astype(np.float32)
    np.testing.assert_array_equal((logits + got).argmax(-1), (logits + want).argmax(-1))
    np.testing.assert_allclose(backend_noise(backend, key, 7, 1, 4, V)[0], want[2, :4], rtol=1e-6, atol=1e-6)  # row 7 alone, K = 4
    assert not np.allclose(got[0], got[1])  # rows draw their own noise


@pytest.mark.parametrize("backend", BACKENDS)
def test_trainer_steps_agree(reference, backend):
    """One `train_step` per backend from the same weights and batch. The Gumbel noise is
    counter-based, the same in every backend, so each samples the same replacements."""
    pytest.importorskip({"tf": "tensorflow", "flax": "jax"}[backend])
    batch, temperature = reference["batch"], 1.0
    pt = trainer_for("pt", temperature, reference["unscored"])
    other = trainer_for(backend, temperature, reference["unscored"])
    for trainer in (pt, other):
        trainer.load_state_arrays(reference["params"])
    results = [trainer.train_step(batch, step=1) for trainer in (pt, other)]
    for key in (*METRICS, "lr", "grad_norm"):
        assert results[1][key] == pytest.approx(results[0][key], abs=LOSS_ATOL, rel=1e-5), key
    states = [trainer.state_arrays() for trainer in (pt, other)]
    assert set(states[0]) == set(states[1])
    for key, value in states[0].items():
        if key.startswith("adam_m/"):  # 0.1 x gradient
            np.testing.assert_allclose(states[1][key] / 0.1, value / 0.1, atol=GRAD_ATOL, rtol=1e-4, err_msg=key)
        elif key.startswith("adam_v/"):  # 0.001 x gradient^2
            np.testing.assert_allclose(np.sqrt(states[1][key] / 1e-3), np.sqrt(value / 1e-3), atol=GRAD_ATOL, rtol=1e-4, err_msg=key)
