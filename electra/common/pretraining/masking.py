"""Dynamic masking for the ELECTRA generator (Clark et al. 2020, section 2).

Matches `pretrain_helpers.mask` of google-research/electra in the choices that shape the
data: [CLS], [SEP], [MASK] and padding are never chosen; a sequence gets
k = max(1, min(max_predictions, round(n * mask_prob))) positions, with round half to even
as `tf.round`; 85% of the chosen positions become [MASK] and 15% keep their token, with no
random-token replacement. Two deliberate differences: n counts the maskable candidates
rather than every non-padding token, and the k positions are distinct (the original draws
them with replacement, so its duplicates mask fewer than k tokens).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from electra.common.validation import IGNORE_INDEX

DEFAULT_MASK_PROB = 0.15  # the original code's mask_prob

MASK_TOKEN_FRACTION = 0.85  # share of the chosen positions replaced by [MASK]; the rest stay as they are


def default_max_predictions(mask_prob: float, seq_len: int) -> int:
    """`int((mask_prob + 0.005) * seq_len)`, the original `max_predictions_per_seq` (19 at 0.15 x 128)."""
    return int((mask_prob + 0.005) * seq_len)


def most_predictions(mlm_labels: np.ndarray) -> int:
    """The most chosen positions in one row of a (B, L) label batch."""
    return int((np.asarray(mlm_labels) != IGNORE_INDEX).sum(axis=1).max(initial=0))


PREDICTION_SLOTS = 8  # the trainers round K up to a multiple of this, so compiled steps rarely see a new shape


def slot_count(predictions: int, L: int) -> int:
    """K, the prediction slots per row for rows of up to `predictions` chosen positions:
    rounded up to a multiple of 8, at most L. The generator's logits, its loss and the
    sampling run over (B, K) slots: each row's chosen positions in increasing order, then
    unused slots that count for nothing. Results do not depend on K (the Gumbel noise is a
    function of the slot, `noise.gumbel_noise`); a fixed K gives every step one shape."""
    return max(1, min(L, -(-predictions // PREDICTION_SLOTS) * PREDICTION_SLOTS))


def max_predictions_for(mlm_labels: np.ndarray) -> int:
    """K for a batch (`slot_count` of its row with the most chosen positions)."""
    return slot_count(most_predictions(mlm_labels), np.shape(mlm_labels)[1])


def fixed_slots(mlm_labels: np.ndarray, max_predictions: int | None) -> int:
    """K for a batch in a compiled step: `slot_count(max_predictions)`, the same for every
    batch (a row of more chosen positions is refused), or without a cap the batch's own
    `max_predictions_for`."""
    if max_predictions is None:
        return max_predictions_for(mlm_labels)
    check_max_predictions(mlm_labels, max_predictions)
    return slot_count(max_predictions, np.shape(mlm_labels)[1])


def check_max_predictions(mlm_labels: np.ndarray, max_predictions: int | None) -> None:
    """Refuse a batch with a row of more chosen positions than a trainer's `max_predictions`."""
    if max_predictions is None:
        return
    most = most_predictions(mlm_labels)
    if most > max_predictions:
        raise ValueError(f"a row of this batch has {most} masked positions, more than the trainer's "
                         f"max_predictions={max_predictions}")


def mask_batch(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    rng: np.random.Generator,
    *,
    mask_prob: float = DEFAULT_MASK_PROB,
    max_predictions: int | None = None,
    special_ids: Iterable[int],
    mask_id: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chooses the positions the generator must predict and masks them.

    Args:
        input_ids: (B, L) integer token ids.
        attention_mask: (B, L), 1 (or True) on real tokens, 0 on padding.
        rng: the only source of randomness; the same generator state gives the same result.
        mask_prob: share of each sequence's candidates to choose, in (0, 1].
        max_predictions: most positions chosen per sequence; default
            `default_max_predictions(mask_prob, L)`, at least 1.
        special_ids: ids never chosen besides `mask_id` (at least [CLS] and [SEP]).
        mask_id: the [MASK] id; never chosen, and written over 85% of the chosen positions.

    Returns:
        masked_ids: (B, L) like `input_ids`, [MASK] at the replaced positions.
        mlm_labels: (B, L) the original id at chosen positions, -100 elsewhere.
        masked_positions: (B, L) bool, True at the chosen positions. A row without
            candidates (only specials and padding) has none.
    """
    input_ids = np.asarray(input_ids)
    attention_mask = np.asarray(attention_mask)
    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"input_ids and attention_mask must both be (B, L); got {input_ids.shape} and {attention_mask.shape}"
        )
    if not np.issubdtype(input_ids.dtype, np.signedinteger):
        raise ValueError(f"input_ids must be a signed integer array (labels use -100), got {input_ids.dtype}")
    if not 0.0 < mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in (0, 1], got {mask_prob}")
    batch_size, seq_len = input_ids.shape
    if max_predictions is None:
        max_predictions = max(1, default_max_predictions(mask_prob, seq_len))  # 0 below L = 7
    if max_predictions < 1:
        raise ValueError(f"max_predictions must be >= 1, got {max_predictions}")

    excluded = np.array([*special_ids, mask_id], dtype=input_ids.dtype)
    candidates = attention_mask.astype(bool) & ~np.isin(input_ids, excluded)  # (B, L)
    n_candidates = candidates.sum(axis=1)  # (B,)
    k = np.maximum(1, np.minimum(max_predictions, np.rint(n_candidates * mask_prob).astype(np.int64)))
    k = np.minimum(k, n_candidates)  # (B,)

    # A uniformly random order of each row's candidates: sort random keys, non-candidates last.
    keys = np.where(candidates, rng.random((batch_size, seq_len)), 2.0)  # (B, L)
    k_max = int(k.max(initial=0))
    first_positions = np.argsort(keys, axis=1)[:, :k_max]  # (B, k_max)
    rows = np.arange(batch_size)[:, None]
    masked_positions = np.zeros((batch_size, seq_len), dtype=bool)
    masked_positions[rows, first_positions] = np.arange(k_max)[None, :] < k[:, None]

    to_mask_token = masked_positions & (rng.random((batch_size, seq_len)) < MASK_TOKEN_FRACTION)
    masked_ids = np.where(to_mask_token, np.asarray(mask_id, dtype=input_ids.dtype), input_ids)
    mlm_labels = np.where(masked_positions, input_ids, np.asarray(IGNORE_INDEX, dtype=input_ids.dtype))
    return masked_ids, mlm_labels, masked_positions
