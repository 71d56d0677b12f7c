"""The keep rule of the pt and tf `Dropout` layers, shared so both draw masks alike.

Both backends draw uniform 32-bit integers (two per 64-bit random word) and keep an element
when its integer, read as a signed int32, is at least `keep_threshold(p)`: probability
1 - p to within 2^-32.
"""

from __future__ import annotations


def keep_threshold(p: float) -> int | None:
    """The int32 threshold for drop rate `p` (0 <= p < 1); None when p is within 2^-33 of 1,
    where no int32 is kept."""
    threshold = round(p * 2**32) - 2**31
    return threshold if threshold <= 2**31 - 1 else None
