"""Our two tokenizers against HF 4.57's `BertTokenizer` and `BertTokenizerFast` on every paragraph
of Jane Austen's six novels (../shared/data/austen, 62k paragraphs) with BERT's uncased vocabulary.

Every paragraph is encoded alone and in a pair (ids, token types, attention and special-token
masks, offsets) against HF's fast tokenizer; the truncation and padding strategies are crossed
on a sample. HF's slow tokenizer would need about 40 s for every paragraph on a busy machine:
it tokenizes every distinct whitespace-separated word instead (its basic step splits on
whitespace first, so a paragraph's tokens are its words' tokens; checked on a sample of whole
paragraphs).
"""

from __future__ import annotations

import itertools

import pytest
import transformers

from electra.common.tokenizers.fast import ElectraTokenizerFast
from electra.common.tokenizers.slow import ElectraTokenizer

EXTRAS = dict(return_offsets_mapping=True, return_special_tokens_mask=True)


@pytest.fixture(scope="module")
def paragraphs(data_dir) -> list[str]:
    texts = []
    for path in sorted((data_dir / "austen").glob("*.txt")):
        texts += [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    assert len(texts) > 60_000
    return texts


@pytest.fixture(scope="module")
def tokenizers(data_dir):
    vocab = data_dir / "vocab" / "bert-base-uncased-vocab.txt"
    return {"slow": ElectraTokenizer(vocab_file=vocab), "fast": ElectraTokenizerFast(vocab_file=vocab),
            "hf_slow": transformers.BertTokenizer(str(vocab)), "hf_fast": transformers.BertTokenizerFast(str(vocab))}


def assert_same_encodings(ours, hf, label: str) -> None:
    """Our BatchEncoding equals HF's, column by column, row by row (first differing row named)."""
    assert sorted(ours) == sorted(hf), label
    for name in hf:
        if ours[name] != hf[name]:
            row = next(i for i, (a, b) in enumerate(zip(ours[name], hf[name])) if a != b)
            pytest.fail(f"{label}: {name} differs first at row {row}: {ours[name][row]} != {hf[name][row]}")


def test_every_paragraph_alone(paragraphs, tokenizers):
    expected = dict(tokenizers["hf_fast"](paragraphs, **EXTRAS))
    for name in ("fast", "slow"):
        assert_same_encodings(tokenizers[name](paragraphs, **EXTRAS), expected, name)

    hf_slow, convert = tokenizers["hf_slow"], tokenizers["fast"].convert_ids_to_tokens
    word_tokens = {word: hf_slow.tokenize(word) for word in {w for text in paragraphs for w in text.split()}}
    for index, (text, ids) in enumerate(zip(paragraphs, expected["input_ids"])):
        tokens = [token for word in text.split() for token in word_tokens[word]]
        assert tokens == convert(ids[1:-1]), f"paragraph {index}: {text!r:.200}"
    sample = paragraphs[::40]
    assert dict(hf_slow(sample, return_special_tokens_mask=True)) == dict(
        tokenizers["slow"](sample, return_special_tokens_mask=True))


def test_every_paragraph_in_a_pair(paragraphs, tokenizers):
    """Paragraphs 0 and 1, 2 and 3, ...: each paragraph is in one pair (our slow one splits a
    truncated pair as HF's slow one: test_tokenizer_hf_api.py, so it is compared untruncated)."""
    firsts, seconds = paragraphs[0:-1:2], paragraphs[1::2]
    kwargs = dict(truncation=True, max_length=64, **EXTRAS)
    expected = dict(tokenizers["hf_fast"](firsts, seconds, **kwargs))
    assert max(map(len, expected["input_ids"])) == 64
    assert_same_encodings(tokenizers["fast"](firsts, seconds, **kwargs), expected, "fast")
    whole = dict(tokenizers["hf_fast"](firsts, seconds, **EXTRAS))
    assert_same_encodings(tokenizers["slow"](firsts, seconds, **EXTRAS), whole, "slow")


def test_decode(paragraphs, tokenizers):
    ids = tokenizers["fast"](paragraphs[::4])["input_ids"]
    for skip in (False, True):
        expected = tokenizers["hf_fast"].batch_decode(ids, skip_special_tokens=skip)
        for name in ("fast", "slow"):
            assert tokenizers[name].batch_decode(ids, skip_special_tokens=skip) == expected, name
    sample = ids[::20]
    assert tokenizers["slow"].batch_decode(sample) == tokenizers["hf_slow"].batch_decode(sample)


STRATEGIES = list(itertools.product([False, True, "longest_first", "only_first", "only_second"],
                                    [False, True, "max_length"], [None, 8, 40]))


@pytest.mark.parametrize("pairs", [False, True], ids=["single", "pair"])
def test_strategies_on_a_sample(paragraphs, tokenizers, pairs):
    """Each truncation x padding x max_length, on 240 paragraphs of all lengths, as HF does it.

    HF's slow tokenizer agrees except where HF's two tokenizers disagree with each other: for a
    pair cut by "longest_first" it splits the kept tokens differently (same total length), and
    our slow one follows it; a truncation that cannot reach max_length only logs there, where
    its fast one and we raise.
    """
    sample = paragraphs[::250][:240]
    args = (sample[:120], sample[120:]) if pairs else (sample,)
    checked = 0
    for truncation, padding, max_length in STRATEGIES:
        if (truncation is not False and max_length is None) or (padding == "max_length" and max_length is None):
            continue
        if truncation == "only_second" and not pairs:
            continue
        kwargs = dict(truncation=truncation, padding=padding, max_length=max_length)
        label = f"{'pair' if pairs else 'single'} {kwargs}"
        try:
            expected = dict(tokenizers["hf_fast"](*args, **kwargs, **EXTRAS))
        except Exception as error:  # the Rust tokenizer raises a bare Exception
            assert "Truncation error" in str(error) and max_length == 8, label
            for name in ("fast", "slow"):
                with pytest.raises(ValueError, match=f"truncation={truncation!r} must remove"):
                    tokenizers[name](*args, **kwargs)
            continue
        cut_pairs = pairs and truncation in (True, "longest_first")
        for name in ("fast",) if cut_pairs else ("fast", "slow"):
            assert_same_encodings(tokenizers[name](*args, **kwargs, **EXTRAS), expected, f"{name} {label}")
        hf_slow = dict(tokenizers["hf_slow"](*args, **kwargs, return_special_tokens_mask=True))
        del expected["offset_mapping"]
        if cut_pairs:
            assert hf_slow != expected, label
            assert [len(row) for row in hf_slow["input_ids"]] == [len(row) for row in expected["input_ids"]]
            slow = dict(tokenizers["slow"](*args, **kwargs, return_special_tokens_mask=True))
            assert_same_encodings(slow, hf_slow, f"slow {label}")
        else:
            assert_same_encodings(hf_slow, expected, f"hf_slow {label}")
        checked += 1
    assert checked == 26  # pairs: 8 more run into the impossible-truncation branch
