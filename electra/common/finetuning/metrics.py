"""Fine-tuning metrics on NumPy and the standard library, as their reference implementations compute them.

- classification: accuracy, macro-F1 (scikit-learn's `f1_score(average="macro")`: the mean
  over the classes present in labels or predictions of 2TP / (2TP + FP + FN)), Matthews
  correlation (scikit-learn's `matthews_corrcoef`, 0.0 where undefined);
- regression: Pearson and Spearman correlation (SciPy's; Spearman on average ranks of ties;
  NaN for a constant input);
- multi-label: micro-F1 over every (sample, label) pair (scikit-learn's `average="micro"`,
  0.0 when there is no positive at all);
- token classification: entity-level precision, recall and F1 (seqeval's default mode, the
  conlleval chunking: an `I-` tag after `O` or after another type starts an entity; micro
  averaged; 0.0 where a ratio is undefined);
- question answering: exact match and F1 of the official SQuAD scripts (v1.1: best over the
  gold answers, F1 0 when no token is shared; v2.0: an empty prediction is the no-answer,
  empty against empty scores 1, HasAns/NoAns split), in percent as those scripts report.
"""

from __future__ import annotations

import collections
import re
import string

import numpy as np

from electra.common.finetuning.labels import LabelMap


def _pair(predictions, labels) -> tuple[np.ndarray, np.ndarray]:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions and labels must have the same shape, got {predictions.shape} and {labels.shape}")
    if predictions.size == 0:
        raise ValueError("no predictions to score")
    return predictions, labels


def accuracy(predictions, labels) -> float:
    """The fraction of predictions equal to their labels."""
    predictions, labels = _pair(predictions, labels)
    return float(np.mean(predictions == labels))


def macro_f1(predictions, labels) -> float:
    """The unweighted mean over classes (those in labels or predictions) of each class's F1."""
    predictions, labels = _pair(predictions, labels)
    scores = []
    for label in np.union1d(predictions, labels):
        is_predicted, is_label = predictions == label, labels == label
        tp, wrong = np.sum(is_predicted & is_label), np.sum(is_predicted != is_label)
        scores.append(2 * tp / (2 * tp + wrong))
    return float(np.mean(scores))


def matthews_correlation(predictions, labels) -> float:
    """Matthews correlation coefficient (its multiclass form; for two classes (TP·TN − FP·FN) / sqrt(...)).

    0.0 when it is undefined (all labels or all predictions one class), as scikit-learn returns.
    """
    predictions, labels = _pair(predictions, labels)
    classes, codes = np.unique(np.concatenate([labels.ravel(), predictions.ravel()]), return_inverse=True)
    true, pred = codes[:labels.size], codes[labels.size:]
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(confusion, (true, pred), 1)
    t, p = confusion.sum(axis=1), confusion.sum(axis=0)
    correct, samples = np.trace(confusion), confusion.sum()
    cov_tp = correct * samples - np.dot(t, p)
    cov_pp, cov_tt = samples ** 2 - np.dot(p, p), samples ** 2 - np.dot(t, t)
    if cov_pp * cov_tt == 0:
        return 0.0
    return float(cov_tp / np.sqrt(cov_tt * cov_pp))


def pearson(predictions, labels) -> float:
    """Pearson correlation of two 1-D samples (NaN when either is constant)."""
    x, y = (np.asarray(a, dtype=np.float64) for a in _pair(predictions, labels))
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"pearson needs two 1-D samples of at least 2 values, got shape {x.shape}")
    x, y = x - x.mean(), y - y.mean()
    norm = np.linalg.norm(x) * np.linalg.norm(y)
    if norm == 0:
        return float("nan")
    return float(np.clip(np.dot(x / np.linalg.norm(x), y / np.linalg.norm(y)), -1.0, 1.0))


def average_ranks(values) -> np.ndarray:
    """1-based ranks of `values`, ties sharing their average rank (SciPy's `rankdata(method="average")`)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def spearman(predictions, labels) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks."""
    predictions, labels = _pair(predictions, labels)
    return pearson(average_ranks(predictions), average_ranks(labels))


def micro_f1(predictions, labels) -> float:
    """Micro-F1 of 0/1 multi-label predictions (N, K): 2TP / (2TP + FP + FN) over all pairs, 0.0 without any positive."""
    predictions, labels = (a.astype(bool) for a in _pair(predictions, labels))
    tp = np.sum(predictions & labels)
    wrong = np.sum(predictions != labels)
    return float(2 * tp / (2 * tp + wrong)) if 2 * tp + wrong else 0.0


def classification_scores(label_map: LabelMap, logits, labels) -> dict[str, float]:
    """The metrics of a sequence classification task from the model's logits.

    Args:
        logits: (N, num_labels) logits ((N, 1) or (N,) for regression).
        labels: `classification.encode_labels`' targets.
    Returns:
        single-label: accuracy, macro_f1 (and matthews_correlation for two labels);
        regression: pearson, spearman; multi-label: micro_f1 (a label is predicted when
        its logit is above 0, a sigmoid above 0.5), subset_accuracy.
    """
    logits = np.asarray(logits)
    if label_map.problem_type == "regression":
        values = logits.reshape(-1)
        return {"pearson": pearson(values, labels), "spearman": spearman(values, labels)}
    if logits.ndim != 2 or logits.shape[1] != label_map.num_labels:
        raise ValueError(f"logits must be (N, {label_map.num_labels}), got {logits.shape}")
    if label_map.problem_type == "multi_label_classification":
        predicted, labels = (logits > 0).astype(np.int64), np.asarray(labels).astype(np.int64)
        return {"micro_f1": micro_f1(predicted, labels), "subset_accuracy": float(np.mean(np.all(predicted == labels, axis=1)))}
    predicted = logits.argmax(axis=-1)
    scores = {"accuracy": accuracy(predicted, labels), "macro_f1": macro_f1(predicted, labels)}
    if label_map.num_labels == 2:
        scores["matthews_correlation"] = matthews_correlation(predicted, labels)
    return scores


