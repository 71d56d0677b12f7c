"""Sequence classification data: texts (or text pairs) with labels from CSV, TSV or JSON Lines.

As HF's `run_glue.py`: a text column, an optional pair column, a label column; the label set
from the training file (`labels.LabelMap`). In CSV and TSV every value is a string: a label
cell holding `|` is a list of labels (`sports|politics`; an empty cell is no label in a
multi-label file), other cells are one label each. In JSON Lines a label is a string, a
number or a list of strings or integers. File formats and line numbers: `tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from electra.common.finetuning.labels import LabelMap
from electra.common.finetuning.tables import column, read_rows

LABEL_SEPARATOR = "|"


@dataclass(frozen=True)
class TextExample:
    """One row: its text (and pair), its raw label (None when the file has no labels) and its line."""

    text: str
    text_pair: str | None
    label: str | int | float | tuple[str, ...] | None
    line: int


def _raw_label(value, where: str, is_table: bool):
    """A cell or JSON value as a raw label: str, int, float, or a tuple of names."""
    if is_table:
        return tuple(part.strip() for part in value.split(LABEL_SEPARATOR) if part.strip()) if LABEL_SEPARATOR in value else value
    if isinstance(value, list):
        if not all(isinstance(item, (str, int)) and not isinstance(item, bool) for item in value):
            raise ValueError(f"{where}: a label list must hold strings or integers, got {value!r:.80}")
        return tuple(str(item) for item in value)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: a label must be a string, a number or a list, got {value!r:.80}")
    return value


def read_text_examples(path: str | Path, *, text_column: str = "text", text_pair_column: str | None = None,
                       label_column: str | None = "label", header: bool = True, file_format: str | None = None
                       ) -> list[TextExample]:
    """Read a classification file.

    Args:
        path: a .csv, .tsv or .jsonl file (see `tables`).
        text_column, text_pair_column: the text and (optional) second-text columns.
        label_column: the label column; None for a file without labels (prediction input).
        header: CSV/TSV: the first row names the columns (else they are "0", "1", ...).
        file_format: "csv", "tsv" or "jsonl" instead of the suffix's.
    Returns:
        The rows in file order.
    Raises:
        ValueError: what `tables.read_rows` raises, a missing column (the columns found are
            listed), a text that is not a string (an empty one is a text), a label of the wrong type.
    """
    columns, rows = read_rows(path, header=header, fmt=file_format)
    is_table = columns is not None
    examples = []
    for row in rows:
        where = f"{path}:{row.line}"
        texts = [column(path, row, name, columns) if name is not None else None for name in (text_column, text_pair_column)]
        for name, text in zip((text_column, text_pair_column), texts):
            if name is not None and not isinstance(text, str):
                raise ValueError(f"{where}: column {name!r} must be a string, got {text!r:.80}")
        label = None if label_column is None else _raw_label(column(path, row, label_column, columns), where, is_table)
        examples.append(TextExample(texts[0], texts[1], label, row.line))
    return examples


def encode_labels(examples: list[TextExample], label_map: LabelMap, source: str | Path) -> np.ndarray:
    """The targets of labeled examples against a label set.

    Returns:
        (N,) int64 class ids, (N,) float32 regression targets, or (N, num_labels) float32 0/1
        multi-label targets.
    Raises:
        ValueError: an example without a label, or one the label set does not hold (file, line, label).
    """
    targets = []
    for example in examples:
        where = f"{source}:{example.line}"
        if example.label is None:
            raise ValueError(f"{where}: the example has no label")
        targets.append(label_map.encode(example.label, where))
    dtype = {"single_label_classification": np.int64}.get(label_map.problem_type, np.float32)
    return np.asarray(targets, dtype=dtype).reshape((len(examples), label_map.num_labels) if
                                                    label_map.problem_type == "multi_label_classification" else (len(examples),))


def tokenize_text_examples(tokenizer, examples: list[TextExample], max_length: int):
    """Token ids of each example (`[CLS] text [SEP] (pair [SEP])`), cut to `max_length` as run_glue does.

    Args:
        tokenizer: an `ElectraTokenizerFast` / `ElectraTokenizer` (or HF's).
        max_length: the most tokens per row, special tokens included.
    Returns:
        (encoding, truncated): the tokenizer's unpadded encoding (input_ids, token_type_ids,
        attention_mask, one list per example) and how many examples were cut ("longest_first").
    """
    texts = [example.text for example in examples]
    pairs = [example.text_pair for example in examples]
    has_pairs = any(pair is not None for pair in pairs)
    if has_pairs and not all(pair is not None for pair in pairs):
        raise ValueError("either every example has a text pair or none has")
    encoding = tokenizer(texts, pairs if has_pairs else None)
    truncated = sum(len(ids) > max_length for ids in encoding["input_ids"])
    if truncated:
        encoding = tokenizer(texts, pairs if has_pairs else None, truncation=True, max_length=max_length)
    return encoding, truncated
