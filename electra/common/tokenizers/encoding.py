"""Model inputs from token ids: the output type, truncation (with overflowing windows) and tensors.

The rules are those of HF's `BertTokenizerFast` (the Rust `tokenizers` library); HF's slow
`BertTokenizer` splits a pair cut by "longest_first" differently (`longest_first_lengths_slow`,
which our slow tokenizer uses) and only logs impossible truncations (we raise).
"""

import importlib
from dataclasses import dataclass

import numpy as np

PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
# return_tensors -> (module to import, what builds a tensor from an int64 NumPy array). HF's
# dtypes: int64 for NumPy and PyTorch, int32 for TensorFlow and JAX.
_TENSOR_BUILDERS = {
    "np": (None, lambda module, array: array),
    "pt": ("torch", lambda torch, array: torch.from_numpy(array)),
    "tf": ("tensorflow", lambda tf, array: tf.constant(_int32(array))),
    "jax": ("jax.numpy", lambda jnp, array: jnp.asarray(_int32(array))),
}
# Columns with one value per token (padded, and shaped (B, L) as tensors).
TOKEN_COLUMNS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")


def _int32(array: np.ndarray) -> np.ndarray:
    """Integer arrays as int32 (HF's dtype for TensorFlow and JAX), others unchanged."""
    return array.astype(np.int32) if array.dtype.kind in "iu" else array


class BatchEncoding(dict):
    """The tokenizer's output: a dict of model inputs whose keys are also attributes.

    `enc["input_ids"]` and `enc.input_ids` are the same object. As HF's fast encodings, it also
    tells each token's string (`tokens`), input word (`word_ids`) and sequence (`sequence_ids`).
    """

    def __init__(self, data=None, *, tokens=None, details=None):
        """Args:
            data: the model inputs.
            tokens: row -> token strings (a callable), or None where unknown (`pad`).
            details: per row (word ids, sequence ids), or a callable returning them when asked.
        """
        super().__init__(data or {})
        self._tokens, self._details = tokens, details

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key):
        """A column by name, or (an int) one row as a `tokenizers.Encoding`-like `RowEncoding`,
        as HF's fast `BatchEncoding` gives (its question-answering pipeline reads rows so)."""
        if isinstance(key, int):
            return RowEncoding(self, key)
        return super().__getitem__(key)

    def _row_details(self, batch_index: int) -> tuple[list, list]:
        if self._details is None:
            raise ValueError("this BatchEncoding was not made by a tokenizer call: it has no word or token details")
        if callable(self._details):
            self._details = self._details()
        return self._details[batch_index]

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of row `batch_index` (padding included)."""
        if self._tokens is None:
            raise ValueError("this BatchEncoding was not made by a tokenizer call: it has no tokens")
        return self._tokens(batch_index)

    def word_ids(self, batch_index: int = 0) -> list:
        """Per token of row `batch_index`, the index of the input word it comes from (None for special and padding)."""
        return list(self._row_details(batch_index)[0])

    def sequence_ids(self, batch_index: int = 0) -> list:
        """Per token of row `batch_index`: 0 for the first text, 1 for the second, None for special and padding."""
        return list(self._row_details(batch_index)[1])


class RowEncoding:
    """Row `row` of a `BatchEncoding`, read through the part of `tokenizers.Encoding`'s API
    that HF's pipelines use: `ids`, `tokens`, `offsets`, `word_ids`, `sequence_ids`,
    `token_to_word`, `token_to_sequence`, `word_to_tokens` and `word_to_chars`."""

    def __init__(self, batch: BatchEncoding, row: int):
        rows = len(batch["input_ids"])
        if not -rows <= row < rows:
            raise IndexError(f"row {row} of a BatchEncoding of {rows} rows")
        self._batch, self._row = batch, row % rows

    def _column(self, name: str) -> list:
        if name not in self._batch:
            raise ValueError(f"the encoding has no {name!r}" + (" (pass return_offsets_mapping=True)" if name == "offset_mapping" else ""))
        return np.asarray(self._batch[name][self._row]).tolist()

    @property
    def ids(self) -> list[int]:
        return self._column("input_ids")

    @property
    def type_ids(self) -> list[int]:
        return self._column("token_type_ids")

    @property
    def attention_mask(self) -> list[int]:
        return self._column("attention_mask")

    @property
    def offsets(self) -> list[tuple[int, int]]:
        return [tuple(span) for span in self._column("offset_mapping")]

    @property
    def tokens(self) -> list[str]:
        return self._batch.tokens(self._row)

    @property
    def word_ids(self) -> list:
        return self._batch.word_ids(self._row)

    @property
    def sequence_ids(self) -> list:
        return self._batch.sequence_ids(self._row)

    def __len__(self) -> int:
        return len(self.ids)

    def token_to_word(self, token: int) -> int | None:
        return self.word_ids[token]

    def token_to_sequence(self, token: int) -> int | None:
        return self.sequence_ids[token]

    def word_to_tokens(self, word: int, sequence_index: int = 0) -> tuple[int, int] | None:
        """(first token, last token + 1) of the word, or None."""
        hits = [i for i, (w, s) in enumerate(zip(self.word_ids, self.sequence_ids)) if w == word and s == sequence_index]
        return (hits[0], hits[-1] + 1) if hits else None

    def word_to_chars(self, word: int, sequence_index: int = 0) -> tuple[int, int] | None:
        """(start, end) characters of the word in its text, or None."""
        span = self.word_to_tokens(word, sequence_index)
        if span is None:
            return None
        offsets = self.offsets
        return offsets[span[0]][0], offsets[span[1] - 1][1]


@dataclass
class Piece:
    """Token ids of one text without special tokens, with their (start, end) character offsets and
    input word indices, each None when not computed."""

    ids: list
    offsets: list | None
    words: list | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def window(self, start: int, stop: int) -> "Piece":
        """Tokens `start:stop`."""
        if start == 0 and stop >= len(self.ids):
            return self
        return Piece(self.ids[start:stop], None if self.offsets is None else self.offsets[start:stop],
                     None if self.words is None else self.words[start:stop])

    def truncated(self, length: int) -> "Piece":
        """The first `length` tokens."""
        return self.window(0, length)

    def windows(self, length: int, stride: int) -> list["Piece"]:
        """The first `length` tokens, then the overflowing windows as `tokenizers` makes them.

        Each window starts `length - stride` tokens after the previous one; with `length` 0 the
        whole text is one overflowing window after an empty one.
        """
        if length >= len(self.ids):
            return [self]
        if length == 0:
            return [self.window(0, 0), self]
        step, parts = length - stride, []
        for start in range(0, len(self.ids), step):
            parts.append(self.window(start, start + length))
            if start + length >= len(self.ids):
                return parts
        return parts


def join_words(pieces: list[Piece]) -> Piece:
    """One text's Piece from the Pieces of its pre-split words (word ids are the word positions)."""
    ids, offsets, words = [], [], []
    for index, piece in enumerate(pieces):
        ids += piece.ids
        words += [index] * len(piece.ids)
        if piece.offsets is not None:
            offsets += piece.offsets
    return Piece(ids, offsets if all(piece.offsets is not None for piece in pieces) else None, words)


