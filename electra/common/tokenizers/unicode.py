"""Character classes of BERT's text normalization, as the `tokenizers` library defines them.

The pure-Python `ElectraTokenizer` gives what the Rust `tokenizers` library (`BertNormalizer` +
`BertPreTokenizer`, used by `ElectraTokenizerFast`) gives, character for character, but for text
cleaning. Their rules differ from HF's slow `BasicTokenizer` in small ways:

- removed ("control"): here we follow HF's slow `BasicTokenizer`, not the Rust library: NUL,
  U+FFFD and every character of a category C (Cc, Cf, Cn unassigned, Co, Cs) except tab,
  newline and carriage return (the Rust library keeps unassigned code points and a few Cf);
- whitespace: the Unicode White_Space property (not Python's `str.isspace`);
- CJK ideographs: the ranges below (HF's slow tokenizer starts the Extension E range at U+2B820);
- strip accents (NFD, then drop Mn) happens before lowercasing, and lowercasing maps each
  character on its own (no final-sigma rule).

The Rust crates carry older Unicode category tables and newer case tables than Python 3.11's
`unicodedata` (Unicode 14.0). The `_TOKENIZERS_*` tables list the code points where they
disagree (about 600, all in scripts encoded after 2017); with them, slow and fast agree on every
code point (`tests/common/test_tokenizer_unicode.py` checks every assigned one and lists the
code points that differ if a Python or `tokenizers` upgrade changes them).
"""

import bisect
import unicodedata

# (first, last) code point ranges of CJK ideographs that get spaces around them.
_CJK_RANGES = (
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0x2F800, 0x2FA1F),
)
# Unicode White_Space (what Rust's `char::is_whitespace` tests).
_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
)
# Python-category Mn code points that `tokenizers` does not strip as accents.
_TOKENIZERS_NOT_ACCENT = (
    (0x07FD, 0x07FD), (0x0898, 0x089F), (0x08CA, 0x08E1), (0x09FE, 0x09FE), (0x0AFA, 0x0AFF),
    (0x0B55, 0x0B55), (0x0C04, 0x0C04), (0x0C3C, 0x0C3C), (0x0D00, 0x0D00), (0x0D3B, 0x0D3C),
    (0x0D81, 0x0D81), (0x0EBA, 0x0EBA), (0x180F, 0x180F), (0x1885, 0x1886), (0x1ABF, 0x1ACE),
    (0x1DF6, 0x1DFB), (0xA82C, 0xA82C), (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD),
    (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070),
    (0x11073, 0x11074), (0x110C2, 0x110C2), (0x111C9, 0x111C9), (0x111CF, 0x111CF), (0x1123E, 0x1123E),
    (0x1133B, 0x1133B), (0x11438, 0x1143F), (0x11442, 0x11444), (0x11446, 0x11446), (0x1145E, 0x1145E),
    (0x1182F, 0x11837), (0x11839, 0x1183A), (0x1193B, 0x1193C), (0x1193E, 0x1193E), (0x11943, 0x11943),
    (0x119D4, 0x119D7), (0x119DA, 0x119DB), (0x119E0, 0x119E0), (0x11A01, 0x11A0A), (0x11A33, 0x11A38),
    (0x11A3B, 0x11A3E), (0x11A47, 0x11A47), (0x11A51, 0x11A56), (0x11A59, 0x11A5B), (0x11A8A, 0x11A96),
    (0x11A98, 0x11A99), (0x11C30, 0x11C36), (0x11C38, 0x11C3D), (0x11C3F, 0x11C3F), (0x11C92, 0x11CA7),
    (0x11CAA, 0x11CB0), (0x11CB2, 0x11CB3), (0x11CB5, 0x11CB6), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A),
    (0x11D3C, 0x11D3D), (0x11D3F, 0x11D45), (0x11D47, 0x11D47), (0x11D90, 0x11D91), (0x11D95, 0x11D95),
    (0x11D97, 0x11D97), (0x11EF3, 0x11EF4), (0x16F4F, 0x16F4F), (0x16FE4, 0x16FE4), (0x1CF00, 0x1CF2D),
    (0x1CF30, 0x1CF46), (0x1E000, 0x1E006), (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024),
    (0x1E026, 0x1E02A), (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1E944, 0x1E94A),
)
# Code points with a canonical decomposition in Unicode 14 that `tokenizers` leaves whole.
_TOKENIZERS_NO_DECOMPOSITION = frozenset("\U00011938")
# Non-Mn code points that `tokenizers` strips as accents.
_TOKENIZERS_EXTRA_ACCENT = ((0x1734, 0x1734),)
# Python-category P* code points that `tokenizers` does not split off as punctuation.
_TOKENIZERS_NOT_PUNCTUATION = (
    (0x061D, 0x061D), (0x09FD, 0x09FD), (0x0A76, 0x0A76), (0x0C77, 0x0C77), (0x0C84, 0x0C84),
    (0x1B7D, 0x1B7E), (0x2E43, 0x2E4F), (0x2E52, 0x2E5D), (0x10EAD, 0x10EAD), (0x10F55, 0x10F59),
    (0x10F86, 0x10F89), (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D), (0x11660, 0x1166C),
    (0x116B9, 0x116B9), (0x1183B, 0x1183B), (0x11944, 0x11946), (0x119E2, 0x119E2), (0x11A3F, 0x11A46),
    (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2), (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11EF7, 0x11EF8),
    (0x11FFF, 0x11FFF), (0x12FF1, 0x12FF2), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1E95E, 0x1E95F),
)
# Non-P* code points that `tokenizers` splits off as punctuation.
_TOKENIZERS_EXTRA_PUNCTUATION = ((0x166D, 0x166D), (0x111C9, 0x111C9))
# (first, last, offset): lowercase mappings Rust knows for code points unassigned in Unicode 14.
_TOKENIZERS_EXTRA_LOWER = (
    (0x1C89, 0x1C89, 1), (0xA7CB, 0xA7CB, 0x0264 - 0xA7CB), (0xA7CC, 0xA7CC, 1), (0xA7CE, 0xA7CE, 1),
    (0xA7D2, 0xA7D2, 1), (0xA7D4, 0xA7D4, 1), (0xA7DA, 0xA7DA, 1), (0xA7DC, 0xA7DC, 0x019B - 0xA7DC),
    (0x10D50, 0x10D65, 0x20), (0x16EA0, 0x16EB8, 0x1B),
)


