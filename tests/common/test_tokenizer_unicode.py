"""The pure-Python character rules (`tokenizer_unicode`) against the Rust `tokenizers` library on
every code point of planes 0-3 and 14 (all of Unicode that is assigned but private use), and the
first 4096 of each other plane.

On a mismatch the message lists the code points, which is what the `_TOKENIZERS_*` tables in
`electra/common/tokenizers/unicode.py` need after a Python or `tokenizers` upgrade.
"""

from __future__ import annotations

import unicodedata

import pytest
from tokenizers import normalizers, pre_tokenizers

from electra.common.tokenizers import unicode as rules

CHUNK = 0x4000
CODE_POINTS = [c for plane in (0, 1, 2, 3, 14) for c in range(plane << 16, (plane + 1) << 16)]
CODE_POINTS += [c for plane in (*range(4, 14), 15, 16) for c in range(plane << 16, (plane << 16) + 4096)]
CHARS = [chr(c) for c in CODE_POINTS if not 0xD800 <= c <= 0xDFFF]  # surrogates are not text


def chunks(chars):
    return [chars[i:i + CHUNK] for i in range(0, len(chars), CHUNK)]


def first_mismatches(ours: list[str], theirs: list[str], chars) -> list[str]:
    return [f"U+{ord(c):04X}: ours {a!r}, tokenizers {b!r}" for c, a, b in zip(chars, ours, theirs) if a != b][:20]


@pytest.mark.parametrize("options", [dict(lowercase_text=True, strip_accents=True, split_cjk=True),
                                     dict(lowercase_text=False, strip_accents=False, split_cjk=False)], ids=str)
def test_normalization_of_every_code_point(options):
    """As the Rust library, but for cleaning: category C characters go, as in HF's slow tokenizer."""
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=options["split_cjk"],
                                            strip_accents=options["strip_accents"], lowercase=options["lowercase_text"])
    other = [c for c in CHARS if unicodedata.category(c).startswith("C") and c not in "\t\n\r"]
    assert [c for c in other if rules.normalize_char(c, **options)] == []
    rust_keeps = [c for c in other if normalizer.normalize_str(c)]
    assert len(rust_keeps) == 215_443 and {unicodedata.category(c) for c in rust_keeps} == {"Cn", "Cf"}
    other = set(other)
    for chars in chunks([c for c in CHARS if c not in other]):
        ours = [rules.normalize_char(c, **options) for c in chars]
        # "|" is kept as is by both, and separates the characters' results.
        theirs = normalizer.normalize_str("|".join(chars)).split("|")
        if len(theirs) != len(chars) or ours != theirs:
            theirs = [normalizer.normalize_str(c) for c in chars]
            assert ours == theirs, first_mismatches(ours, theirs, chars)


def test_punctuation_of_every_code_point():
    """A punctuation character becomes a word of its own between two letters ("a"), others merge."""
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    kept = [c for c in CHARS if not rules.is_removed(c) and not rules.is_whitespace(c)]
    for chars in chunks(kept):
        words = [word for word, _ in pre_tokenizer.pre_tokenize_str("a" + "a".join(chars) + "a")]
        theirs = {word for word in words if len(word) == 1 and word != "a"}
        ours = {c for c in chars if rules.is_punctuation(c)}
        assert ours == theirs, sorted(f"U+{ord(c):04X}" for c in ours ^ theirs)[:20]


def test_whitespace_and_removed_characters():
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    spaces = {c for c in CHARS if not rules.is_removed(c) and rules.is_whitespace(c)}
    joined = "a".join(sorted(spaces))
    assert [word for word, _ in pre_tokenizer.pre_tokenize_str("a" + joined + "a")] == ["a"] * (len(spaces) + 1)
    assert len(spaces) == 22  # the 25 of Unicode White_Space less the controls \x0b, \x0c, \x85
    assert rules.normalize_char("\x00", lowercase_text=False, strip_accents=False, split_cjk=False) == ""
