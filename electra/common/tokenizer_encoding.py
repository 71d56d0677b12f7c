"""Model inputs from token ids: BERT templates, truncation, padding and tensor conversion.

The rules are those of HF's `BertTokenizerFast` (the Rust `tokenizers` library), which the
slow `BertTokenizer` follows too except where noted in `docs/tokenizers.md` (it truncates
pairs of equal length from the first text first, and only logs impossible truncations).
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
    "tf": ("tensorflow", lambda tf, array: tf.constant(array.astype(np.int32))),
    "jax": ("jax.numpy", lambda jnp, array: jnp.asarray(array.astype(np.int32))),
}


class BatchEncoding(dict):
    """The tokenizer's output: a dict of model inputs whose keys are also attributes.

    `enc["input_ids"]` and `enc.input_ids` are the same object.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Piece:
    """Token ids of one text without special tokens, with their (start, end) character offsets or None."""

    ids: list
    offsets: list | None

    def __len__(self) -> int:
        return len(self.ids)

    def truncated(self, length: int) -> "Piece":
        """The first `length` tokens."""
        if length >= len(self.ids):
            return self
        return Piece(self.ids[:length], None if self.offsets is None else self.offsets[:length])


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


def _longest_first_lengths(len_a: int, len_b: int, limit: int) -> tuple[int, int]:
    """Lengths to keep of a pair so that they fit `limit`, as `tokenizers` computes them.

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


def truncate(first: Piece, second: Piece | None, limit: int, strategy: str, row: int) -> tuple[Piece, Piece | None]:
    """Cut a text (or pair) to at most `limit` tokens in total.

    Args:
        first, second: the texts' tokens (second is None for a single text).
        limit: tokens allowed, special tokens excluded.
        strategy: a truncation strategy name.
        row: the row's index in the batch, for error messages.

    Returns:
        The truncated (first, second).

    Raises:
        ValueError: the strategy cannot reach `limit` ("only_first"/"only_second" would have to
            remove the whole text, or "only_second" is asked for a single text).
    """
    excess = len(first) + (len(second) if second is not None else 0) - limit
    if strategy == "do_not_truncate" or excess <= 0:
        return first, second
    if strategy == "longest_first":
        if second is None:
            return first.truncated(limit), None
        keep_first, keep_second = _longest_first_lengths(len(first), len(second), limit)
        return first.truncated(keep_first), second.truncated(keep_second)
    if strategy == "only_second" and second is None:
        raise ValueError(f"row {row}: truncation='only_second' needs a text pair, this row is a single text")
    target, which = (first, "first") if strategy == "only_first" else (second, "second")
    if len(target) <= excess:
        raise ValueError(
            f"row {row}: truncation={strategy!r} must remove {excess} tokens but the {which} text has only "
            f"{len(target)}; use a larger max_length or truncation='longest_first'"
        )
    target = target.truncated(len(target) - excess)
    return (target, second) if strategy == "only_first" else (first, target)


def pad_rows(columns: dict, strategy: str, max_length: int | None, pad_values: dict) -> None:
    """Pad every row of every column on the right, in place.

    Args:
        columns: name -> list of rows (lists).
        strategy: "longest", "max_length" or "do_not_pad".
        max_length: the target length for "max_length" (longer rows are left as they are).
        pad_values: name -> the value appended to that column's rows.
    """
    rows = columns["input_ids"]
    if strategy == "do_not_pad" or not rows:
        return
    target = max(map(len, rows)) if strategy == "longest" else max_length
    for name, column in columns.items():
        value = pad_values[name]
        for row in column:
            if len(row) < target:
                row.extend([value] * (target - len(row)))


def to_tensors(columns: dict, return_tensors: str) -> dict:
    """Stack equal-length rows into (B, L) tensors ((B, L, 2) for offsets) of the asked framework.

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
        shape = (batch, length, 2) if name == "offset_mapping" else (batch, length)
        tensors[name] = build(module, np.asarray(rows, dtype=np.int64).reshape(shape))
    return tensors
