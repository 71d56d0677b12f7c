"""Answer spans from start/end logits: n-best decoding over a question's windows (HF's `postprocess_qa_predictions`).

For each example, over all of its windows: the `n_best_size` highest start logits and end
logits of each window are paired; a pair is a candidate when both tokens are context tokens,
the end is not before the start and the span is at most `max_answer_length` tokens; its score is
start + end logit. Candidates are ranked by score (ties keep window, start-rank, end-rank
order), the best `n_best_size` kept, and their probabilities are a softmax over those scores.

SQuAD v2.0 (`with_negatives`): the null answer scores `start[CLS] + end[CLS]`, its lowest value
over the windows; it joins the candidates, and the example gets no answer ("") when the null
score exceeds the best non-null candidate's score by more than `null_score_diff_threshold`.

Where no window offers a candidate span, the answer is "" (HF's function answers the text
"empty" then).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from electra.common.finetuning.squad import QAFeatures, SquadExample

CLS_INDEX = 0  # the [CLS] token of a BERT-style window, where the null answer points


@dataclass(frozen=True)
class PredictedAnswer:
    """One example's answer.

    Attributes:
        id: the question id.
        text: the answer, "" for no answer.
        start, end: the answer's characters `context[start:end]`; -1, -1 for no answer.
        probability: the answer's share of the softmax over the n-best candidates.
        null_score_diff: v2.0: the null score less the best non-null score (None under v1.1
            or when there is no non-null candidate).
    """

    id: str
    text: str
    start: int
    end: int
    probability: float
    null_score_diff: float | None = None


def decode_answers(examples: list[SquadExample], features: QAFeatures, start_logits: np.ndarray, end_logits: np.ndarray,
                   *, with_negatives: bool = False, n_best_size: int = 20, max_answer_length: int = 30,
                   null_score_diff_threshold: float = 0.0) -> list[PredictedAnswer]:
    """The answer of each example from its windows' logits.

    Args:
        examples: the questions `features` were made from.
        features: `squad.qa_features(...)` of those examples.
        start_logits, end_logits: (F, L) logits of the F windows.
        with_negatives: SQuAD v2.0: an example may have no answer.
        n_best_size: logits per window paired, and candidates kept.
        max_answer_length: the longest answer, in tokens.
        null_score_diff_threshold: v2.0: how far the null score must pass the best span's.
    Returns:
        One `PredictedAnswer` per example, in order.
    Raises:
        ValueError: logits whose shape is not the features' (F, L), features of more examples, or
            non-positive sizes.
    """
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    expected = features.offsets.shape[:2]
    if start_logits.shape != expected or end_logits.shape != expected:
        raise ValueError(f"start_logits and end_logits must be (F, L) = {expected}, got {start_logits.shape} and {end_logits.shape}")
    for name, value in (("n_best_size", n_best_size), ("max_answer_length", max_answer_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if len(features) and int(features.example_index.max()) >= len(examples):
        raise ValueError(f"the features index example {int(features.example_index.max())} but {len(examples)} examples were given")
    windows = defaultdict(list)
    for row, example_index in enumerate(features.example_index.tolist()):
        windows[example_index].append(row)
    answers = []
    for index, example in enumerate(examples):
        answers.append(_decode_example(example, windows[index], features.offsets, start_logits, end_logits, with_negatives,
                                       n_best_size, max_answer_length, null_score_diff_threshold))
    return answers


def _decode_example(example, rows, offsets, start_logits, end_logits, with_negatives, n_best_size, max_answer_length,
                    threshold) -> PredictedAnswer:
    candidates = []  # (score, start logit, end logit, start char, end char); the null answer has chars (-1, -1)
    null = None
    for row in rows:
        starts, ends = start_logits[row], end_logits[row]
        null_score = starts[CLS_INDEX] + ends[CLS_INDEX]
        if null is None or null[0] > null_score:
            null = (null_score, starts[CLS_INDEX], ends[CLS_INDEX], -1, -1)
        context = offsets[row, :, 0] >= 0
        for s in np.argsort(starts)[::-1][:n_best_size].tolist():
            for e in np.argsort(ends)[::-1][:n_best_size].tolist():
                if context[s] and context[e] and s <= e < s + max_answer_length:
                    candidates.append((starts[s] + ends[e], starts[s], ends[e], int(offsets[row, s, 0]), int(offsets[row, e, 1])))
    if with_negatives and null is not None:
        candidates.append(null)
    best = sorted(candidates, key=lambda candidate: candidate[0], reverse=True)[:n_best_size]
    if with_negatives and null is not None and null not in best:
        best.append(null)
    if not best:
        return PredictedAnswer(example.id, "", -1, -1, 0.0, None)
    scores = np.array([candidate[0] for candidate in best])
    probabilities = np.exp(scores - np.max(scores))
    probabilities = probabilities / probabilities.sum()
    spans = [i for i, candidate in enumerate(best) if candidate[3] >= 0]
    if not with_negatives:
        chosen = spans[0] if spans else None
        diff = None
    elif not spans:
        chosen, diff = None, None
    else:
        top = best[spans[0]]
        diff = float(null[0] - top[1] - top[2])
        chosen = None if diff > threshold else spans[0]
    if chosen is None:
        probability = float(probabilities[best.index(null)]) if with_negatives and null is not None else 0.0
        return PredictedAnswer(example.id, "", -1, -1, probability, diff)
    _, _, _, start, end = best[chosen]
    return PredictedAnswer(example.id, example.context[start:end], start, end, float(probabilities[chosen]), diff)
