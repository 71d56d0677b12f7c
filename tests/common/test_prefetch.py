"""`Prefetcher`: batches built ahead in a thread, in the source's order, with the position of
the last batch consumed (so a resumed run is the uninterrupted one)."""

from __future__ import annotations

import threading
import time

import pytest

from electra.common.pretraining.prefetch import Prefetcher

from .test_batches import assert_same, make, take


@pytest.mark.parametrize("depth", [1, 3])
def test_same_batches_and_the_consumed_position(corpus_dir, depth):
    plain = make(corpus_dir)
    expected, states = [], []
    for _ in range(12):
        expected.append(next(plain))
        states.append(plain.state_dict())
    feed = Prefetcher(make(corpus_dir), depth=depth)
    got = []
    for i in range(12):
        got.append(next(feed))
        time.sleep(0.01)  # let the worker run ahead
        assert feed.state_dict() == states[i]  # not the position of a batch built ahead
    assert_same(got, expected)
    feed.close()


def test_resume_from_a_prefetched_state_continues_the_sequence(corpus_dir):
    expected = take(make(corpus_dir), 10)
    feed = Prefetcher(make(corpus_dir), depth=2)
    first = take(feed, 4)
    time.sleep(0.05)
    state = feed.state_dict()
    feed.close()
    resumed = Prefetcher(make(corpus_dir), depth=2)
    resumed.load_state_dict(state)
    assert_same(first + take(resumed, 6), expected)
    # load_state_dict on a running prefetcher repositions it too.
    resumed.load_state_dict(state)
    assert_same(take(resumed, 2), expected[4:6])
    resumed.close()


def test_transform_runs_ahead_and_an_eval_pass_ends(corpus_dir):
    plain = list(make(corpus_dir, split="eval"))
    feed = Prefetcher(make(corpus_dir, split="eval"), depth=2, transform=lambda b: {"ids": b["input_ids"]})
    got = list(feed)
    assert [g["ids"].tolist() for g in got] == [p["input_ids"].tolist() for p in plain]
    assert [g["ids"].tolist() for g in feed] == [p["input_ids"].tolist() for p in plain]  # a second pass


class Failing:
    def __init__(self, fail_at):
        self.n, self.fail_at = 0, fail_at

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]

    def __next__(self):
        if self.n == self.fail_at:
            raise ValueError("corpus too small for one batch")
        self.n += 1
        return self.n


def test_an_error_reaches_the_consumer_at_its_batch_and_the_thread_stops():
    feed = Prefetcher(Failing(fail_at=3), depth=4)
    assert [next(feed) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ValueError, match="corpus too small"):
        next(feed)
    assert feed._thread is None
    assert not any(t.name == "electra-prefetch" and t.is_alive() for t in threading.enumerate() if t is not threading.current_thread())


def test_close_stops_a_worker_waiting_on_a_full_queue_and_bad_depth_is_refused():
    feed = Prefetcher(Failing(fail_at=10**9), depth=1)
    assert next(feed) == 1
    time.sleep(0.05)
    thread = feed._thread
    feed.close()
    assert not thread.is_alive() and feed.state_dict() == {"n": 1}
    with pytest.raises(ValueError, match="prefetch depth must be >= 1, got 0"):
        Prefetcher(Failing(0), depth=0)
