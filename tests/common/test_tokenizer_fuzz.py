"""Differential fuzz test: our slow and fast tokenizers against HF 4.57's `BertTokenizer` and
`BertTokenizerFast`, built from the same vocabulary file, lower-cased and cased.

Seeded random text from every Unicode category, combining marks, controls, whitespace
variants, special-token look-alikes and long words, encoded alone and in pairs truncated at
several lengths. Our slow tokenizer must give what HF's slow one gives (ids, token types,
masks, `decode`), our fast one what HF's fast one gives (also offsets). Two documented
differences of our slow one are kept out of its comparison (docs/tokenizers.md): HF's slow
tokenizer composes text to NFC first (we feed it NFC text), and the code points where the Rust
library's Unicode tables differ from Python's, which both our tokenizers follow
(`tokenizer_unicode._TOKENIZERS_*`).
"""

from __future__ import annotations

import random
import sys
import unicodedata

import pytest

from electra.common.tokenizers import unicode as rules
from electra.common.tokenizers.fast import ElectraTokenizerFast
from electra.common.tokenizers.slow import ElectraTokenizer

transformers = pytest.importorskip("transformers")

SEED = 13
N_TEXTS = 240
MAX_LENGTHS = (5, 9, 16, 33)
LOOKALIKES = ["[MASK]", "[mask]", "[MASK", "MASK]", "[ MASK ]", "[SEP][CLS]", "[UNK]", "##", "##ing", "[PAD]x"]
SPACES = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2002", "\u2028", "\u2029", "\u202f",
          "\u3000", "\u200b", "\ufeff"]
CONTROLS = ["\x00", "\x01", "\x1f", "\x7f", "\x80", "\x92", "\x9a", "\ufffd", "\u200d", "\U000e0001", "\ue000",
            "\u0378", "\U00073d57"]
WORDS = ["the", "Cat", "UNwant\u00e9d", "running", "na\u00efve", "\u535a\u63a8", "\u00c9cole", "stra\u00dfe",
         "\u0130stanbul", "\u03a3\u0391\u03a3", "don't", "e-mail", "3.14", "\U0001f600", "\u0915\u093c"]
# Code points whose category the Rust library (so both our tokenizers) reads from older tables.
_RUST_TABLES = (rules._TOKENIZERS_NOT_ACCENT + rules._TOKENIZERS_EXTRA_ACCENT + rules._TOKENIZERS_NOT_PUNCTUATION
                + rules._TOKENIZERS_EXTRA_PUNCTUATION + tuple(r[:2] for r in rules._TOKENIZERS_EXTRA_LOWER)
                + ((0x2B820, 0x2B91F), (0x11938, 0x11938)))


def _random_char(rng: random.Random) -> str:
    """A code point of any category but surrogates; half of them from the BMP."""
    while True:
        code = rng.randrange(0x10000) if rng.random() < 0.5 else rng.randrange(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF:
            return chr(code)


def _random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randrange(0, 14)):
        kind = rng.random()
        if kind < 0.25:
            parts.append(rng.choice(WORDS))
        elif kind < 0.4:
            parts.append(rng.choice(SPACES))
        elif kind < 0.5:
            parts.append(rng.choice(CONTROLS))
        elif kind < 0.6:
            parts.append(rng.choice(LOOKALIKES))
        elif kind < 0.7:
            parts.append(rng.choice("aeiouAEIOU") + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(rng.randrange(1, 4))))
        elif kind < 0.75:
            parts.append("".join(rng.choice("abcdefghij") for _ in range(rng.randrange(95, 110))))
        else:
            parts.append("".join(_random_char(rng) for _ in range(rng.randrange(1, 6))))
    return "".join(parts)


def _for_hf_slow(text: str) -> str:
    """`text` in NFC without the code points of the Rust tables (the documented differences)."""
    return "".join(c for c in unicodedata.normalize("NFC", text) if not rules._in_ranges(ord(c), _RUST_TABLES))


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = random.Random(SEED)
    return [_random_text(rng) for _ in range(N_TEXTS)]


@pytest.mark.parametrize("do_lower_case", [True, False], ids=["uncased", "cased"])
def test_ours_equal_hf(data_dir, texts, do_lower_case):
    vocab = data_dir / "vocab" / "bert-base-uncased-vocab.txt"
    pairs = {
        "slow": (ElectraTokenizer(vocab, do_lower_case=do_lower_case),
                 transformers.BertTokenizer(str(vocab), do_lower_case=do_lower_case)),
        "fast": (ElectraTokenizerFast(vocab, do_lower_case=do_lower_case),
                 transformers.BertTokenizerFast(str(vocab), do_lower_case=do_lower_case)),
    }
    for name, (ours, theirs) in pairs.items():
        batch = [_for_hf_slow(text) for text in texts] if name == "slow" else texts
        firsts, seconds = batch[0::2], batch[1::2]
        extras = dict(return_special_tokens_mask=True, return_offsets_mapping=name == "fast")
        expected = theirs(batch, **extras)
        assert ours(batch, **extras) == dict(expected), name
        for ids, text in zip(expected["input_ids"], batch):
            for skip in (False, True):
                assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip), \
                    (name, ascii(text))
        for max_length in MAX_LENGTHS:
            kwargs = dict(truncation="longest_first", max_length=max_length, padding="max_length", **extras)
            assert ours(firsts, seconds, **kwargs) == dict(theirs(firsts, seconds, **kwargs)), (name, max_length)
        for first, second in zip(firsts[:40], seconds[:40]):
            kwargs = dict(truncation=True, max_length=12, **extras)
            assert ours(first, second, **kwargs) == dict(theirs(first, second, **kwargs)), (name, ascii(first))
