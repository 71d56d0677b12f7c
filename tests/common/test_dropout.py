"""electra.common.dropout: the int32 keep threshold of the pt and tf Dropout layers."""

from __future__ import annotations

from electra.common.dropout import keep_threshold


def test_threshold_keeps_the_right_share_of_the_int32_range():
    assert keep_threshold(0.0) == -(2**31)  # every int32 kept
    assert keep_threshold(0.5) == 0  # the non-negative half kept
    assert keep_threshold(0.1) == round(0.1 * 2**32) - 2**31
    kept = 2**31 - keep_threshold(0.1)  # int32 values >= threshold
    assert abs(kept / 2**32 - 0.9) <= 2**-32


def test_nothing_is_kept_within_two_to_the_minus_33_of_one():
    assert keep_threshold(1 - 2**-40) is None
    assert keep_threshold(1 - 2**-31) == 2**31 - 2  # still a valid int32
