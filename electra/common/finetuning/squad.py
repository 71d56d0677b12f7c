"""Extractive question answering data: SQuAD v1.1 / v2.0 JSON, and the model's features.

Features follow HF's `run_qa.py` (`prepare_train_features` / `prepare_validation_features`):
the question (left-stripped) then the context, `truncation="only_second"`, overflowing windows
of the context that repeat `doc_stride` tokens, padded to `max_length`. A window's target is
the first and last token of the first answer when the whole answer lies in the window, else the
`[CLS]` index (also for v2.0's unanswerable questions). Offsets are kept for the context's
tokens only, so that decoding (`answers.decode_answers`) can only pick context spans.

One difference from run_qa: when an answer starts at a window's last context token, run_qa's
search walks past the context (the `[SEP]` and padding have offsets (0, 0)) and labels the start
at the window's last token; here it is the answer's own token.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class SquadAnswer:
    text: str
    start: int  # character offset of the answer in the context


@dataclass(frozen=True)
class SquadExample:
    """One question on one context; `answers` is empty for an unanswerable (v2.0) question."""

    id: str
    question: str
    context: str
    answers: tuple[SquadAnswer, ...]
    title: str = ""

    @property
    def is_impossible(self) -> bool:
        return not self.answers


@dataclass(frozen=True)
class SquadData:
    """A SQuAD file's questions; `with_negatives` when it is v2.0 (the file says so or has unanswerable questions)."""

    examples: list[SquadExample]
    with_negatives: bool


def _field(value: dict, key: str, kind: type, where: str):
    if not isinstance(value, dict) or key not in value:
        raise ValueError(f"{where}: missing {key!r}")
    if not isinstance(value[key], kind) or isinstance(value[key], bool):
        raise ValueError(f"{where}: {key!r} must be {kind.__name__}, got {type(value[key]).__name__}")
    return value[key]


