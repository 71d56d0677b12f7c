"""The HF tokenizer API around encoding (issue 13, items 8-11), against `transformers` 4.57.

`pad` and the data collators, pre-split words with `word_ids()`/`tokens()`, added tokens (saved
and reloaded), `encode_plus`/`batch_encode_plus`, the `return_*` switches, `pad_to_multiple_of`,
`stride` with overflowing rows, `model_max_length`; then where HF's slow and fast tokenizers
disagree and each of ours follows its own: pair truncation, text cleaning, an empty `text_pair`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from electra.common.tokenizers.fast import ElectraTokenizerFast
from electra.common.tokenizers.slow import ElectraTokenizer

transformers = pytest.importorskip("transformers")

TOKENIZERS = (ElectraTokenizer, ElectraTokenizerFast)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "sat", "on", "mat", "hello", "world", "one", "two", "three", "four", "five", "six",
         "seven", "eight", "aa", "bb", "cc", "dd", "ee", ",", ".", "!", "?", "'", "-", "´", "##4", "Hello"]
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
VOCAB = list(dict.fromkeys(SPECIALS + WORDS + list(LETTERS) + ["##" + c for c in LETTERS]))
TEXTS = ["Hello, world! the cat sat", "one two three four five six seven eight", "a", "the cat's mat.",
         "aa bb cc dd ee"]
PAIRS = ["on the mat", "aa bb", "one two three four five six seven", "", "hello"]


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("".join(token + "\n" for token in VOCAB), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hf(vocab_file):
    """HF's slow and fast BERT tokenizers on the same vocabulary."""
    return {ElectraTokenizer: transformers.BertTokenizer(str(vocab_file)),
            ElectraTokenizerFast: transformers.BertTokenizerFast(str(vocab_file))}


def plain(encoding) -> dict:
    """A BatchEncoding as nested lists (offsets as lists) for comparing."""
    def convert(value):
        value = value.tolist() if hasattr(value, "tolist") else value
        return [convert(v) for v in value] if isinstance(value, (list, tuple)) else value
    return {name: convert(value) for name, value in encoding.items()}


# ---- item 8: pad and the data collators ----------------------------------------------------------
@pytest.mark.parametrize("cls", TOKENIZERS)
def test_pad_matches_hf(cls, vocab_file, hf):
    ours, theirs = cls(vocab_file=vocab_file), hf[ElectraTokenizerFast]
    features = [dict(ours(text, return_special_tokens_mask=True)) for text in TEXTS]
    for kwargs in (dict(), dict(padding="max_length", max_length=12), dict(pad_to_multiple_of=8),
                   dict(padding_side="left"), dict(return_attention_mask=False), dict(padding=False)):
        # HF leaves a given attention_mask unpadded with return_attention_mask=False: leave it out.
        rows = [{k: v for k, v in f.items() if k != "attention_mask" or "return_attention_mask" not in kwargs}
                for f in features]
        expected = plain(theirs.pad([dict(f) for f in rows], **kwargs))
        assert plain(ours.pad([dict(f) for f in rows], **kwargs)) == expected, kwargs
    batch = ours(TEXTS)
    assert plain(ours.pad(batch)) == plain(theirs.pad(theirs(TEXTS)))
    single = ours.pad(ours("the cat"), padding="max_length", max_length=6)
    assert single["input_ids"] == [2, VOCAB.index("the"), VOCAB.index("cat"), 3, 0, 0]
    padded = ours.pad(features, return_tensors="np")
    assert padded["input_ids"].dtype == np.int64 and padded["input_ids"].shape == (5, 10)


@pytest.mark.parametrize("cls", TOKENIZERS)
def test_pad_bad_input(cls, vocab_file):
    tokenizer = cls(vocab_file=vocab_file)
    with pytest.raises(ValueError, match="input_ids"):
        tokenizer.pad([{"attention_mask": [1]}])
    with pytest.raises(ValueError, match="padding_side"):
        tokenizer.pad([{"input_ids": [1]}], padding_side="middle")
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        tokenizer.pad([{"input_ids": [1]}], pad_to_multiple_of=0)
    with pytest.raises(ValueError, match="one length"):
        tokenizer.pad([{"input_ids": [1]}, {"input_ids": [1, 2]}], padding=False, return_tensors="np")


