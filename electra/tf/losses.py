"""Every head's loss, in one place (docs/reference.md section 3). Each returns a float32 scalar.

Conventions shared with the PyTorch and Flax backends:
- `-100` labels are ignored by the token-level cross-entropies (MLM, causal LM, token cls).
- Replaced-token detection averages BCE over positions with `attention_mask == 1` (all
  positions without a mask); with no such position the loss is 0, not NaN.
- Sequence classification: `config.problem_type` when set; otherwise inferred per call as
  HF does (num_labels == 1 -> regression, integer labels -> single-label, float labels ->
  multi-label), without writing the inferred type back into the config (HF does).
- Question answering clamps positions to [0, L] and ignores index L (outside the input).
"""

from __future__ import annotations

import tensorflow as tf

from electra.common.validation import IGNORE_INDEX


def _cross_entropy(logits: tf.Tensor, labels: tf.Tensor, ignore_index: int | tf.Tensor = IGNORE_INDEX) -> tf.Tensor:
    """Mean cross-entropy of logits (..., K) against labels (...), `ignore_index` skipped
    (NaN when every label is ignored, as PyTorch's `cross_entropy`)."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, tf.cast(ignore_index, tf.int32))
    per_item = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.where(valid, labels, 0), logits=logits)
    valid = tf.cast(valid, tf.float32)
    return tf.reduce_sum(per_item * valid) / tf.reduce_sum(valid)


def replaced_token_detection_loss(logits: tf.Tensor, labels: tf.Tensor, attention_mask: tf.Tensor | None) -> tf.Tensor:
    """BCE-with-logits of logits (B, L) against 0/1 labels (B, L), averaged over attended positions."""
    per_token = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32), logits=tf.cast(logits, tf.float32))  # (B, L)
    if attention_mask is None:
        return tf.reduce_mean(per_token)
    active = tf.cast(tf.equal(attention_mask, 1), tf.float32)
    return tf.reduce_sum(per_token * active) / tf.maximum(tf.reduce_sum(active), 1.0)


def masked_lm_loss(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Cross-entropy of logits (B, L, V) against labels (B, L), -100 ignored."""
    return _cross_entropy(logits, labels)


def causal_lm_loss(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Next-token cross-entropy: logits[:, :-1] predict labels[:, 1:], -100 ignored."""
    return masked_lm_loss(logits[:, :-1], labels[:, 1:])


def problem_type_of(num_labels: int, problem_type: str | None, labels: tf.Tensor) -> str:
    """The configured problem type, or HF's inference from `num_labels` and the labels' dtype."""
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if labels.dtype.is_integer:
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits: tf.Tensor, labels: tf.Tensor, problem_type: str | None) -> tf.Tensor:
    """Loss of logits (B, num_labels) by problem type: MSE, cross-entropy or multi-label BCE."""
    num_labels = logits.shape[-1]
    kind = problem_type_of(num_labels, problem_type, labels)
    logits = tf.cast(logits, tf.float32)
    if kind == "regression":
        if num_labels == 1:
            return tf.reduce_mean(tf.square(tf.reshape(logits, (-1,)) - tf.reshape(tf.cast(labels, tf.float32), (-1,))))
        return tf.reduce_mean(tf.square(logits - tf.cast(labels, tf.float32)))
    if kind == "single_label_classification":
        return _cross_entropy(logits, tf.reshape(labels, (-1,)), ignore_index=IGNORE_INDEX)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32), logits=logits))


def multiple_choice_loss(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Cross-entropy over choices: logits (B, C), labels (B,)."""
    return _cross_entropy(logits, labels)


def token_classification_loss(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Cross-entropy of logits (B, L, num_labels) against labels (B, L), -100 ignored."""
    return masked_lm_loss(logits, labels)


def question_answering_loss(start_logits, end_logits, start_positions, end_positions) -> tf.Tensor:
    """Mean of start and end cross-entropies; positions clamped to [0, L], L ignored."""
    L = tf.shape(start_logits)[1]
    start = tf.clip_by_value(tf.cast(tf.reshape(start_positions, (-1,)), tf.int32), 0, L)
    end = tf.clip_by_value(tf.cast(tf.reshape(end_positions, (-1,)), tf.int32), 0, L)
    start_loss = _cross_entropy(start_logits, start, ignore_index=L)
    end_loss = _cross_entropy(end_logits, end, ignore_index=L)
    return (start_loss + end_loss) / 2