def padding_strategy(padding) -> str:
    """Resolve `padding` (True, False, None or a strategy name) to a strategy name.

    Raises:
        ValueError: an unknown strategy.
    """
    if padding is True:
        return "longest"
    if padding is False or padding is None:
        return "do_not_pad"
    if isinstance(padding, str) and padding in PADDING_STRATEGIES:
        return padding
    raise ValueError(f"padding={padding!r} is not one of True, False, {', '.join(map(repr, PADDING_STRATEGIES))}")


def truncation_strategy(truncation, max_length, padding: str) -> str:
    """Resolve `truncation` (True, False, None or a strategy name) to a strategy name.

    As in HF, `truncation=None` with a `max_length` and no padding means "longest_first".

    Raises:
        ValueError: an unknown strategy.
    """
    if truncation is None:
        return "longest_first" if max_length is not None and padding == "do_not_pad" else "do_not_truncate"
    if truncation is True:
        return "longest_first"
    if truncation is False:
        return "do_not_truncate"
    if isinstance(truncation, str) and truncation in TRUNCATION_STRATEGIES:
        return truncation
    raise ValueError(
        f"truncation={truncation!r} is not one of True, False, {', '.join(map(repr, TRUNCATION_STRATEGIES))}"
    )


def longest_first_lengths_fast(len_a: int, len_b: int, limit: int) -> tuple[int, int]:
    """Lengths to keep of a pair so that they fit `limit`, as `tokenizers` (HF's fast tokenizer) computes them.

    The longer text is cut down to the shorter one's length first; if both must be cut, the
    first text keeps `limit // 2` tokens when it is the shorter one (or equal), else the rest.
    """
    short, long = sorted((len_a, len_b))
    long_keep = short if short > limit else max(short, limit - short)
    short_keep = short
    if short + long_keep > limit:
        short_keep = limit // 2
        long_keep = short_keep + limit % 2
    return (short_keep, long_keep) if len_a <= len_b else (long_keep, short_keep)


def longest_first_lengths_slow(len_a: int, len_b: int, limit: int) -> tuple[int, int]:
    """Lengths to keep of a pair so that they fit `limit`, as HF's slow `truncate_sequences` computes them.

    The longer text is cut down to the shorter one's length first; what is left to remove is
    split evenly, the odd token coming off the second text.
    """
    remove = len_a + len_b - limit
    uneven = min(abs(len_a - len_b), remove)
    even = remove - uneven
    if len_a > len_b:
        cut_a, cut_b = uneven + even // 2, even - even // 2
    else:
        cut_a, cut_b = even // 2, uneven + even - even // 2
    return max(len_a - cut_a, 0), max(len_b - cut_b, 0)