@pytest.mark.parametrize("cls", TOKENIZERS)
def test_data_collators(cls, vocab_file, hf):
    torch = pytest.importorskip("torch")
    ours, theirs = cls(vocab_file=vocab_file), hf[ElectraTokenizerFast]
    features = [{**ours(text), "label": index % 2} for index, text in enumerate(TEXTS)]
    batch = transformers.DataCollatorWithPadding(ours, pad_to_multiple_of=4)(features)
    expected = transformers.DataCollatorWithPadding(theirs, pad_to_multiple_of=4)(features)
    assert sorted(batch) == sorted(expected) == ["attention_mask", "input_ids", "labels", "token_type_ids"]
    for name in batch:
        assert torch.equal(batch[name], expected[name]), name
    for examples in ([dict(ours(text)) for text in TEXTS], [ours(text)["input_ids"] for text in TEXTS]):
        masked = {}
        for tokenizer in (ours, theirs):
            collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.5, seed=3)
            masked[tokenizer is ours] = collator(examples)
        for name in ("input_ids", "labels"):
            assert torch.equal(masked[True][name], masked[False][name]), name


# ---- item 8: words, added tokens, encode_plus, return switches, overflow, model_max_length -----------
@pytest.mark.parametrize("cls", TOKENIZERS)
def test_split_into_words(cls, vocab_file, hf):
    ours, theirs = cls(vocab_file=vocab_file), hf[ElectraTokenizerFast]
    for args in ((["hello", "World,", "cat"],), (["hello", "World"], ["a", "b!"]),
                 ([["hello", "World"], ["a"]],), ([["the", "cat"], ["a"]], [["on"], ["mat", "."]])):
        kwargs = dict(is_split_into_words=True, return_offsets_mapping=cls is ElectraTokenizerFast)
        encoded, expected = ours(*args, **kwargs), theirs(*args, **kwargs)
        assert plain(encoded) == plain(expected), args
        rows = len(args[0]) if isinstance(args[0][0], list) else 1
        for row in range(rows):
            assert encoded.word_ids(row) == expected.word_ids(row)
            assert encoded.tokens(row) == expected.tokens(row)
            assert encoded.sequence_ids(row) == expected.sequence_ids(row)
    text = "Hello, wor[MASK]ld [SEP]x!  don't"
    encoded, expected = ours(text, "pair here"), theirs(text, "pair here")
    assert encoded.word_ids() == expected.word_ids()
    assert encoded.tokens() == expected.tokens()
    with pytest.raises(ValueError, match="is_split_into_words"):
        ours("the cat", is_split_into_words=True)


@pytest.mark.parametrize("cls", TOKENIZERS)
def test_added_tokens_saved_and_reloaded(cls, vocab_file, tmp_path):
    tokenizer = cls(vocab_file=vocab_file)
    size = len(tokenizer)
    assert tokenizer.add_tokens(["<new>", "cat", "<new>"]) == 1
    assert tokenizer.add_special_tokens({"additional_special_tokens": ["<sp>"]}) == 1
    assert len(tokenizer) == size + 2
    assert tokenizer.tokenize("a<new>b <sp>cat") == ["a", "<new>", "b", "<sp>", "cat"]
    ids = tokenizer("a<new>b <sp>")["input_ids"]
    assert ids == [2, VOCAB.index("a"), size, VOCAB.index("b"), size + 1, 3]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a <new> b"
    assert tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True) == [1, 0, 0, 0, 1, 1]
    assert tokenizer.additional_special_tokens == ["<sp>"]
    tokenizer.save_pretrained(tmp_path)
    for reloaded in (cls.from_pretrained(tmp_path), transformers.AutoTokenizer.from_pretrained(tmp_path),
                     transformers.BertTokenizer.from_pretrained(tmp_path)):
        assert reloaded("a<new>b <sp>")["input_ids"] == ids, type(reloaded).__name__
        assert reloaded.additional_special_tokens == ["<sp>"], type(reloaded).__name__
    hf_saved = tmp_path / "hf"
    hf_tokenizer = transformers.BertTokenizerFast(str(vocab_file))
    hf_tokenizer.add_tokens(["<new>"])
    hf_tokenizer.add_special_tokens({"additional_special_tokens": ["<sp>"]})
    hf_tokenizer.save_pretrained(hf_saved)
    assert cls.from_pretrained(hf_saved)("a<new>b <sp>")["input_ids"] == ids
    with pytest.raises(ValueError, match="additional_special_tokens"):
        tokenizer.add_special_tokens({"extra_token": "<x>"})
    with pytest.raises(ValueError, match="empty"):
        tokenizer.add_tokens([""])


@pytest.mark.parametrize("cls", TOKENIZERS)
def test_encode_plus_and_return_switches(cls, vocab_file, hf):
    ours, theirs = cls(vocab_file=vocab_file), hf[ElectraTokenizerFast]
    assert plain(ours.encode_plus(TEXTS[0], PAIRS[0])) == plain(theirs.encode_plus(TEXTS[0], PAIRS[0]))
    assert plain(ours.batch_encode_plus(TEXTS)) == plain(theirs.batch_encode_plus(TEXTS))
    assert plain(ours.batch_encode_plus(list(zip(TEXTS, PAIRS)))) == plain(theirs.batch_encode_plus(list(zip(TEXTS, PAIRS))))
    for kwargs in (dict(return_attention_mask=False), dict(return_token_type_ids=False, return_length=True),
                   dict(padding=True, pad_to_multiple_of=8), dict(padding="max_length", max_length=9, pad_to_multiple_of=4),
                   dict(padding=True, padding_side="left", return_special_tokens_mask=True)):
        assert plain(ours(TEXTS, PAIRS, **kwargs)) == plain(theirs(TEXTS, PAIRS, **kwargs)), kwargs
    with pytest.raises(ValueError, match="multiple of pad_to_multiple_of"):
        ours(TEXTS, truncation=True, max_length=10, padding=True, pad_to_multiple_of=4)