# ---- entities (seqeval's default mode) -----------------------------------------------------------
def _prefix_and_type(tag: str) -> tuple[str, str]:
    """("B", "PER") from "B-PER"; "O" has type "_" as has a bare "B" or "I" (seqeval's reading)."""
    return tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"


def entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """The entities of a BIO / IOB2 (also IOBES) tag sequence: (type, first, last) word indices.

    An entity ends before a `B`, `S` or `O` after `B`/`I`, after an `E` or `S`, and where the type
    changes; it starts at `B` or `S`, at an `I`/`E` after `O`, `E` or `S`, and where the type changes.
    """
    found, begin = [], 0
    previous_prefix, previous_type = "O", ""
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = _prefix_and_type(tag)
        ends = (previous_prefix in ("E", "S") or (previous_prefix in ("B", "I") and prefix in ("B", "S", "O"))
                or (previous_prefix not in ("O", ".") and previous_type != kind))
        starts = (prefix in ("B", "S") or (previous_prefix in ("E", "S", "O") and prefix in ("E", "I"))
                  or (prefix not in ("O", ".") and previous_type != kind))
        if ends:
            found.append((previous_type, begin, index - 1))
        if starts:
            begin = index
        previous_prefix, previous_type = prefix, kind
    return found


def entity_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level micro precision, recall and F1 over sentences (an entity counts when type and span match).

    Args:
        gold, predicted: per sentence, the tag of each word (or labeled token); same lengths.
    Returns:
        precision, recall, f1 (0.0 where undefined), and the counts gold_entities, predicted_entities.
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted must hold the same number of sentences, each with as many tags")
    gold_set, predicted_set = set(), set()
    for sentence, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        gold_set.update((sentence,) + entity for entity in entities(gold_tags))
        predicted_set.update((sentence,) + entity for entity in entities(predicted_tags))
    correct = len(gold_set & predicted_set)
    precision = correct / len(predicted_set) if predicted_set else 0.0
    recall = correct / len(gold_set) if gold_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold_entities": len(gold_set),
            "predicted_entities": len(predicted_set)}


# ---- SQuAD (the official evaluate-v1.1.py / evaluate-v2.0.py) --------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_f1(prediction: str, gold: str, *, version: str = "2.0") -> float:
    """Token F1 of one prediction against one gold answer, after normalisation.

    v2.0: an empty side scores 1 when both are empty, else 0. v1.1: 0 whenever no token is shared.
    """
    predicted_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if version == "2.0" and (not predicted_tokens or not gold_tokens):
        return float(predicted_tokens == gold_tokens)
    shared = sum((collections.Counter(predicted_tokens) & collections.Counter(gold_tokens)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted_tokens), shared / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _check_ids(predictions: dict, answers: dict) -> None:
    missing, extra = sorted(set(answers) - set(predictions)), sorted(set(predictions) - set(answers))
    if missing or extra:
        parts = [f"no prediction for {len(missing)} question(s) ({', '.join(map(repr, missing[:5]))})"] if missing else []
        parts += [f"predictions for {len(extra)} unknown question(s) ({', '.join(map(repr, extra[:5]))})"] if extra else []
        raise ValueError("; ".join(parts))


def squad_v1_scores(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    """SQuAD v1.1's exact_match and f1 (percent): each question's best over its gold answers, averaged.

    Args:
        predictions: question id -> predicted text.
        answers: question id -> its gold answer texts (at least one).
    """
    _check_ids(predictions, answers)
    exact = f1 = 0.0
    for qid, golds in answers.items():
        if not golds:
            raise ValueError(f"question {qid!r} has no gold answer; SQuAD v1.1 needs one (use squad_v2_scores)")
        exact += max(float(normalize_answer(predictions[qid]) == normalize_answer(gold)) for gold in golds)
        f1 += max(squad_f1(predictions[qid], gold, version="1.1") for gold in golds)
    return {"exact_match": 100.0 * exact / len(answers), "f1": 100.0 * f1 / len(answers)}


def squad_v2_scores(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    """SQuAD v2.0's exact and f1 (percent), overall and split into HasAns / NoAns questions.

    Args:
        predictions: question id -> predicted text ("" for no answer).
        answers: question id -> its gold answer texts (empty for an unanswerable question).
    Returns:
        exact, f1, total, and HasAns_exact, HasAns_f1, HasAns_total, NoAns_* for the parts
        that have questions (as the official script).
    """
    _check_ids(predictions, answers)
    exact, f1 = {}, {}
    for qid, golds in answers.items():
        golds = [gold for gold in golds if normalize_answer(gold)] or [""]
        exact[qid] = max(float(normalize_answer(predictions[qid]) == normalize_answer(gold)) for gold in golds)
        f1[qid] = max(squad_f1(predictions[qid], gold) for gold in golds)
    scores = _part(exact, f1, list(answers), "")
    for name, part in (("HasAns", [q for q, g in answers.items() if g]), ("NoAns", [q for q, g in answers.items() if not g])):
        if part:
            scores.update(_part(exact, f1, part, name + "_"))
    return scores


def _part(exact: dict, f1: dict, ids: list, prefix: str) -> dict[str, float]:
    total = len(ids)
    return {f"{prefix}exact": 100.0 * sum(exact[q] for q in ids) / total, f"{prefix}f1": 100.0 * sum(f1[q] for q in ids) / total,
            f"{prefix}total": total}