def _find_range(code: int, ranges):
    """The range of the sorted, disjoint (first, last, ...) `ranges` that holds `code`, or None."""
    index = bisect.bisect_right(ranges, (code, float("inf"))) - 1
    if index >= 0 and ranges[index][0] <= code <= ranges[index][1]:
        return ranges[index]
    return None


def _in_ranges(code: int, ranges) -> bool:
    """Whether `code` lies in one of the sorted, disjoint `ranges`."""
    return _find_range(code, ranges) is not None


def is_removed(char: str) -> bool:
    """Whether text cleaning drops `char`: NUL, U+FFFD and category C (control, format, unassigned,
    private use, surrogate) but tab, newline and carriage return, as HF's slow `BasicTokenizer`."""
    if char in "\t\n\r":
        return False
    return char == "\ufffd" or unicodedata.category(char).startswith("C")


def is_whitespace(char: str) -> bool:
    """Whether `char` has the Unicode White_Space property."""
    return char in _WHITESPACE


def is_cjk(char: str) -> bool:
    """Whether `char` is a CJK ideograph that gets spaces around it."""
    return _in_ranges(ord(char), _CJK_RANGES)


def is_accent(char: str) -> bool:
    """Whether accent stripping drops `char` (a nonspacing mark, after NFD)."""
    code = ord(char)
    if unicodedata.category(char) == "Mn":
        return not _in_ranges(code, _TOKENIZERS_NOT_ACCENT)
    return _in_ranges(code, _TOKENIZERS_EXTRA_ACCENT)


def is_punctuation(char: str) -> bool:
    """Whether `char` is split off as punctuation: ASCII non-alphanumeric symbols and categories P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    if unicodedata.category(char).startswith("P"):
        return not _in_ranges(code, _TOKENIZERS_NOT_PUNCTUATION)
    return _in_ranges(code, _TOKENIZERS_EXTRA_PUNCTUATION)


def lowercase(char: str) -> str:
    """The full lowercase mapping of one character (may be two characters, e.g. for U+0130)."""
    extra = _find_range(ord(char), _TOKENIZERS_EXTRA_LOWER)
    return chr(ord(char) + extra[2]) if extra else char.lower()


def normalize_char(char: str, *, lowercase_text: bool, strip_accents: bool, split_cjk: bool) -> str:
    """Normalize one character as `BertNormalizer(clean_text=True, ...)` does.

    Args:
        char: one character of the input text.
        lowercase_text: lowercase the result.
        strip_accents: decompose (NFD) and drop accents, before lowercasing.
        split_cjk: put spaces around CJK ideographs.

    Returns:
        The normalized text of `char`: empty when removed, " " for whitespace, usually `char`.
    """
    if is_removed(char):
        return ""
    if is_whitespace(char):
        return " "
    out = char
    if strip_accents:
        decomposed = out if char in _TOKENIZERS_NO_DECOMPOSITION else unicodedata.normalize("NFD", out)
        out = "".join(c for c in decomposed if not is_accent(c))
    if lowercase_text:
        out = "".join(lowercase(c) for c in out)
    if split_cjk and is_cjk(char):
        out = f" {out} "
    return out