LONG = ["one two three", "one two three four five six seven eight", "a b c d e f g h i j"]
CONTEXTS = ["aa bb cc dd ee ff gg hh", "aa bb cc dd ee ff gg hh ii", "a b c d e f g h"]
STRIDE_CASES = [  # (inputs, options): questions with contexts (QA), pairs, single texts
    ((["one two", "a b", "three"], CONTEXTS), dict(truncation="only_second", max_length=10, stride=2)),
    ((["one two", "a b", "three"], CONTEXTS), dict(truncation="only_second", max_length=12, stride=0)),
    ((LONG, CONTEXTS), dict(truncation="longest_first", max_length=11, stride=1)),
    ((LONG, ["a", "b", "c"]), dict(truncation="only_first", max_length=11, stride=3)),
    ((LONG,), dict(truncation=True, max_length=6, stride=2)),
]


@pytest.mark.parametrize("args, case", STRIDE_CASES, ids=str)
@pytest.mark.parametrize("cls", TOKENIZERS)
def test_stride_and_overflow_match_hf_fast(cls, vocab_file, hf, args, case):
    ours, theirs = cls(vocab_file=vocab_file), hf[ElectraTokenizerFast]
    kwargs = dict(case, return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True)
    encoded, expected = ours(*args, **kwargs), theirs(*args, **kwargs)
    assert plain(encoded) == plain(expected)
    assert len(expected["input_ids"]) > len(args[0])
    for row in range(len(expected["input_ids"])):
        assert encoded.word_ids(row) == expected.word_ids(row)
    one = dict(truncation="longest_first", max_length=11, stride=1, return_overflowing_tokens=True)
    assert plain(ours(LONG[1], CONTEXTS[1], **one)) == plain(theirs(LONG[1], CONTEXTS[1], **one))
    with pytest.raises(ValueError, match="stride"):
        ours(LONG[1], truncation=True, max_length=4, stride=2, return_overflowing_tokens=True)


@pytest.mark.parametrize("cls", TOKENIZERS)
def test_model_max_length_defaults_as_hf(cls, vocab_file, hf, tmp_path):
    ours = cls(vocab_file=vocab_file)
    assert ours.model_max_length == hf[cls].model_max_length == int(1e30)
    long_text = " ".join(["the"] * 600)
    assert ours(long_text, truncation=True) == ours(long_text)
    assert ours(long_text, padding="max_length") == ours(long_text)
    config = {"model_max_length": 512, "do_lower_case": True}
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    loaded = cls.from_pretrained(tmp_path)
    assert loaded.model_max_length == 512 == hf[cls].from_pretrained(tmp_path).model_max_length
    assert len(loaded(long_text, truncation=True)["input_ids"]) == 512
    loaded.save_pretrained(tmp_path / "again")
    assert cls.from_pretrained(tmp_path / "again").model_max_length == 512


# ---- items 9-11: where HF's slow and fast tokenizers disagree -------------------------------------
def test_pair_truncation_follows_each_hf_tokenizer(vocab_file, hf):
    """3 + 3 tokens into 5: HF's slow one cuts the odd token from the second text, its fast one from the first."""
    first, second = "a b c", "d e f"
    for cls, (keep_first, keep_second) in ((ElectraTokenizer, (3, 2)), (ElectraTokenizerFast, (2, 3))):
        encoded = cls(vocab_file=vocab_file)(first, second, truncation="longest_first", max_length=8)
        assert encoded["token_type_ids"] == [0] * (keep_first + 2) + [1] * (keep_second + 1), cls.__name__
        assert encoded == hf[cls](first, second, truncation="longest_first", max_length=8)
    for cls in TOKENIZERS:
        for max_length in range(3, 22):
            for text, pair in zip(TEXTS, PAIRS):
                kwargs = dict(truncation="longest_first", max_length=max_length)
                assert cls(vocab_file=vocab_file)(text, pair, **kwargs) == hf[cls](text, pair, **kwargs)