def read_squad(path: str | Path, *, require_answers: bool = True) -> SquadData:
    """Read a SQuAD v1.1 or v2.0 JSON file (`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`).

    Args:
        require_answers: each answerable question must have answers (False for prediction
            input, where `answers` may be absent).
    Raises:
        ValueError: a missing or malformed file (the JSON error's line), a missing field (with
            where it is), a repeated question id, a question without answers that is not
            marked `is_impossible`, an answer whose text is not the context at its `answer_start`.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise ValueError(f"{path}: the file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    articles = _field(document, "data", list, f"{path}")
    with_negatives = str(document.get("version", "")).lstrip("v").startswith("2")
    examples, seen = [], set()
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(_field(article, "paragraphs", list, f"{path}: data[{a}]")):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", str, where)
            for q, qa in enumerate(_field(paragraph, "qas", list, where)):
                where_q = f"{where}.qas[{q}]"
                qid = _field(qa, "id", str, where_q)
                if qid in seen:
                    raise ValueError(f"{path}: question id {qid!r} appears twice")
                seen.add(qid)
                question = _field(qa, "question", str, where_q)
                impossible = bool(qa.get("is_impossible", False))
                with_negatives |= impossible
                answers = _answers(qa, context, f"{path}: question {qid!r}", impossible, require_answers)
                examples.append(SquadExample(qid, question, context, answers, str(article.get("title", ""))))
    if not examples:
        raise ValueError(f"{path}: the file holds no questions")
    return SquadData(examples, with_negatives)


def answer_texts(examples: list[SquadExample]) -> dict[str, list[str]]:
    """Question id -> its gold answer texts (empty when unanswerable): the references of `metrics.squad_v*_scores`."""
    return {example.id: [answer.text for answer in example.answers] for example in examples}


def _answers(qa: dict, context: str, where: str, impossible: bool, require_answers: bool) -> tuple[SquadAnswer, ...]:
    raw = qa.get("answers", [])
    if not isinstance(raw, list):
        raise ValueError(f"{where}: 'answers' must be a list")
    if impossible and raw:
        raise ValueError(f"{where}: marked is_impossible but has {len(raw)} answers")
    if not impossible and not raw and require_answers:
        raise ValueError(f"{where}: no answers and not marked is_impossible")
    answers = []
    for answer in raw:
        text, start = _field(answer, "text", str, where), _field(answer, "answer_start", int, where)
        if not text:
            raise ValueError(f"{where}: an empty answer text")
        found = context[start:start + len(text)] if 0 <= start else ""
        if found != text:
            raise ValueError(f"{where}: answer {text!r:.60} at answer_start {start} does not match the context there "
                             f"({found!r:.60})")
        answers.append(SquadAnswer(text, start))
    return tuple(answers)


@dataclass
class QAFeatures:
    """The windows of SQuAD examples, as model inputs and decoding tables (F windows of L tokens).

    Attributes:
        input_ids, token_type_ids, attention_mask: (F, L) int64.
        example_index: (F,) the index of each window's example.
        offsets: (F, L, 2) int64 (start, end) characters of each context token in its
            example's context; (-1, -1) for question, special and padding tokens.
        start_positions, end_positions: (F,) the answer's first and last token, or the
            `[CLS]` index (0) when the window does not hold the whole answer.
    """

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    example_index: np.ndarray
    offsets: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray

    def __len__(self) -> int:
        return len(self.example_index)

    def inputs(self, rows=slice(None)) -> dict[str, np.ndarray]:
        """The model inputs of some windows (all by default)."""
        return {"input_ids": self.input_ids[rows], "token_type_ids": self.token_type_ids[rows],
                "attention_mask": self.attention_mask[rows]}


def qa_features(tokenizer, examples: list[SquadExample], *, max_length: int = 384, doc_stride: int = 128) -> QAFeatures:
    """Tokenize questions and contexts into overflowing windows with answer positions (run_qa's features).

    Args:
        tokenizer: a fast tokenizer (offsets and `sequence_ids`): `ElectraTokenizerFast` or HF's.
        examples: the questions.
        max_length: tokens per window, special tokens included.
        doc_stride: context tokens each window repeats from the previous one.
    Raises:
        ValueError: a question so long that a window leaves no more than `doc_stride` context
            tokens while the context needs several windows (names the question).
    """
    if not examples:
        raise ValueError("qa_features needs at least one example")
    questions = [example.question.lstrip() for example in examples]
    contexts = [example.context for example in examples]
    _check_windows(tokenizer, examples, questions, max_length, doc_stride)
    encoding = tokenizer(questions, contexts, truncation="only_second", max_length=max_length, stride=doc_stride,
                         return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
    windows = len(encoding["input_ids"])
    offsets = np.full((windows, max_length, 2), -1, dtype=np.int64)
    starts, ends = np.zeros(windows, dtype=np.int64), np.zeros(windows, dtype=np.int64)
    for row in range(windows):
        in_context = np.asarray([sequence == 1 for sequence in encoding.sequence_ids(row)])
        offsets[row][in_context] = np.asarray(encoding["offset_mapping"][row])[in_context]
        answers = examples[encoding["overflow_to_sample_mapping"][row]].answers
        if answers:
            starts[row], ends[row] = _answer_tokens(offsets[row], np.flatnonzero(in_context), answers[0])
    return QAFeatures(*(np.asarray(encoding[name], dtype=np.int64) for name in ("input_ids", "token_type_ids", "attention_mask")),
                      np.asarray(encoding["overflow_to_sample_mapping"], dtype=np.int64), offsets, starts, ends)


def _answer_tokens(offsets: np.ndarray, context_tokens: np.ndarray, answer: SquadAnswer) -> tuple[int, int]:
    """(first, last) token of the answer in a window, or (0, 0) (`[CLS]`) when the window does not hold all of it.

    The first token is the last context token starting at or before the answer's first
    character, the last token the first one ending at or after its end (run_qa's rule).
    """
    start_char, end_char = answer.start, answer.start + len(answer.text)
    if not len(context_tokens):
        return 0, 0
    first, last = int(context_tokens[0]), int(context_tokens[-1])
    if not (offsets[first, 0] <= start_char and offsets[last, 1] >= end_char):
        return 0, 0
    token_starts, token_ends = offsets[first:last + 1, 0].tolist(), offsets[first:last + 1, 1].tolist()
    return first + bisect.bisect_right(token_starts, start_char) - 1, first + bisect.bisect_left(token_ends, end_char)


def _check_windows(tokenizer, examples, questions, max_length: int, doc_stride: int) -> None:
    for name, value in (("max_length", max_length), ("doc_stride", doc_stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    special = tokenizer.num_special_tokens_to_add(pair=True)
    question_lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    context_lengths = [len(ids) for ids in tokenizer([e.context for e in examples], add_special_tokens=False)["input_ids"]]
    for example, question, context in zip(examples, question_lengths, context_lengths):
        room = max_length - special - question
        if question + context + special > max_length and room <= doc_stride:
            raise ValueError(f"question {example.id!r}: its {question} tokens leave {max(room, 0)} context tokens per "
                             f"window of max_length={max_length}, which must be more than doc_stride={doc_stride}; "
                             "use a larger max_length or a smaller doc_stride")
