"""Padding of encoded rows, and the tokenizer's `pad` (what HF's data collators call).

As HF 4.57's `PreTrainedTokenizerBase.pad` / `_pad`: rows are padded on `padding_side` to the
longest row or to `max_length`, rounded up to `pad_to_multiple_of`; `input_ids` get the pad id,
`token_type_ids` 0, `attention_mask` 0, `special_tokens_mask` 1 (and, from a tokenizer call,
`offset_mapping` (0, 0)). Other columns (a collator's `label`) are passed through.
"""

from electra.common.tokenizers import encoding
from electra.common.tokenizers.encoding import BatchEncoding

PADDING_SIDES = ("right", "left")
# Modules whose arrays `pad` accepts, and the `return_tensors` they default to (as HF).
_TENSOR_MODULES = {"numpy": "np", "torch": "pt", "tensorflow": "tf", "jax": "jax", "jaxlib": "jax"}


def check_padding_options(pad_to_multiple_of, padding_side) -> None:
    """Raise ValueError for a `pad_to_multiple_of` that is not a positive int or an unknown `padding_side`."""
    if pad_to_multiple_of is not None and (isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int)
                                           or pad_to_multiple_of < 1):
        raise ValueError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {PADDING_SIDES}, got {padding_side!r}")


def pad_rows(columns: dict, strategy: str, max_length: int | None, pad_values: dict, *,
             pad_to_multiple_of: int | None = None, padding_side: str = "right") -> None:
    """Pad every row of the columns named in `pad_values`, in place.

    Args:
        columns: name -> list of rows (lists); columns missing from `pad_values` are left alone.
        strategy: "longest", "max_length" or "do_not_pad".
        max_length: the target length for "max_length" (longer rows are left as they are).
        pad_values: name -> the value that pads that column's rows.
        pad_to_multiple_of: round the target length up to a multiple of this.
        padding_side: "right" or "left".
    """
    rows = columns["input_ids"]
    if strategy == "do_not_pad" or not rows:
        return
    target = max(map(len, rows)) if strategy == "longest" else max_length
    if pad_to_multiple_of is not None and target % pad_to_multiple_of:
        target += pad_to_multiple_of - target % pad_to_multiple_of
    for name, column in columns.items():
        if name not in pad_values:
            continue
        for row in column:
            if len(row) < target:
                filler = [pad_values[name]] * (target - len(row))
                if padding_side == "left":
                    row[:0] = filler
                else:
                    row.extend(filler)


def _as_lists(value):
    """A NumPy/PyTorch/TensorFlow/JAX array as nested lists; lists are returned as they are."""
    if hasattr(value, "numpy") and not hasattr(value, "tolist"):
        value = value.numpy()
    return value.tolist() if hasattr(value, "tolist") else value


def _tensor_kind(value) -> str | None:
    """The `return_tensors` name of an array's framework, None for Python lists and ints."""
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    if isinstance(value, (int, list, tuple)):
        return None
    return _TENSOR_MODULES.get(type(value).__module__.split(".")[0])


def pad(tokenizer, encoded_inputs, padding=True, max_length: int | None = None, pad_to_multiple_of: int | None = None,
        padding_side: str | None = None, return_attention_mask: bool | None = None,
        return_tensors: str | None = None) -> BatchEncoding:
    """Pad one encoded row or a batch of them, as HF's `tokenizer.pad`.

    Args:
        tokenizer: gives `pad_token_id`, `padding_side` and `model_max_length`.
        encoded_inputs: a dict of one row (lists of ids) or of a batch (lists of lists), or a
            list of such dicts (a collator's features); values may be arrays.
        padding, max_length, pad_to_multiple_of, padding_side: as in the tokenizer's `__call__`.
        return_attention_mask: add `attention_mask` where missing (default True).
        return_tensors: None, "np", "pt", "tf" or "jax"; defaults to the framework of the
            input arrays, as HF.

    Returns:
        A BatchEncoding with the padded columns.

    Raises:
        ValueError: no `input_ids`, columns of different batch sizes, a bad padding option.
    """
    if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
        missing = [index for index, row in enumerate(encoded_inputs) if set(row) != set(encoded_inputs[0])]
        if missing:
            raise ValueError(f"pad: feature {missing[0]} has keys {sorted(encoded_inputs[missing[0]])}, "
                             f"feature 0 has {sorted(encoded_inputs[0])}")
        encoded_inputs = {key: [row[key] for row in encoded_inputs] for key in encoded_inputs[0]}
    if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
        found = sorted(encoded_inputs) if isinstance(encoded_inputs, dict) else type(encoded_inputs).__name__
        raise ValueError(f"pad needs an encoding (or a list of encodings) with input_ids, got {found}")
    padding_side = tokenizer.padding_side if padding_side is None else padding_side
    check_padding_options(pad_to_multiple_of, padding_side)
    if return_tensors is None:
        return_tensors = _tensor_kind(encoded_inputs["input_ids"])
    columns = {name: _as_lists(value) for name, value in encoded_inputs.items()}
    if not columns["input_ids"]:
        return BatchEncoding({**columns, **({"attention_mask": []} if return_attention_mask else {})})
    single = not isinstance(columns["input_ids"][0], (list, tuple))
    if single:
        columns = {name: [value] for name, value in columns.items()}
    sizes = {name: len(value) for name, value in columns.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"pad: the columns have different batch sizes {sizes}")
    columns = {name: [list(row) for row in rows] if name in encoding.TOKEN_COLUMNS else rows
               for name, rows in columns.items()}
    if return_attention_mask is not False and "attention_mask" not in columns:
        columns["attention_mask"] = [[1] * len(row) for row in columns["input_ids"]]
    strategy, max_length = tokenizer.padding_and_max_length(padding, max_length)
    pad_rows(columns, strategy, max_length, tokenizer.pad_values(), pad_to_multiple_of=pad_to_multiple_of,
             padding_side=padding_side)
    if return_tensors is not None:
        return BatchEncoding(encoding.to_tensors(columns, return_tensors))
    return BatchEncoding({name: rows[0] for name, rows in columns.items()} if single else columns)
