"""Batches built ahead of the training step in a background thread.

`electra pretrain` builds each batch on the host (tokenizing, packing and masking in NumPy)
and then runs the step; without prefetching the device waits for the host every step.
`Prefetcher` runs the batch source in a thread and keeps up to `depth` batches waiting in a
bounded queue. The tokenizer (Rust) and the frameworks' kernels release the GIL, so the
two overlap.

Neither the order nor a resumed run changes: the batches come out in the source's order, and
`state_dict()` is the source's position after the last batch *handed out* (each queued batch
carries the position after it), not after the last one built ahead, so a checkpoint resumes
at the first batch the trainer has not consumed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_DONE = object()  # the source is exhausted (StopIteration)


class StagedBatch(dict):
    """A batch's host arrays (the dict itself, what the step's host-side checks and counts
    read) plus `device`: the same arrays already given to the device by a trainer's `stage`,
    in the prefetching thread, ahead of the step that uses them."""

    def __init__(self, host: dict, device: Any):
        super().__init__(host)
        self.device = device


class Prefetcher:
    """Iterates over `source` (an iterator with `state_dict`/`load_state_dict`, such as
    `PretrainingBatches`), `depth` batches ahead.

    Args:
        source: the batch iterator; after the first `next` only the worker thread touches it.
        depth: batches built ahead (>= 1).
        transform: applied to each batch in the worker thread (e.g. choosing the model's inputs).

    An exception raised by the source (or `transform`) is raised by the `next` call that
    would have returned that batch. `close()` stops the thread; `load_state_dict` closes it,
    repositions the source and starts again on the next `next`.
    """

    def __init__(self, source, depth: int = 2, transform: Callable[[Any], Any] | None = None):
        if depth < 1:
            raise ValueError(f"prefetch depth must be >= 1, got {depth}")
        self.source, self.depth, self.transform = source, depth, transform
        self._state = source.state_dict()
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        if self._thread is None:
            self._start()
        item, state, error = self._queue.get()
        if error is not None:
            self.close()
            raise error
        if item is _DONE:
            self.close()
            raise StopIteration
        self._state = state
        return item

    def state_dict(self) -> dict:
        """The source's position after the last batch returned by `next`."""
        return self._state

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state` (a `state_dict()` of this source or of the source itself)."""
        self.close()
        self.source.load_state_dict(state)
        self._state = self.source.state_dict()

    def close(self) -> None:
        """Stop the worker thread and drop the batches built ahead; the source is left at the
        position of the last batch built, so `load_state_dict` is needed before iterating again."""
        if self._thread is None:
            return
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a worker waiting on a full queue
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
        self._thread = self._queue = None
        self._stop = threading.Event()

    def __del__(self):
        if getattr(self, "_thread", None) is not None:  # not when __init__ refused its arguments
            self.close()

    def _start(self) -> None:
        self._queue = queue.Queue(maxsize=self.depth)
        self._thread = threading.Thread(target=self._work, args=(self._queue, self._stop), name="electra-prefetch", daemon=True)
        self._thread.start()

    def _work(self, out: queue.Queue, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                batch = next(self.source)
                item = (self.transform(batch) if self.transform else batch), self.source.state_dict(), None
            except StopIteration:
                item = _DONE, None, None
            except BaseException as error:  # handed to the consumer, raised there
                item = None, None, error
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.05)
                    break
                except queue.Full:
                    pass
            if item[0] is _DONE or item[2] is not None:
                return
