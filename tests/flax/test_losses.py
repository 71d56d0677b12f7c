"""Each head's loss against a value computed by hand (math on plain floats)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import pytest

from electra.flax import losses


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def ce(logits: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def test_replaced_token_detection_averages_over_attended_positions():
    logits = jnp.array([[0.0, 2.0, 5.0], [-1.0, 3.0, 7.0]])
    labels = jnp.array([[0, 1, 1], [1, 0, 0]])
    mask = jnp.array([[1, 1, 0], [1, 1, 0]])
    expected = (softplus(0.0) + softplus(2.0) - 2.0 + softplus(-1.0) + 1.0 + softplus(3.0)) / 4
    assert float(losses.replaced_token_detection_loss(logits, labels, mask)) == pytest.approx(expected, rel=1e-6)
    no_mask = (softplus(0.0) + softplus(2.0) - 2.0 + softplus(5.0) - 5.0 + softplus(-1.0) + 1.0 + softplus(3.0) + softplus(7.0)) / 6
    assert float(losses.replaced_token_detection_loss(logits, labels, None)) == pytest.approx(no_mask, rel=1e-6)
    assert float(losses.replaced_token_detection_loss(logits, labels, jnp.zeros_like(mask))) == 0.0


def test_masked_lm_ignores_minus_100():
    logits = jnp.array([[[1.0, 2.0, 0.0], [0.5, 0.5, 3.0]], [[0.0, 0.0, 0.0], [2.0, -1.0, 1.0]]])
    labels = jnp.array([[1, -100], [2, 0]])
    expected = (ce([1.0, 2.0, 0.0], 1) + ce([0.0, 0.0, 0.0], 2) + ce([2.0, -1.0, 1.0], 0)) / 3
    assert float(losses.masked_lm_loss(logits, labels)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.token_classification_loss(logits, labels)) == pytest.approx(expected, rel=1e-6)
    # bfloat16 logits: the loss is computed (and returned) in float32.
    assert losses.masked_lm_loss(logits.astype(jnp.bfloat16), labels).dtype == jnp.float32


def test_causal_lm_shifts_labels():
    logits = jnp.array([[[1.0, 2.0], [0.0, 3.0], [9.0, 9.0]]])
    labels = jnp.array([[5, 0, -100]])  # labels[0] is never scored; labels[2] ignored
    assert float(losses.causal_lm_loss(logits, labels)) == pytest.approx(ce([1.0, 2.0], 0), rel=1e-6)


def test_sequence_classification_problem_types():
    logits = jnp.array([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]])
    single = jnp.array([2, 1])
    assert float(losses.sequence_classification_loss(logits, single, None)) == pytest.approx(
        (ce([1.0, -1.0, 0.5], 2) + ce([0.0, 2.0, 1.0], 1)) / 2, rel=1e-6)
    multi = jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    bce = [softplus(1.0) - 1.0, softplus(-1.0), softplus(0.5) - 0.5, softplus(0.0), softplus(2.0), softplus(1.0) - 1.0]
    assert float(losses.sequence_classification_loss(logits, multi, None)) == pytest.approx(sum(bce) / 6, rel=1e-6)
    forced = losses.sequence_classification_loss(logits, multi.astype(jnp.int32), "multi_label_classification")
    assert float(forced) == pytest.approx(sum(bce) / 6, rel=1e-6)
    regression = jnp.array([[0.5], [-1.0]])
    assert float(losses.sequence_classification_loss(regression, jnp.array([1.5, 1.0]), None)) == pytest.approx((1.0 + 4.0) / 2)
    assert losses.problem_type_of(1, None, single) == "regression"
    assert losses.problem_type_of(3, None, single) == "single_label_classification"
    assert losses.problem_type_of(3, None, multi) == "multi_label_classification"


def test_multiple_choice_and_question_answering():
    logits = jnp.array([[0.0, 1.0], [3.0, 1.0]])
    assert float(losses.multiple_choice_loss(logits, jnp.array([1, 1]))) == pytest.approx(
        (ce([0.0, 1.0], 1) + ce([3.0, 1.0], 1)) / 2, rel=1e-6)
    start = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    end = jnp.array([[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    # The second start (7) is clamped to L=3 and ignored; end -2 is clamped to 0.
    loss = losses.question_answering_loss(start, end, jnp.array([2, 7]), jnp.array([0, -2]))
    expected = (ce([1.0, 2.0, 3.0], 2) + (ce([2.0, 0.0, 0.0], 0) + ce([1.0, 1.0, 1.0], 0)) / 2) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert loss.ndim == 0


def test_losses_work_under_jit_and_grad():
    logits = jnp.array([[[1.0, 2.0, 0.0], [0.5, 0.5, 3.0]]])
    labels = jnp.array([[1, -100]])
    grad = jax.jit(jax.grad(losses.masked_lm_loss))(logits, labels)
    probs = jax.nn.softmax(logits[0, 0])
    expected = probs.at[1].add(-1.0)
    assert jnp.allclose(grad[0, 0], expected, atol=1e-6) and jnp.all(grad[0, 1] == 0)
