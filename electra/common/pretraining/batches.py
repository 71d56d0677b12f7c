"""The streaming, resumable source of ELECTRA pretraining batches (NumPy, no framework).

Pipeline: `corpus.Corpus` documents -> train/eval split by document ordinal -> windows of
about `shuffle_buffer` packed examples (`packing.tokenize_documents`, then
`packing.pack_examples`) -> each training window shuffled -> fixed-size batches -> dynamic
masking (`masking.mask_batch`). From `shards.Shards` (written by `electra prepare-data`)
the documents come already tokenized and the rest is the same: the same batches, the same
positions.

Every random choice comes from a generator seeded by (seed, split, epoch, window) or
(seed, split, batch number), so the batch sequence is a pure function of the seed, and the
position after any batch is a handful of integers: the window's first document start, the
examples already taken from it, the epoch and the batch count. Resuming rebuilds that one
window and continues with the same batches as an uninterrupted run. Memory is bounded by
one window (`shuffle_buffer` examples, plus the examples of the last document read).

The shuffle permutes examples within a window; windows follow corpus order, so with a
small `shuffle_buffer` the batches of one epoch still move through the corpus in order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from electra.common.pretraining.corpus import Corpus, DocumentStart, PathLike
from electra.common.pretraining.masking import DEFAULT_MASK_PROB, mask_batch
from electra.common.pretraining.packing import TokenizeBatch, pack_examples, tokenize_documents
from electra.common.pretraining.shards import Shards

SPLITS = {"train": 0, "eval": 1}  # split -> its seed component
CHUNK_CHARACTERS = 200_000  # documents are tokenized in calls of at most about this much text
_WINDOW_STREAM, _MASK_STREAM = 0, 1  # seed components that keep the two random streams apart
INITIAL_STATE = {"epoch": 0, "window": 0, "start": None, "taken": 0, "batches": 0}


class PretrainingBatches:
    """Endless (train) or single-pass (eval) iterator of masked pretraining batches.

    Args:
        sources: corpus files and folders (see `corpus.Corpus`), a `Corpus`, or `Shards`
            (pre-tokenized with the tokenizer `tokenize_batch` would be).
        tokenize_batch: texts -> token ids without special tokens (unused with `Shards`).
        cls_id, sep_id, pad_id, mask_id: special token ids.
        batch_size: B.
        seq_len: L.
        seed: determines the packing, the order and the masks.
        split: "train" (shuffled, repeats epochs forever) or "eval" (corpus order, one pass
            per `for` loop, the last partial batch dropped, the same masks every pass).
        eval_every: documents whose ordinal is a multiple of this form the "eval" split;
            the others the "train" split.
        shuffle_buffer: examples per shuffled window.
        mask_prob, max_predictions: as `masking.mask_batch`.

    Yields:
        dicts of (B, L) arrays: "input_ids" (the original tokens, int32), "masked_input_ids"
        (the generator's input), "mlm_labels" (original id at masked positions, -100
        elsewhere), "masked_positions" (bool), "token_type_ids", "attention_mask".

    Raises:
        ValueError: bad arguments, an unreadable corpus (see `corpus.Corpus`), or an epoch
            with fewer examples than `batch_size` ("corpus too small for one batch").
    """

    def __init__(
        self,
        sources: PathLike | Sequence[PathLike] | Corpus | Shards,
        tokenize_batch: TokenizeBatch | None,
        *,
        cls_id: int,
        sep_id: int,
        pad_id: int,
        mask_id: int,
        batch_size: int,
        seq_len: int,
        seed: int = 0,
        split: str = "train",
        eval_every: int = 20,
        shuffle_buffer: int = 10_000,
        mask_prob: float = DEFAULT_MASK_PROB,
        max_predictions: int | None = None,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        sizes = {"batch_size": batch_size, "eval_every": eval_every, "shuffle_buffer": shuffle_buffer}
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if eval_every == 1 and split == "train":
            raise ValueError("eval_every=1 puts every document in the eval split, leaving none to train on")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.corpus = sources if isinstance(sources, (Corpus, Shards)) else Corpus(sources)
        if tokenize_batch is None and not isinstance(self.corpus, Shards):
            raise ValueError("tokenize_batch is needed to read text; only Shards come tokenized")
        self.tokenize_batch = tokenize_batch
        self.cls_id, self.sep_id, self.pad_id, self.mask_id = cls_id, sep_id, pad_id, mask_id
        self.batch_size, self.seq_len, self.seed, self.split = batch_size, seq_len, seed, split
        self.eval_every, self.shuffle_buffer = eval_every, shuffle_buffer
        self.mask_prob, self.max_predictions = mask_prob, max_predictions
        self._state = dict(INITIAL_STATE)
        self._stream: Iterator[dict[str, np.ndarray]] | None = None

    def state_dict(self) -> dict:
        """The position after the last batch returned, as JSON-compatible ints (and `seed`)."""
        return {"seed": self.seed, "split": self.split, **self._state}

    def load_state_dict(self, state: dict) -> None:
        """Continues from `state_dict()` of an iterator over the same corpus and arguments."""
        if state.get("seed") != self.seed or state.get("split") != self.split:
            raise ValueError(
                f"state of seed {state.get('seed')}, split {state.get('split')!r} loaded into an iterator "
                f"of seed {self.seed}, split {self.split!r}"
            )
        start = state["start"]
        self._state = {
            "epoch": int(state["epoch"]),
            "window": int(state["window"]),
            "start": None if start is None else [int(value) for value in start],
            "taken": int(state["taken"]),
            "batches": int(state["batches"]),
        }
        self._stream = None

    def __iter__(self) -> PretrainingBatches:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._stream is None:
            self._stream = self._batches()
        try:
            return next(self._stream)
        except StopIteration:  # the end of an eval pass: the next loop starts a new one
            self._state, self._stream = dict(INITIAL_STATE), None
            raise

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        """Batches from `self._state` on, updating it as each batch is handed out."""
        epoch, window, start, taken = (self._state[key] for key in ("epoch", "window", "start", "taken"))
        batches = self._state["batches"]
        pieces: list[dict[str, np.ndarray]] = []
        pending = 0  # examples in `pieces`
        while True:
            whole_epoch, epoch_examples = start is None and taken == 0, 0
            for window, start, examples in self._windows(epoch, window, start):
                count = len(examples["input_ids"])
                epoch_examples += count
                while taken < count:
                    step = min(self.batch_size - pending, count - taken)
                    pieces.append({key: value[taken : taken + step] for key, value in examples.items()})
                    pending, taken = pending + step, taken + step
                    if pending == self.batch_size:
                        batch = {key: np.concatenate([piece[key] for piece in pieces]) for key in pieces[0]}
                        pieces, pending, batches = [], 0, batches + 1
                        self._state = dict(epoch=epoch, window=window, start=start, taken=taken, batches=batches)
                        yield self._masked(batch, batches - 1)
                taken = 0
            if whole_epoch and epoch_examples < self.batch_size:
                raise ValueError(
                    f"corpus too small for one batch: {epoch_examples} {self.split} examples of length "
                    f"{self.seq_len} from {', '.join(str(source) for source in self.corpus.sources)}, batch_size {self.batch_size}"
                )
            if self.split == "eval":
                return
            epoch, window, start = epoch + 1, 0, None

    def _windows(
        self, epoch: int, window: int, start: list[int] | None
    ) -> Iterator[tuple[int, list[int] | None, dict[str, np.ndarray]]]:
        """(window number, its first document start, its examples) from `start` to the epoch's end.

        A window is whole documents gathered until they pack into `shuffle_buffer` examples;
        its packing and shuffle draw from a generator seeded by (seed, split, epoch, window).
        The first window of an epoch has start None (the corpus' beginning).
        """
        documents = self.corpus.documents(None if start is None else DocumentStart(*start))
        # A window closes between tokenizer calls; calls of at most shuffle_buffer x L
        # characters (fewer tokens, so fewer examples) keep small windows near their size.
        chunk_characters = min(CHUNK_CHARACTERS, self.shuffle_buffer * self.seq_len)
        document = next(documents, None)
        while document is not None:
            rng = np.random.default_rng([self.seed, SPLITS[self.split], _WINDOW_STREAM, epoch, window])
            parts, count = [], 0
            while document is not None and count < self.shuffle_buffer:
                chunk, characters = [], 0
                while document is not None and characters < chunk_characters:
                    if (document.start.index % self.eval_every == 0) == (self.split == "eval"):
                        chunk.append(document)
                        characters += document.characters
                    document = next(documents, None)
                if chunk:
                    parts.append(self._pack(chunk, rng))
                    count += len(parts[-1]["input_ids"])
            if not parts:  # the documents left hold none of this split
                return
            examples = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
            if self.split == "train":
                order = rng.permutation(count)
                examples = {key: value[order] for key, value in examples.items()}
            yield window, start, examples
            window += 1
            start = None if document is None else list(document.start)

    def _pack(self, documents: list, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The examples of `corpus.Document`s (tokenized here) or `shards.TokenizedDocument`s."""
        if isinstance(self.corpus, Shards):
            tokenized = [document.sentences for document in documents]
        else:
            tokenized = tokenize_documents([document.text for document in documents], self.tokenize_batch)
        return pack_examples(
            tokenized,
            rng,
            max_seq_length=self.seq_len,
            cls_id=self.cls_id,
            sep_id=self.sep_id,
            pad_id=self.pad_id,
        )

    def _masked(self, batch: dict[str, np.ndarray], number: int) -> dict[str, np.ndarray]:
        """Adds the masking of batch `number`, drawn from a generator seeded by (seed, split, number)."""
        rng = np.random.default_rng([self.seed, SPLITS[self.split], _MASK_STREAM, number])
        masked_input_ids, mlm_labels, masked_positions = mask_batch(
            batch["input_ids"],
            batch["attention_mask"],
            rng,
            mask_prob=self.mask_prob,
            max_predictions=self.max_predictions,
            special_ids=(self.cls_id, self.sep_id, self.pad_id),
            mask_id=self.mask_id,
        )
        return {
            "input_ids": batch["input_ids"],
            "masked_input_ids": masked_input_ids,
            "mlm_labels": mlm_labels,
            "masked_positions": masked_positions,
            "token_type_ids": batch["token_type_ids"],
            "attention_mask": batch["attention_mask"],
        }
