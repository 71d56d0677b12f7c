"""The batch iterator: layout, determinism, exact resume, the held-out split, errors."""

import json
import re

import numpy as np
import pytest

from electra.common.pretraining.batches import PretrainingBatches
from electra.common.pretraining.masking import IGNORE_INDEX

PAD, CLS, SEP, MASK = 0, 1, 2, 3
B, L = 4, 32


def tokenize(texts):
    """Word "d12w7." -> id 12 * 1000 + 7 + 10, so every token names its document."""
    return [[int(d) * 1000 + int(w) + 10 for d, w in re.findall(r"d(\d+)w(\d+)", text)] for text in texts]


def document_of(ids):
    return (ids[ids >= 10] - 10) // 1000


def make(source, **changes):
    arguments = dict(cls_id=CLS, sep_id=SEP, pad_id=PAD, mask_id=MASK, batch_size=B, seq_len=L, seed=1,
                     eval_every=5, shuffle_buffer=8)
    arguments.update(changes)
    return PretrainingBatches(source, tokenize, **arguments)


def take(batches, n):
    return [next(batches) for _ in range(n)]


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_batch_layout_and_masking(corpus_dir):
    batch = next(make(corpus_dir))
    assert list(batch) == ["input_ids", "masked_input_ids", "mlm_labels", "masked_positions", "token_type_ids",
                           "attention_mask"]
    assert all(value.shape == (B, L) for value in batch.values())
    assert batch["input_ids"].dtype == np.int32 and batch["masked_positions"].dtype == bool
    ids, chosen = batch["input_ids"], batch["masked_positions"]
    assert (ids[:, 0] == CLS).all() and ((ids == PAD) == (batch["attention_mask"] == 0)).all()
    np.testing.assert_array_equal(batch["mlm_labels"], np.where(chosen, ids, IGNORE_INDEX))
    np.testing.assert_array_equal(batch["masked_input_ids"][~chosen], ids[~chosen])
    assert (chosen.sum(axis=1) >= 1).all() and not chosen[np.isin(ids, [CLS, SEP, PAD])].any()


def test_deterministic_from_seed_and_shuffled(corpus_dir):
    first = take(make(corpus_dir), 10)
    assert_same(first, take(make(corpus_dir), 10))
    other = take(make(corpus_dir, seed=2), 10)
    assert not np.array_equal(first[0]["input_ids"], other[0]["input_ids"])
    unshuffled = take(make(corpus_dir, shuffle_buffer=10_000), 3)
    documents = [document_of(row)[0] for batch in unshuffled for row in batch["input_ids"]]
    assert documents != sorted(documents)


@pytest.mark.parametrize("stop", [1, 3, 7, 12, 16])
def test_resume_continues_the_same_sequence(corpus_dir, stop):
    # windows of about 8 examples, about 48 training examples (12 batches) per epoch
    uninterrupted = take(make(corpus_dir), 24)
    interrupted = make(corpus_dir)
    take(interrupted, stop)
    state = json.loads(json.dumps(interrupted.state_dict()))
    resumed = make(corpus_dir)
    resumed.load_state_dict(state)
    assert_same(take(resumed, 24 - stop), uninterrupted[stop:])
    assert resumed.state_dict()["batches"] == 24


def test_epochs_repeat_with_new_order(corpus_dir):
    batches = make(corpus_dir, shuffle_buffer=10_000)
    rows_by_epoch = {0: [], 1: [], 2: []}
    while batches.state_dict()["epoch"] < 2:
        rows = [tuple(row) for row in next(batches)["input_ids"]]
        rows_by_epoch[batches.state_dict()["epoch"]] += rows  # a batch across epochs counts in the later
    first, second = rows_by_epoch[0], rows_by_epoch[1]
    assert len(set(first)) == len(first) > 40  # no example twice within an epoch
    assert first[:8] != second[:8]


def test_eval_split_is_held_out_and_fixed(corpus_dir):
    train_documents = {d for b in take(make(corpus_dir), 30) for d in document_of(b["input_ids"])}
    evaluation = make(corpus_dir, split="eval")
    first_pass = list(evaluation)
    eval_documents = {d for b in first_pass for d in document_of(b["input_ids"])}
    assert eval_documents and eval_documents <= set(range(0, 40, 5))
    assert not train_documents & eval_documents
    assert_same(first_pass, list(evaluation))  # the next pass gives the same batches, masks included


def test_corpus_too_small_for_one_batch(corpus_dir):
    with pytest.raises(ValueError, match=r"corpus too small for one batch: \d+ eval examples .* batch_size 64") as error:
        list(make(corpus_dir, split="eval", batch_size=64))
    assert f"from {corpus_dir}, batch_size" in str(error.value)  # the path as written, not a list's repr
    with pytest.raises(ValueError, match=r"corpus too small for one batch: \d+ train examples .* batch_size 500"):
        next(make(corpus_dir, batch_size=500))


def test_bad_arguments_and_state(corpus_dir):
    with pytest.raises(ValueError, match="split must be one of"):
        make(corpus_dir, split="test")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        make(corpus_dir, batch_size=0)
    with pytest.raises(ValueError, match="eval_every=1"):
        make(corpus_dir, eval_every=1)
    with pytest.raises(ValueError, match="state of seed 1.* iterator of seed 2"):
        make(corpus_dir, seed=2).load_state_dict(make(corpus_dir).state_dict())
    with pytest.raises(FileNotFoundError, match="missing"):
        make(corpus_dir / "missing")


def test_austen(data_dir):
    batches = PretrainingBatches(
        data_dir / "austen", lambda texts: [[10 + len(w) for w in t.split()] for t in texts], cls_id=CLS,
        sep_id=SEP, pad_id=PAD, mask_id=MASK, batch_size=16, seq_len=128, shuffle_buffer=500,
    )
    batch = next(batches)
    assert batch["input_ids"].shape == (16, 128) and batch["masked_positions"].sum() >= 16