def test_pair_truncation_on_austen_pairs(data_dir):
    """400 real pairs at max_length=48, each of ours against its HF counterpart (the issue's 138 differed)."""
    vocab = data_dir / "vocab" / "bert-base-uncased-vocab.txt"
    paragraphs = [" ".join(block.split()) for path in sorted((data_dir / "austen").glob("*.txt"))
                  for block in path.read_text(encoding="utf-8").split("\n\n") if len(block) > 100]
    texts, pairs = paragraphs[::17][:400], paragraphs[1::17][:400]
    assert len(pairs) == 400
    kwargs = dict(truncation="longest_first", max_length=48)
    hf_slow = transformers.BertTokenizer(str(vocab))(texts, pairs, **kwargs)["input_ids"]
    hf_fast = transformers.BertTokenizerFast(str(vocab))(texts, pairs, **kwargs)["input_ids"]
    assert sum(a != b for a, b in zip(hf_slow, hf_fast)) > 100  # the two rules differ on these pairs
    for ours, theirs in ((ElectraTokenizer(vocab), transformers.BertTokenizer(str(vocab))),
                         (ElectraTokenizerFast(vocab), transformers.BertTokenizerFast(str(vocab)))):
        assert ours(texts, pairs, **kwargs) == dict(theirs(texts, pairs, **kwargs)), type(ours).__name__


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_text_cleaning_follows_hf_slow(vocab_file, hf, do_lower_case):
    """HF's slow one removes every category C character (C1 controls, unassigned, format,
    private use) before splitting; its fast one keeps unassigned code points."""
    slow = ElectraTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)
    fast = ElectraTokenizerFast(vocab_file=vocab_file, do_lower_case=do_lower_case)
    hf_slow = transformers.BertTokenizer(str(vocab_file), do_lower_case=do_lower_case)
    hf_fast = transformers.BertTokenizerFast(str(vocab_file), do_lower_case=do_lower_case)
    text = "´\x9a4\U00073d57\x92"
    assert slow.tokenize(text) == hf_slow.tokenize(text) == ["´", "##4"]
    assert fast.tokenize(text) == hf_fast.tokenize(text) == ["[UNK]"]
    for text in ["a\x85b", "a\x9ab c\u0378d", "e\U000e0001f\ue000g", "h\u2028i\x0bj", "k\u200bl\u061cm"]:
        assert slow.tokenize(text) == hf_slow.tokenize(text), ascii(text)
        assert fast.tokenize(text) == hf_fast.tokenize(text), ascii(text)
        ids = slow(text)["input_ids"]
        assert slow.decode(ids) == hf_slow.decode(ids), ascii(text)
    assert slow("a\u0378b", return_offsets_mapping=True)["offset_mapping"] == [(0, 0), (0, 1), (2, 3), (0, 0)]


def test_empty_text_pair(vocab_file, hf):
    """HF's fast one drops `text_pair=""` in a single call (not in a batch); its slow one keeps it."""
    for cls, single in ((ElectraTokenizer, [2, VOCAB.index("a"), 3, 3]), (ElectraTokenizerFast, [2, VOCAB.index("a"), 3])):
        tokenizer = cls(vocab_file=vocab_file)
        assert tokenizer("a", "")["input_ids"] == hf[cls]("a", "")["input_ids"] == single, cls.__name__
        assert tokenizer(["a"], [""])["input_ids"] == hf[cls](["a"], [""])["input_ids"] == [[2, VOCAB.index("a"), 3, 3]]


@pytest.mark.parametrize("cls", TOKENIZERS)
def test_a_row_reads_as_hf_fast_encoding(cls, vocab_file, hf):
    """`encoding[i]` gives what HF's pipelines read of a `tokenizers.Encoding` (the QA pipeline)."""
    args = dict(text=["the cat sat on the mat"], text_pair=["hello world, one two three four five six"],
                truncation="only_second", max_length=12, stride=2, return_overflowing_tokens=True,
                return_offsets_mapping=True)
    ours, theirs = cls(vocab_file=str(vocab_file))(**args), hf[ElectraTokenizerFast](**args)
    assert len(ours["input_ids"]) == len(theirs["input_ids"]) > 1
    for row in range(len(theirs["input_ids"])):
        mine, want = ours[row], theirs[row]
        assert (mine.ids, mine.tokens, mine.offsets, mine.word_ids, mine.sequence_ids) == (
            want.ids, want.tokens, want.offsets, want.word_ids, want.sequence_ids)
        for token in range(len(want.ids)):
            assert mine.token_to_word(token) == want.token_to_word(token)
            assert mine.token_to_sequence(token) == want.token_to_sequence(token)
        for word in range(8):
            for sequence in (0, 1):
                assert mine.word_to_chars(word, sequence) == want.word_to_chars(word, sequence), (row, word, sequence)
                assert mine.word_to_tokens(word, sequence) == want.word_to_tokens(word, sequence), (row, word, sequence)
    with pytest.raises(IndexError, match="row 9 of a BatchEncoding of"):
        ours[9]
