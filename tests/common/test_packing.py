"""Sentence splitting and packing: documents stay apart, segment layout and proportions, determinism."""

import numpy as np
import pytest

from electra.common.pretraining.packing import build_examples, encode_examples, pack_document, split_sentences

PAD, CLS, SEP = 0, 1, 2
L = 64


def word(document, position):
    """A word whose id (see `tokenize`) encodes its document and position: d3w17 -> 3017 + 10."""
    return f"d{document}w{position}"


def tokenize(texts):
    """The stub tokenizer: one id per whitespace word; drops punctuation."""
    return [[int(w.strip(".")[1:].split("w")[0]) * 1000 + int(w.strip(".").split("w")[1]) + 10 for w in t.split()]
            for t in texts]


def make_document(document, rng, n_sentences):
    """Sentences of 1-24 words, each ending with ". "; words numbered through the document."""
    words, sentences = 0, []
    for _ in range(n_sentences):
        n = int(rng.integers(1, 25))
        sentences.append(" ".join(word(document, words + i) for i in range(n)) + ".")
        words += n
    return " ".join(s[0].upper() + s[1:] for s in sentences), words


def test_split_sentences():
    text = (
        'Emma Woodhouse, handsome,\nclever, and rich. "Poor Miss Taylor!" Mr. Knightley\nsaid so! '
        "Was it? No. J. Smith came, e.g. on 3 May. 42 is a number.\n\nno end here\n \n and here."
    )
    assert split_sentences(text) == [
        "Emma Woodhouse, handsome, clever, and rich.",
        '"Poor Miss Taylor!"',
        "Mr. Knightley said so!",
        "Was it?",
        "No.",
        "J. Smith came, e.g. on 3 May.",
        "42 is a number.",
        "no end here",
        "and here.",
    ]
    assert split_sentences(" \n\n ") == []
    assert split_sentences("version 3.11 of x.y is out. ok") == ["version 3.11 of x.y is out. ok"]


def test_packing_keeps_documents_apart_and_loses_no_token():
    rng = np.random.default_rng(0)
    documents, lengths = zip(*(make_document(d, rng, int(rng.integers(1, 40))) for d in range(1, 60)))
    examples = build_examples(
        list(documents), tokenize, np.random.default_rng(1), max_seq_length=L, cls_id=CLS, sep_id=SEP, pad_id=PAD
    )
    ids, types, mask = examples["input_ids"], examples["token_type_ids"], examples["attention_mask"]
    assert ids.shape == types.shape == mask.shape == (len(ids), L) and ids.dtype == np.int32
    stream = []
    for row in range(len(ids)):
        tokens = ids[row][ids[row] >= 10] - 10
        assert len(set(tokens // 1000)) == 1  # one document per example
        stream += tokens.tolist()
    # every word of every document, in order, exactly once
    assert stream == [d * 1000 + w for d, n in zip(range(1, 60), lengths) for w in range(n)]
    assert mask.sum() == len(stream) + (ids == CLS).sum() + (ids == SEP).sum()


def test_layout_of_specials_types_and_padding():
    rng = np.random.default_rng(2)
    documents = [make_document(d, rng, 300)[0] for d in range(1, 4)]
    examples = build_examples(documents, tokenize, rng, max_seq_length=L, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    pairs = 0
    for ids, types, mask in zip(examples["input_ids"], examples["token_type_ids"], examples["attention_mask"]):
        n = int(mask.sum())
        assert mask[:n].all() and not mask[n:].any() and (ids[n:] == PAD).all() and not types[n:].any()
        assert ids[0] == CLS and ids[n - 1] == SEP and (ids[1 : n - 1] != CLS).all()
        seps = np.flatnonzero(ids == SEP)
        if len(seps) == 1:  # [CLS] A [SEP]
            assert not types.any()
        else:  # [CLS] A [SEP] B [SEP]
            assert len(seps) == 2 and 1 < seps[0] < n - 2
            pairs += 1
            np.testing.assert_array_equal(types[:n], np.arange(n) > seps[0])
    assert pairs > 0


def test_segment_proportions_and_short_targets():
    rng = np.random.default_rng(3)
    sentences = [list(range(10, 10 + int(rng.integers(4, 12)))) for _ in range(60_000)]
    pairs = pack_document(sentences, np.random.default_rng(4), 128)
    single = np.mean([not b for a, b in pairs])
    assert 0.09 < single < 0.14, single  # 10%, plus short targets that end after one sentence
    lengths = np.array([len(a) + len(b) + (3 if b else 2) for a, b in pairs])
    assert lengths.max() <= 128
    short = np.mean(lengths < 128 - 12)  # a full-length target ends within one sentence of 128
    assert 0.035 < short < 0.065, short
    a_share = np.array([len(a) / (len(a) + len(b)) for a, b in pairs if b and len(a) + len(b) > 100])
    assert 0.4 < np.median(a_share) < 0.6  # A/B split near the middle


def test_overlong_sentence_continues_in_next_examples():
    pairs = pack_document([list(range(100, 250))], np.random.default_rng(0), 32)
    assert sum((a + b for a, b in pairs), []) == list(range(100, 250))
    assert all(len(a) + len(b) + (3 if b else 2) <= 32 for a, b in pairs)


def test_deterministic_given_seed():
    rng = np.random.default_rng(5)
    documents = [make_document(d, rng, 50)[0] for d in range(1, 6)]

    def build(seed):
        return build_examples(
            documents, tokenize, np.random.default_rng(seed), max_seq_length=L, cls_id=CLS, sep_id=SEP, pad_id=PAD
        )

    first, second, other = build(7), build(7), build(8)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["token_type_ids"], other["token_type_ids"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_seq_length must be >= 5"):
        pack_document([[1]], np.random.default_rng(0), 4)
    with pytest.raises(ValueError, match="3 tokens with specials, more than L=2"):
        encode_examples([([7], [])], 2, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    with pytest.raises(ValueError, match="returned 0 results for 1 texts"):
        build_examples(["Some text."], lambda texts: [], np.random.default_rng(0), max_seq_length=L,
                       cls_id=CLS, sep_id=SEP, pad_id=PAD)
