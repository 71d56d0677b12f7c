"""Replaced-token-detection metrics against brute-force definitions."""

import math

import numpy as np
import pytest

from electra.common.pretraining.metrics import binary_counts, precision_recall_accuracy, roc_auc


def pairwise_auc(scores, labels):
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_pairwise_definition_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(500) < 0.2).astype(int)
    scores = np.round(rng.normal(size=500) + labels, 1)  # rounding creates ties
    assert roc_auc(scores, labels) == pytest.approx(pairwise_auc(scores, labels), abs=1e-12)


def test_auc_extremes_and_undefined():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(np.ones(4), labels) == 0.5
    assert math.isnan(roc_auc(np.arange(3.0), np.zeros(3)))
    with pytest.raises(ValueError, match="same size"):
        roc_auc(np.arange(3.0), np.zeros(4))


def test_precision_recall_accuracy_with_weights():
    predicted = np.array([1, 1, 0, 0, 1])
    labels = np.array([1, 0, 1, 0, 1])
    weights = np.array([1, 1, 1, 1, 0])  # last position is padding
    counts = binary_counts(predicted, labels, weights)
    assert counts == {"tp": 1.0, "fp": 1.0, "fn": 1.0, "tn": 1.0}
    assert precision_recall_accuracy(counts) == {"precision": 0.5, "recall": 0.5, "accuracy": 0.5}
    assert precision_recall_accuracy({"tp": 0, "fp": 0, "fn": 0, "tn": 0}) == {"precision": 0.0, "recall": 0.0, "accuracy": 0.0}
