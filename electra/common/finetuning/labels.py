"""The label set of a fine-tuning task: names in id order and the kind of problem.

The kinds are HF's `config.problem_type` values. The label set comes from the training file;
a later file (validation, test) is encoded against it, and a label it does not hold is an
error naming the file, the line and the label, never a new id.

Names are strings (the `id2label` values a config stores). From raw labels:
- a list of labels on any row (JSON Lines lists, or CSV/TSV cells holding the separator
  `|`) -> "multi_label_classification", names = every label seen;
- all labels numbers and one of them not an integer (`0.5`, `3.0`) -> "regression";
- else "single_label_classification": names = the labels as strings (`1` and `"1"` are one
  label), sorted as integers when all are integers (`2` before `10`), else as strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")
_INTEGER = re.compile(r"[+-]?\d+")


def _is_integer(label) -> bool:
    return isinstance(label, int) or (isinstance(label, str) and _INTEGER.fullmatch(label) is not None)


def _as_number(label) -> float | None:
    """A raw label as a finite float, or None when it is not a number."""
    if isinstance(label, (int, float)):
        value = float(label)
    elif isinstance(label, str):
        try:
            value = float(label)
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def label_names(label) -> tuple[str, ...]:
    """The label names of one raw label: a tuple for a multi-label row, else one name ("" -> none)."""
    if isinstance(label, tuple):
        return label
    name = str(label)
    return (name,) if name else ()


@dataclass(frozen=True)
class LabelMap:
    """The labels of a task.

    Attributes:
        problem_type: one of `PROBLEM_TYPES` (HF's `config.problem_type`).
        names: the label names in id order (one unnamed output, `("LABEL_0",)`, for regression).
    """

    problem_type: str
    names: tuple[str, ...]

    def __post_init__(self):
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {self.problem_type!r}")
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"label names must be distinct and at least one, got {list(self.names)!r}")

    @property
    def num_labels(self) -> int:
        return len(self.names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.names)}

    def config_fields(self) -> dict:
        """The `ElectraConfig` fields that describe these labels: `id2label` and `problem_type`."""
        return {"id2label": self.id2label, "problem_type": self.problem_type}

    @classmethod
    def from_config(cls, config) -> LabelMap:
        """The labels a config (its `id2label` and `problem_type`) describes."""
        names = tuple(config.id2label[index] for index in sorted(config.id2label))
        return cls(config.problem_type or "single_label_classification", names)

    @classmethod
    def from_labels(cls, labels: list, source: str, problem_type: str | None = None) -> LabelMap:
        """The label set of a training file's raw labels (see the module docstring).

        Args:
            labels: one raw label per row: str, int, float, or a tuple of names (multi-label).
            source: the file, for error messages.
            problem_type: force a kind instead of inferring it.
        Raises:
            ValueError: no labels, a non-number under "regression", or a multi-label row under
                "single_label_classification".
        """
        if not labels:
            raise ValueError(f"{source}: no labels to build the label set from")
        if problem_type is None:
            numbers = [_as_number(label) for label in labels]
            if any(isinstance(label, tuple) for label in labels):
                problem_type = "multi_label_classification"
            elif all(n is not None for n in numbers) and not all(_is_integer(label) for label in labels):
                problem_type = "regression"
            else:
                problem_type = "single_label_classification"
        if problem_type == "regression":
            return cls(problem_type, ("LABEL_0",))
        names = {name for label in labels for name in label_names(label)}
        if not names:
            raise ValueError(f"{source}: every row has an empty label list; nothing to classify")
        integers = all(_is_integer(name) for name in names)
        return cls(problem_type, tuple(sorted(names, key=(lambda n: (int(n), n)) if integers else None)))

    def encode(self, label, where: str) -> int | float | np.ndarray:
        """One raw label as the model's target: a class id, a float, or a (num_labels,) 0/1 float32 vector.

        Args:
            label: the raw label.
            where: "path:line", for error messages.
        Raises:
            ValueError: a label outside the set, a non-finite or non-numeric regression label, a
                list under single-label classification, a repeated label in a list.
        """
        if self.problem_type == "regression":
            value = _as_number(label) if not isinstance(label, (bool, tuple)) else None
            if value is None:
                raise ValueError(f"{where}: label {label!r} is not a finite number (the task is regression)")
            return value
        names = label_names(label)
        if self.problem_type == "single_label_classification" and (isinstance(label, tuple) or len(names) != 1):
            raise ValueError(f"{where}: expected one label, got {label!r} (the task is single-label classification)")
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: label list {list(names)!r} repeats a label")
        ids = self.label2id
        for name in names:
            if name not in ids:
                shown = ", ".join(map(repr, self.names[:20])) + (", ..." if len(self.names) > 20 else "")
                raise ValueError(f"{where}: label {name!r} is not one of the {len(self.names)} labels of the "
                                 f"training data ({shown})")
        if self.problem_type == "single_label_classification":
            return ids[names[0]]
        target = np.zeros(self.num_labels, dtype=np.float32)
        target[[ids[name] for name in names]] = 1.0
        return target
