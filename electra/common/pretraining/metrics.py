"""Replaced-token-detection metrics on NumPy: accuracy, precision, recall, ROC AUC.

Discriminator accuracy alone is misleading (predicting "all original" scores about 93%),
so evaluation reports precision, recall and AUC on the replaced tokens too.
"""

from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for binary `labels` (ties count one half).

    Args:
        scores: (N,) real-valued scores, higher meaning "positive".
        labels: (N,) 0/1 labels.
    Returns:
        The AUC, or NaN when all labels are equal (the AUC is undefined then).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have the same size, got {scores.shape} and {labels.shape}")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # Average ranks over ties (1-based).
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_counts(predicted: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """True/false positives and negatives of 0/1 predictions, optionally weighted (0 = ignore)."""
    predicted = np.asarray(predicted).astype(bool)
    labels = np.asarray(labels).astype(bool)
    w = np.ones(labels.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    return {
        "tp": float((w * (predicted & labels)).sum()),
        "fp": float((w * (predicted & ~labels)).sum()),
        "fn": float((w * (~predicted & labels)).sum()),
        "tn": float((w * (~predicted & ~labels)).sum()),
    }


def precision_recall_accuracy(counts: dict[str, float]) -> dict[str, float]:
    """Precision, recall and accuracy from `binary_counts` (0 where undefined)."""
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    total = tp + fp + fn + tn
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "accuracy": (tp + tn) / total if total else 0.0,
    }
