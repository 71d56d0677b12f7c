"""Fine-tuning metrics: hand-computed cases (always run), then the reference libraries where installed
(scikit-learn, SciPy, seqeval) on seeded random cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from electra.common.finetuning.labels import LabelMap
from electra.common.finetuning.metrics import (
    accuracy,
    average_ranks,
    classification_scores,
    entities,
    entity_scores,
    macro_f1,
    matthews_correlation,
    micro_f1,
    normalize_answer,
    pearson,
    spearman,
    squad_f1,
    squad_v1_scores,
    squad_v2_scores,
)


# ---- classification and regression, by hand ----------------------------------------------------------
def test_accuracy_and_macro_f1_by_hand():
    assert accuracy([0, 1, 1, 2], [0, 1, 2, 2]) == 0.75
    # class 0: tp 1, fp 1 -> 2/3; class 1: tp 1, fn 2 -> 1/2; class 2: fp 1 -> 0 (a class only predicted still counts).
    assert macro_f1([0, 0, 1, 2], [0, 1, 1, 1]) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3, abs=1e-15)
    assert macro_f1(["b", "a"], ["b", "a"]) == 1.0
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(3,\)"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="no predictions to score"):
        macro_f1([], [])


def test_matthews_by_hand():
    # tp 2, fp 1, tn 2, fn 0: (2*2 - 1*0) / sqrt(3 * 2 * 3 * 2) = 2/3.
    assert matthews_correlation([1, 1, 0, 0, 1], [1, 0, 0, 0, 1]) == pytest.approx(2 / 3, abs=1e-15)
    assert matthews_correlation([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0
    assert matthews_correlation([1, 0, 1], [1, 1, 1]) == 0.0  # one label class: undefined -> 0.0
    assert matthews_correlation([1, 1], [1, 1]) == 0.0


def test_correlations_by_hand():
    # x - mean = (-1, 0, 1), y - mean = (-4/3, -1/3, 5/3): r = 3 / (sqrt 2 * sqrt(42) / 3) = 9 / sqrt(84).
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84), abs=1e-15)
    # Average ranks of ties: (1, 2.5, 2.5, 4) against (1, 3, 2, 4): r = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    assert average_ranks([1, 2, 2, 3]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3.0, 1.0, 3.0, 3.0, 0.5]).tolist() == [4.0, 2.0, 4.0, 4.0, 1.0]
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(math.sqrt(0.9), abs=1e-15)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0, abs=1e-15)
    assert math.isnan(pearson([2, 2, 2], [1, 2, 3])) and math.isnan(spearman([1, 2, 3], [5, 5, 5]))
    with pytest.raises(ValueError, match="at least 2 values"):
        pearson([1.0], [2.0])


def test_multi_label_micro_f1_by_hand():
    # tp 2 (0,0) (1,1), fp 1 (0,2), fn 1 (0,1): 4 / 6.
    assert micro_f1([[1, 0, 1], [0, 1, 0]], [[1, 1, 0], [0, 1, 0]]) == pytest.approx(2 / 3, abs=1e-15)
    assert micro_f1(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0  # no positive anywhere: 0.0, as scikit-learn


def test_classification_scores_per_problem_type():
    binary = LabelMap("single_label_classification", ("neg", "pos"))
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.5], [0.2, 0.1]])
    assert classification_scores(binary, logits, [0, 1, 1, 0]) == {"accuracy": 0.75, "macro_f1": pytest.approx(11 / 15),
                                                                   "matthews_correlation": pytest.approx(1 / math.sqrt(3))}
    three = LabelMap("single_label_classification", ("a", "b", "c"))
    assert set(classification_scores(three, np.eye(3), [0, 1, 2])) == {"accuracy", "macro_f1"}
    regression = LabelMap("regression", ("LABEL_0",))
    assert classification_scores(regression, np.array([[1.0], [2.0], [3.0]]), [1.0, 2.0, 4.0]) == {
        "pearson": pytest.approx(9 / math.sqrt(84)), "spearman": pytest.approx(1.0)}
    multi = LabelMap("multi_label_classification", ("x", "y", "z"))
    scores = classification_scores(multi, np.array([[0.3, -1.0, 2.0], [-0.1, 0.5, -3.0]]), np.array([[1, 1, 0], [0, 1, 0]], np.float32))
    assert scores == {"micro_f1": pytest.approx(2 / 3), "subset_accuracy": 0.5}
    with pytest.raises(ValueError, match=r"logits must be \(N, 3\), got \(2, 2\)"):
        classification_scores(multi, np.zeros((2, 2)), np.zeros((2, 3)))


# ---- entities, by hand ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tags, expected", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
    (["I-PER", "I-PER", "O"], [("PER", 0, 1)]),                          # I- after O starts an entity (conlleval)
    (["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)]),                # a type change ends one and starts another
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
    (["O", "I-PER", "B-PER", "I-PER"], [("PER", 1, 1), ("PER", 2, 3)]),
    (["B-ORG", "I-PER", "I-ORG"], [("ORG", 0, 0), ("PER", 1, 1), ("ORG", 2, 2)]),  # nested-looking: three flat entities
    (["B-LOC", "I-LOC", "I-LOC"], [("LOC", 0, 2)]),                      # ends at the sentence end
    (["S-LOC", "B-PER", "E-PER", "O"], [("LOC", 0, 0), ("PER", 1, 2)]),  # IOBES
    (["B", "I", "O"], [("_", 0, 1)]),                                    # untyped tags
    (["O", "O"], []),
])
def test_entities_by_hand(tags, expected):
    assert entities(tags) == expected


def test_entity_scores_by_hand():
    # seqeval's docstring example: one of two entities right on each side.
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    predicted = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    assert entity_scores(gold, predicted) == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "gold_entities": 2, "predicted_entities": 2}
    # A broken prediction (I- without B-) still finds LOC; the gold I-PER after I-LOC is its own entity.
    scores = entity_scores([["B-LOC", "I-LOC", "I-PER"]], [["I-LOC", "I-LOC", "O"]])
    assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 0.5, pytest.approx(2 / 3, abs=1e-15))
    # Sentences do not run into each other: an I- opening a sentence starts a new entity.
    assert entity_scores([["B-PER"], ["I-PER"]], [["B-PER"], ["I-PER"]])["gold_entities"] == 2
    assert entity_scores([["O"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold_entities": 0, "predicted_entities": 0}
    assert entity_scores([["B-PER"]], [["O"]])["recall"] == 0.0
    with pytest.raises(ValueError, match="same number of sentences, each with as many tags"):
        entity_scores([["O", "O"]], [["O"]])


# ---- SQuAD, by hand --------------------------------------------------------------------------------
def test_squad_normalisation_and_f1_by_hand():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day; the theater.") == "apple day theater"  # articles as whole words only
    assert normalize_answer("  ") == "" and normalize_answer("The") == ""
    assert squad_f1("the cat sat", "a cat sat down") == pytest.approx(0.8, abs=1e-15)  # p 1, r 2/3
    assert squad_f1("cat cat", "cat") == pytest.approx(2 / 3, abs=1e-15)                # shared counts are multisets
    assert (squad_f1("", ""), squad_f1("", "", version="1.1")) == (1.0, 0.0)            # v2.0: both empty agree
    assert (squad_f1("", "cat"), squad_f1("the", "cat")) == (0.0, 0.0)


def test_squad_v1_scores_by_hand():
    predictions = {"a": "Paris", "b": "in the city"}
    answers = {"a": ["paris", "Paris, France"], "b": ["the north of the city"]}
    # a: exact 1, f1 1; b: exact 0, f1 of (in, city) against (north, of, city): p 1/2, r 1/3 -> 0.4.
    assert squad_v1_scores(predictions, answers) == {"exact_match": 50.0, "f1": pytest.approx(70.0, abs=1e-12)}
    with pytest.raises(ValueError, match=r"no prediction for 1 question\(s\) \('b'\)"):
        squad_v1_scores({"a": "x"}, answers)
    with pytest.raises(ValueError, match=r"predictions for 1 unknown question\(s\) \('c'\)"):
        squad_v1_scores({**predictions, "c": "x"}, answers)
    with pytest.raises(ValueError, match=r"question 'a' has no gold answer"):
        squad_v1_scores({"a": ""}, {"a": []})


def test_squad_v2_scores_by_hand():
    answers = {"a": ["Paris", "in Paris"], "b": [], "c": ["The"]}
    # a: exact 1, f1 1. b (NoAns): "" against "" -> 1, 1. c: "The" normalises to nothing, so its gold is "" (yet
    # it counts as HasAns, as the official script counts it): "x" scores 0, 0.
    scores = squad_v2_scores({"a": "paris", "b": "", "c": "x"}, answers)
    assert scores == {"exact": pytest.approx(200 / 3), "f1": pytest.approx(200 / 3), "total": 3,
                      "HasAns_exact": 50.0, "HasAns_f1": 50.0, "HasAns_total": 2,
                      "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": 1}
    # A wrong answer to an unanswerable question; partial credit on a: (paris) against (in, paris): p 1, r 1/2.
    scores = squad_v2_scores({"a": "Paris!", "b": "somewhere", "c": ""}, {"a": ["in Paris"], "b": [], "c": ["The"]})
    assert (scores["exact"], scores["f1"], scores["NoAns_exact"]) == (pytest.approx(100 / 3), pytest.approx(100 * (2 / 3 + 1) / 3), 0.0)
    assert "NoAns_total" not in squad_v2_scores({"a": "x"}, {"a": ["x"]})


# ---- the reference libraries, where installed ------------------------------------------------------------------
def random_cases(count: int = 300):
    rng = np.random.default_rng(17)
    for _ in range(count):
        n, k = int(rng.integers(2, 30)), int(rng.integers(2, 5))
        yield rng, n, k


def test_against_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rng, n, k in random_cases():
            labels, predictions = rng.integers(0, k, n), rng.integers(0, k, n)
            assert accuracy(predictions, labels) == sklearn_metrics.accuracy_score(labels, predictions)
            assert macro_f1(predictions, labels) == pytest.approx(sklearn_metrics.f1_score(labels, predictions, average="macro"), abs=1e-12)
            assert matthews_correlation(predictions, labels) == pytest.approx(sklearn_metrics.matthews_corrcoef(labels, predictions), abs=1e-12)
            # (N, K >= 2) indicator arrays: scikit-learn reads an (N, 1) array as binary, not multi-label.
            gold, guess = rng.integers(0, 2, (n, k)), rng.integers(0, 2, (n, k)) * (rng.random((n, k)) < 0.3)
            assert micro_f1(guess, gold) == pytest.approx(sklearn_metrics.f1_score(gold, guess, average="micro"), abs=1e-12)


def test_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rng, n, _ in random_cases():
            x, y = rng.integers(0, 4, n).astype(np.float64), rng.normal(size=n).round(1)
            for ours, theirs in ((pearson, stats.pearsonr), (spearman, stats.spearmanr)):
                expected = float(theirs(x, y)[0])
                if math.isnan(expected):
                    assert math.isnan(ours(x, y))
                else:
                    assert ours(x, y) == pytest.approx(expected, abs=1e-12)


def test_against_seqeval():
    seqeval = pytest.importorskip("seqeval.metrics")
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B", "I", "E-PER", "S-LOC"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rng, _, _ in random_cases():
            gold = [[tags[i] for i in rng.integers(0, len(tags), int(rng.integers(1, 9)))] for _ in range(3)]
            predicted = [[tags[i] for i in rng.integers(0, len(tags), len(sentence))] for sentence in gold]
            scores = entity_scores(gold, predicted)
            assert scores["precision"] == seqeval.precision_score(gold, predicted)
            assert scores["recall"] == seqeval.recall_score(gold, predicted)
            assert scores["f1"] == pytest.approx(seqeval.f1_score(gold, predicted), abs=1e-15)