def _windows(piece: Piece, keep: int, stride: int, row: int) -> list[Piece]:
    """`piece.windows(keep, stride)`, refusing a stride that would not move the window."""
    if 0 < keep < len(piece) and stride >= keep:
        raise ValueError(f"row {row}: stride={stride} must be smaller than the {keep} tokens a truncated text "
                         "keeps (max_length less the special tokens and the other text)")
    return piece.windows(keep, stride)


def truncate(first: Piece, second: Piece | None, limit: int, strategy: str, row: int, *, stride: int = 0,
             pair_lengths=longest_first_lengths_fast) -> list[tuple[Piece, Piece | None]]:
    """Cut a text (or pair) to at most `limit` tokens in total, keeping what overflows as more rows.

    Args:
        first, second: the texts' tokens (second is None for a single text).
        limit: tokens allowed, special tokens excluded.
        strategy: a truncation strategy name.
        row: the row's index in the batch, for error messages.
        stride: tokens each overflowing window repeats from the one before.
        pair_lengths: how "longest_first" splits `limit` between the two texts of a pair.

    Returns:
        The (first, second) rows: the truncated text first, then the overflowing windows in the
        order of HF's fast tokenizer (each window of the first text with each of the second).

    Raises:
        ValueError: the strategy cannot reach `limit` ("only_first"/"only_second" would have to
            remove the whole text, or "only_second" is asked for a single text), or a stride
            that does not fit the kept length.
    """
    excess = len(first) + (len(second) if second is not None else 0) - limit
    if strategy == "do_not_truncate" or excess <= 0:
        return [(first, second)]
    if strategy == "only_second" and second is None:
        raise ValueError(f"row {row}: truncation='only_second' needs a text pair, this row is a single text")
    if strategy == "longest_first":
        keep_first, keep_second = (limit, 0) if second is None else pair_lengths(len(first), len(second), limit)
    else:
        target, which = (first, "first") if strategy == "only_first" else (second, "second")
        if len(target) <= excess:
            raise ValueError(
                f"row {row}: truncation={strategy!r} must remove {excess} tokens but the {which} text has only "
                f"{len(target)}; use a larger max_length or truncation='longest_first'"
            )
        keep_first = len(first) - excess if strategy == "only_first" else len(first)
        keep_second = len(second) - excess if strategy == "only_second" else len(second or ())
    firsts = _windows(first, keep_first, stride, row)
    seconds = [None] if second is None else _windows(second, keep_second, stride, row)
    rows = [(firsts[0], seconds[0])]
    for part in firsts[1:]:
        rows += [(part, other) for other in seconds]
    return rows + [(firsts[0], other) for other in seconds[1:]]


def to_tensors(columns: dict, return_tensors: str) -> dict:
    """Stack equal-length rows into (B, L) tensors ((B, L, 2) for offsets) of the asked framework.

    Columns of one value per row (`length`, `overflow_to_sample_mapping`, a collator's `labels`)
    become (B,) tensors; integers are int64 (int32 for TensorFlow and JAX, as HF).

    Raises:
        ValueError: rows of different lengths (padding is needed), or an unknown `return_tensors`.
    """
    if return_tensors not in _TENSOR_BUILDERS:
        raise ValueError(f"return_tensors={return_tensors!r} is not one of None, {', '.join(map(repr, _TENSOR_BUILDERS))}")
    lengths = sorted({len(row) for row in columns["input_ids"]})
    if len(lengths) > 1:
        raise ValueError(
            f"return_tensors={return_tensors!r} needs rows of one length, got lengths {lengths[0]}..{lengths[-1]}; "
            "pass padding=True or padding='max_length'"
        )
    module_name, build = _TENSOR_BUILDERS[return_tensors]
    module = importlib.import_module(module_name) if module_name else None
    batch, length = len(columns["input_ids"]), (lengths[0] if lengths else 0)
    tensors = {}
    for name, rows in columns.items():
        try:
            array = np.asarray(rows)
        except ValueError as error:
            raise ValueError(f"return_tensors={return_tensors!r}: column {name!r} has rows of different lengths") from error
        if array.dtype == object:
            raise ValueError(f"return_tensors={return_tensors!r}: column {name!r} has rows of different lengths")
        if name in TOKEN_COLUMNS:
            array = array.reshape((batch, length, 2) if name == "offset_mapping" else (batch, length))
        tensors[name] = build(module, array.astype(np.int64) if array.dtype.kind in "iub" else array)
    return tensors
