"""Every head's loss, in one place (docs/reference.md section 3). HF's Flax heads compute none;
these match `electra.pt.losses` function for function. Each returns a float32 scalar.

Conventions shared with the PyTorch and TF backends:
- `-100` labels are ignored by the token-level cross-entropies (MLM, causal LM, token cls).
- Replaced-token detection averages BCE over positions with `attention_mask == 1` (all
  positions without a mask); with no such position the loss is 0, not NaN.
- Sequence classification: `config.problem_type` when set; otherwise inferred per call as
  HF does (num_labels == 1 -> regression, integer labels -> single-label, float labels ->
  multi-label).
- Question answering clamps positions to [0, L] and ignores index L (outside the input).
  The model objects reject labels outside their range before any loss is computed
  (`electra.common.validation.label_range`); inside a user's jit, through `check_ranges`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from electra.common.validation import IGNORE_INDEX


def binary_cross_entropy_with_logits(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Element-wise, numerically stable: max(x, 0) - x * y + log(1 + exp(-|x|))."""
    logits = logits.astype(jnp.float32)
    targets = targets.astype(jnp.float32)
    return jnp.maximum(logits, 0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def cross_entropy(logits: jax.Array, labels: jax.Array, ignore_index: int = IGNORE_INDEX) -> jax.Array:
    """Mean cross-entropy over labels != ignore_index. logits (..., C), labels (...).
    NaN when every label is ignored, as in PyTorch."""
    logits = logits.astype(jnp.float32)
    valid = labels != ignore_index
    safe = jnp.where(valid, labels, 0).astype(jnp.int32)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]
    return -jnp.sum(jnp.where(valid, picked, 0.0)) / jnp.sum(valid)


def replaced_token_detection_loss(logits: jax.Array, labels: jax.Array, attention_mask: jax.Array | None) -> jax.Array:
    """BCE-with-logits of logits (B, L) against 0/1 labels (B, L), averaged over attended positions."""
    losses = binary_cross_entropy_with_logits(logits, labels)
    if attention_mask is None:
        return losses.mean()
    active = attention_mask == 1
    return jnp.sum(jnp.where(active, losses, 0.0)) / jnp.maximum(jnp.sum(active), 1)


def masked_lm_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """logits (B, L, V), labels (B, L) with -100 ignored."""
    return cross_entropy(logits, labels)


def causal_lm_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Next-token prediction: logits[:, :-1] against labels[:, 1:], -100 ignored."""
    return cross_entropy(logits[:, :-1], labels[:, 1:])


def problem_type_of(num_labels: int, problem_type: str | None, labels: jax.Array) -> str:
    """The configured problem type, or HF's inference from `num_labels` and the labels' dtype."""
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits: jax.Array, labels: jax.Array, problem_type: str | None) -> jax.Array:
    """Loss of logits (B, num_labels) by problem type: MSE, cross-entropy or multi-label BCE."""
    num_labels = logits.shape[-1]
    kind = problem_type_of(num_labels, problem_type, labels)
    if kind == "regression":
        logits = logits.astype(jnp.float32)
        labels = labels.astype(jnp.float32)
        if num_labels == 1:
            return jnp.mean((logits.reshape(-1) - labels.reshape(-1)) ** 2)
        return jnp.mean((logits - labels) ** 2)
    if kind == "single_label_classification":
        return cross_entropy(logits, labels)
    return binary_cross_entropy_with_logits(logits, labels).mean()


def multiple_choice_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """logits (B, C), labels (B,)."""
    return cross_entropy(logits, labels)


def token_classification_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """logits (B, L, num_labels), labels (B, L) with -100 ignored."""
    return cross_entropy(logits, labels)


def question_answering_loss(start_logits, end_logits, start_positions, end_positions) -> jax.Array:
    """Positions (B,) clamped to [0, L]; cross-entropy ignoring index L; (start + end) / 2."""
    L = start_logits.shape[1]
    start = jnp.clip(start_positions.reshape(-1), 0, L)
    end = jnp.clip(end_positions.reshape(-1), 0, L)
    return (cross_entropy(start_logits, start, ignore_index=L) + cross_entropy(end_logits, end, ignore_index=L)) / 2
