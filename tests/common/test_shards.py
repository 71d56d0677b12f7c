"""Pre-tokenized shards: the same batches and positions as the text they were made from,
the files and meta.json written, and every damaged or foreign folder refused."""

import json

import numpy as np
import pytest

from electra.common.pretraining.batches import PretrainingBatches
from electra.common.pretraining.corpus import Corpus, DocumentStart
from electra.common.pretraining.packing import tokenize_documents
from electra.common.pretraining.shards import Shards, file_sha256, write_shards
from tests.common.test_batches import CLS, MASK, PAD, SEP, assert_same, take, tokenize


def make(source, **changes):
    """As `test_batches.make`, reading text or shards (which need no tokenizer)."""
    arguments = dict(cls_id=CLS, sep_id=SEP, pad_id=PAD, mask_id=MASK, batch_size=4, seq_len=32, seed=1, eval_every=5,
                     shuffle_buffer=8)
    tokenize_batch = None if isinstance(source, Shards) else tokenize
    return PretrainingBatches(source, tokenize_batch, **{**arguments, **changes})


@pytest.fixture
def work(tmp_path_factory):
    """A folder beside the corpus (`corpus_dir` is the test's tmp_path, read whole)."""
    return tmp_path_factory.mktemp("shards")


@pytest.fixture
def vocab(work):
    file = work / "vocab.txt"
    file.write_text("[PAD]\n[CLS]\n[SEP]\n[MASK]\n")
    return file


def prepare(corpus_dir, out, vocab, tokenize_batch=tokenize, shard_tokens=150):
    """Shards of `corpus_dir` (about 150 tokens each: 40 documents make several)."""
    write_shards(Corpus(corpus_dir), tokenize_batch, out, vocab_file=vocab, tokenizer_options={"do_lower_case": True},
                 shard_tokens=shard_tokens)
    return Shards(out)


@pytest.mark.parametrize("changes", [{}, {"seq_len": 16, "shuffle_buffer": 3, "seed": 4, "eval_every": 3}])
def test_shards_give_the_batches_of_the_text(corpus_dir, work, vocab, changes):
    shards = prepare(corpus_dir, work / "data", vocab)
    assert len(shards.meta["shards"]) > 3
    text, tokenized = make(corpus_dir, **changes), make(shards, **changes)
    for _ in range(40):  # into the second epoch (about 12 or 25 batches each)
        assert_same([next(tokenized)], [next(text)])
        assert tokenized.state_dict() == text.state_dict()
    assert text.state_dict()["epoch"] >= 1
    assert_same(list(make(shards, split="eval", **changes)), list(make(corpus_dir, split="eval", **changes)))


@pytest.mark.parametrize("stop", [1, 5, 13])
def test_a_position_resumes_on_either_source(corpus_dir, work, vocab, stop):
    shards = prepare(corpus_dir, work / "data", vocab)
    uninterrupted = take(make(corpus_dir), 20)
    for first, then in [(corpus_dir, shards), (shards, corpus_dir), (shards, shards)]:
        interrupted = make(first)
        take(interrupted, stop)
        resumed = make(then)
        resumed.load_state_dict(json.loads(json.dumps(interrupted.state_dict())))
        assert_same(take(resumed, 20 - stop), uninterrupted[stop:])


def test_files_and_meta(corpus_dir, work, vocab):
    shards = prepare(corpus_dir, work / "data", vocab)
    meta = shards.meta
    assert (meta["format"], meta["version"], meta["vocab_sha256"]) == ("electra-pretraining-shards", 1, file_sha256(vocab))
    assert meta["tokenizer"] == {"do_lower_case": True} and meta["documents"] == 40
    assert sorted(p.name for p in (work / "data").iterdir()) == sorted(
        ["meta.json", "vocab.txt"] + [f"{s['name']}.{key}.npy" for s in meta["shards"] for key in ("tokens", "sentences", "documents")])
    assert [s["first_document"] for s in meta["shards"]] == list(np.cumsum([0] + [s["documents"] for s in meta["shards"]])[:-1])
    assert all(s["tokens"] >= 150 for s in meta["shards"][:-1])  # a shard closes once it holds 150 tokens
    tokens, sentences, _ = shards._open(meta["shards"][0])
    assert isinstance(tokens, np.memmap) and isinstance(sentences, np.memmap) and tokens.dtype == np.uint16
    # Every document round-trips: its sentences' ids, its length and where it starts.
    corpus = list(Corpus(corpus_dir).documents())
    read = list(shards.documents())
    assert [d.sentences for d in read] == tokenize_documents([d.text for d in corpus], tokenize)
    assert [(d.characters, d.start) for d in read] == [(len(d.text), d.start) for d in corpus]
    assert list(shards.documents(corpus[23].start)) == read[23:]


def test_ids_beyond_uint16_are_kept(corpus_dir, work, vocab):
    def large(texts):
        return [[70_000 + token for token in ids] for ids in tokenize(texts)]

    shards = prepare(corpus_dir, work / "data", vocab, large, shard_tokens=10**6)
    assert np.load(work / "data" / "shard-00000.tokens.npy", mmap_mode="r").dtype == np.int32
    assert [d.sentences for d in shards.documents()] == tokenize_documents([d.text for d in Corpus(corpus_dir).documents()], large)


def test_a_failed_or_refused_write_leaves_nothing(corpus_dir, work, vocab):
    def failing(texts):
        raise RuntimeError("tokenizer crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        prepare(corpus_dir, work / "data", vocab, failing)
    assert sorted(p.name for p in work.iterdir()) == ["vocab.txt"]  # no data folder, no staging folder
    prepare(corpus_dir, work / "data", vocab)
    before = {p.name: p.read_bytes() for p in (work / "data").iterdir()}
    with pytest.raises(FileExistsError, match="already exists"):
        prepare(corpus_dir, work / "data", vocab)
    assert {p.name: p.read_bytes() for p in (work / "data").iterdir()} == before


def test_damaged_or_foreign_folders_are_refused(corpus_dir, work, vocab):
    data = work / "data"
    prepare(corpus_dir, data, vocab)
    with pytest.raises(ValueError, match=r"holds no meta\.json: it is not a folder written by electra prepare-data"):
        Shards(corpus_dir)
    tokens = data / "shard-00001.tokens.npy"
    intact = tokens.read_bytes()
    tokens.write_bytes(intact[:-2])
    with pytest.raises(ValueError, match=rf"shard file {tokens} is {len(intact) - 2} bytes where meta.json records "
                                         rf"{len(intact)} \(truncated or damaged\): prepare the data again"):
        Shards(data)
    tokens.unlink()
    with pytest.raises(ValueError, match=rf"shard file {tokens} is missing"):
        Shards(data)
    tokens.write_bytes(intact)
    (data / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    with pytest.raises(ValueError, match="vocab.txt is missing or not the vocab the shards were tokenized with"):
        Shards(data)
    (data / "vocab.txt").write_bytes(vocab.read_bytes())
    meta = json.loads((data / "meta.json").read_text())
    (data / "meta.json").write_text(json.dumps({**meta, "version": 2}))
    with pytest.raises(ValueError, match="format version 2; this electra reads version 1"):
        Shards(data)
    (data / "meta.json").write_text(json.dumps({**meta, "shards": [{"name": "shard-00000"}]}))
    with pytest.raises(ValueError, match=r"meta.json is malformed \(KeyError: 'bytes'\): prepare the data again"):
        Shards(data)
    (data / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="is not where document 7 of .* begins: the position was saved reading other data"):
        next(Shards(data).documents(DocumentStart(0, 1, 7)))
