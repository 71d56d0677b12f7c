"""Dynamic masking: counts, exclusions, the 85/15 split, labels and determinism."""

import numpy as np
import pytest

from electra.common.pretraining.masking import IGNORE_INDEX, default_max_predictions, mask_batch

PAD, CLS, SEP, MASK = 0, 101, 102, 103
SPECIALS = (CLS, SEP)


def make_batch(lengths, seq_len, seed=0, with_pair=True):
    """Rows `[CLS] w.. [SEP] w.. [SEP] pad..` of real length `lengths[i]`; words in [1000, 2000)."""
    rng = np.random.default_rng(seed)
    ids = np.full((len(lengths), seq_len), PAD, dtype=np.int32)
    mask = np.zeros((len(lengths), seq_len), dtype=np.int32)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1000, 2000, size=n)
        ids[row, 0] = CLS
        ids[row, n - 1] = SEP
        if with_pair and n > 4:
            ids[row, n // 2] = SEP
        mask[row, :n] = 1
    return ids, mask


def run(ids, mask, seed=0, **kwargs):
    return mask_batch(ids, mask, np.random.default_rng(seed), special_ids=SPECIALS, mask_id=MASK, **kwargs)


def test_default_max_predictions_matches_original():
    assert default_max_predictions(0.15, 128) == 19
    assert default_max_predictions(0.25, 512) == 130


def test_k_per_row_is_rounded_share_of_candidates_capped():
    # candidates per row = length - 3 (CLS, middle SEP, final SEP)
    lengths = [4 + 3, 10 + 3, 30 + 3, 100 + 3, 128]
    ids, mask = make_batch(lengths, 128)
    _, _, chosen = run(ids, mask)
    # round half to even: 4 * .15 = .6 -> 1; 1.5 -> 2; 4.5 -> 4; 15 -> 15; 125 * .15 = 18.75 -> 19 (cap 19)
    np.testing.assert_array_equal(chosen.sum(axis=1), [1, 2, 4, 15, 19])
    _, _, capped = run(ids, mask, max_predictions=3)
    np.testing.assert_array_equal(capped.sum(axis=1), [1, 2, 3, 3, 3])


def test_at_least_one_and_none_without_candidates():
    ids = np.array([[CLS, 7, SEP, PAD], [CLS, SEP, PAD, PAD], [CLS, MASK, SEP, PAD]], dtype=np.int32)
    mask = (ids != PAD).astype(np.int32)
    masked, labels, chosen = run(ids, mask)
    np.testing.assert_array_equal(chosen, [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(labels[0], [IGNORE_INDEX, 7, IGNORE_INDEX, IGNORE_INDEX])
    np.testing.assert_array_equal(masked[1:], ids[1:])


def test_specials_mask_and_padding_never_chosen():
    ids, mask = make_batch(np.random.default_rng(1).integers(3, 129, size=500), 128)
    ids[:, 5] = np.where(mask[:, 5] == 1, MASK, ids[:, 5])  # pre-existing [MASK] tokens
    _, _, chosen = run(ids, mask, mask_prob=1.0, max_predictions=128)
    excluded = np.isin(ids, [CLS, SEP, MASK]) | (mask == 0)
    assert not (chosen & excluded).any()
    # with mask_prob 1 every other position is chosen
    np.testing.assert_array_equal(chosen, ~excluded)


def test_85_15_split_labels_and_no_random_replacement():
    ids, mask = make_batch([128] * 4000, 128)
    masked, labels, chosen = run(ids, mask)
    changed = masked != ids
    assert not (changed & ~chosen).any()  # only chosen positions change
    assert (masked[changed] == MASK).all()  # and only into [MASK]
    share = changed.sum() / chosen.sum()
    assert 0.84 < share < 0.86, share
    np.testing.assert_array_equal(labels, np.where(chosen, ids, IGNORE_INDEX))
    assert labels.dtype == ids.dtype and masked.dtype == ids.dtype


def test_positions_are_uniform_over_candidates():
    ids, mask = make_batch([64] * 20000, 64, with_pair=False)
    _, _, chosen = run(ids, mask)
    per_position = chosen[:, 1:63].mean(axis=0)  # 62 candidates, k = round(9.3) = 9
    np.testing.assert_allclose(per_position, 9 / 62, atol=0.01)


def test_deterministic_given_generator_state():
    ids, mask = make_batch([50, 128, 77], 128)
    first, second = run(ids, mask, seed=3), run(ids, mask, seed=3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[2], run(ids, mask, seed=4)[2])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(mask_prob=0.0), "mask_prob"),
        (dict(max_predictions=0), "max_predictions"),
    ],
)
def test_invalid_arguments(change, message):
    ids, mask = make_batch([10], 16)
    with pytest.raises(ValueError, match=message):
        run(ids, mask, **change)


def test_invalid_shapes_and_dtype():
    ids, mask = make_batch([10], 16)
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        run(ids[0], mask[0])
    with pytest.raises(ValueError, match="signed integer"):
        run(ids.astype(np.uint32), mask)
