"""`electra predict`: run a fine-tuned model on new data and write one prediction per line (docs/finetuning.md).

The task comes from the checkpoint: its config's first `architectures` entry is one of the
three heads `electra finetune` trains, and its `id2label` / `problem_type` name the labels.
The input is a file of the format the task was fine-tuned on; labels, tags and answers may be
absent (they are ignored when present). The output is JSON Lines, one record per example in
input order:

    classification         {"line", "label", "probability", "probabilities": {label: p}}
    multi-label            {"line", "labels": [labels with p >= 0.5], "probabilities": {label: p}}
    regression             {"line", "value"}
    token-classification   {"line", "words", "tags"} (a word cut by --max-length has tag null)
    question-answering     {"id", "answer", "start", "end", "probability"} (characters
                           context[start:end]; no answer: "" and null, v2.0 data only)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from electra.commands.finetune import TASKS, Split, _pad, load_tokenizer, predict_split, read_model_config
from electra.commands.pretrain import check_backend
from electra.common.config import ElectraConfig
from electra.common.files import atomic_write_text
from electra.common.finetuning import recipe
from electra.common.finetuning.labels import LabelMap

TASK_OF = {architecture: task for task, architecture in TASKS.items()}
MULTI_LABEL_THRESHOLD = 0.5  # sigmoid(0): the logit sign evaluation uses


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="run a fine-tuned model on a file and write one prediction per line",
        description="Run the model `electra finetune` saved (OUT/best, or any checkpoint of ElectraForSequenceClassification, "
        "ElectraForTokenClassification or ElectraForQuestionAnswering) on --input and write JSON Lines to --output. "
        "See docs/finetuning.md.",
    )
    p.add_argument("--model", type=Path, required=True, help="a fine-tuned checkpoint directory (config.json, weights, tokenizer files)")
    p.add_argument("--input", type=Path, required=True, help="examples in the task's format: .csv/.tsv/.jsonl (classification), "
                   "CoNLL or .jsonl (token-classification), SQuAD .json (question-answering); labels not needed")
    p.add_argument("--output", type=Path, required=True, help="the JSON Lines file to write (one record per example)")
    p.add_argument("--text-column", help="column/key of the text (default: text; token-classification: tokens)")
    p.add_argument("--text-pair-column", help="column of the second text of sentence-pair tasks")
    p.add_argument("--max-length", type=int, default=None, help="tokens per example, special tokens included (default: 128, "
                   "question-answering 384, at most the model's positions)")
    p.add_argument("--doc-stride", type=int, default=None, help="question-answering: overlap of the context windows "
                   "(default: min(128, max-length / 4))")
    p.add_argument("--max-answer-length", type=int, default=30, help="question-answering: longest answer in tokens (default: 30)")
    p.add_argument("--n-best-size", type=int, default=20, help="question-answering: candidate starts and ends per window (default: 20)")
    p.add_argument("--allow-no-answer", action="store_true", help="question-answering: the model may answer nothing (SQuAD v2.0); "
                   "on by default when --input is v2.0")
    p.add_argument("--batch-size", type=int, default=32, help="examples per forward pass (default: 32)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="compute precision")
    p.add_argument("--backend", choices=("pt", "tf", "flax"), default="pt", help="framework to run with (default: pt)")
    p.add_argument("--tokenizer", type=Path, help="tokenizer directory (default: --model)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    p.add_argument("--verbose", action="store_true", help="let the framework's own log messages through")


def task_of(model: Path, config: dict) -> str:
    architectures = config.get("architectures") or []
    if not architectures or architectures[0] not in TASK_OF:
        raise ValueError(f"--model {model} holds {'an ' + architectures[0] if architectures else 'a model without architectures'} "
                         f"checkpoint; electra predict runs a fine-tuned {', '.join(TASK_OF)} (the best/ of electra finetune)")
    return TASK_OF[architectures[0]]


def check_settings(args: argparse.Namespace, task: str, config: dict) -> int:
    """The max length to use; every size checked before anything is read."""
    positions = int(config.get("max_position_embeddings", 512))
    default = 384 if task == "question-answering" else recipe.MAX_LENGTH
    max_length = args.max_length if args.max_length is not None else min(default, positions)
    for name, value in (("max_length", max_length), ("batch_size", args.batch_size), ("max_answer_length", args.max_answer_length),
                        ("n_best_size", args.n_best_size), ("doc_stride", 1 if args.doc_stride is None else args.doc_stride)):
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if max_length > positions:
        raise ValueError(f"--max-length {max_length} is longer than the {positions} positions of the model in {args.model}: "
                         f"pass --max-length {positions} or less")
    if args.output.exists() and not args.overwrite:
        raise ValueError(f"--output {args.output} exists; pass --overwrite to replace it")
    return max_length


def label_map(model: Path, config: dict) -> LabelMap:
    """The head's labels (`id2label`, `problem_type`); a config without `problem_type` is read
    as HF reads it: one output is a regression, more a single-label classification."""
    parsed = ElectraConfig.from_dict(config, source=f"{model}/config.json")
    labels = LabelMap.from_config(parsed)
    if parsed.problem_type is None and labels.num_labels == 1:
        return LabelMap("regression", labels.names)
    return labels


def load_model(args: argparse.Namespace, task: str):
    """The backend's `FinetuneTrainer` around the checkpoint: its `predict` is the evaluation's
    forward (eval mode, the precision's autocast, input checks); the optimizer is not used."""
    module = importlib.import_module(f"electra.{args.backend}.finetuning")
    return module.FinetuneTrainer(args.model, TASKS[task], {}, lr=1.0, weight_decay=0.0, layerwise_lr_decay=1.0,
                                  warmup_steps=0, total_steps=1, seed=0, precision=args.precision)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def classification_records(args, labels: LabelMap, tokenizer, max_length: int, trainer) -> list[dict[str, Any]]:
    from electra.common.finetuning import classification

    examples = classification.read_text_examples(args.input, text_column=args.text_column or "text",
                                                 text_pair_column=args.text_pair_column, label_column=None)
    encoding, truncated = classification.tokenize_text_examples(tokenizer, examples, max_length)
    if truncated:
        print(f"electra predict: {truncated} of {len(examples)} examples are longer than --max-length {max_length}; "
              "their end was cut (as in fine-tuning)", file=sys.stderr)
    split = Split(str(args.input), _pad(encoding, max_length, tokenizer.pad_token_id), {}, examples)
    logits = predict_split(trainer, split, args.batch_size)["logits"].astype(np.float64)
    names, problem = labels.names, labels.problem_type
    records = []
    for example, row in zip(examples, logits):
        if problem == "regression":
            records.append({"line": example.line, "value": float(row[0])})
        elif problem == "multi_label_classification":
            p = 1.0 / (1.0 + np.exp(-row))
            records.append({"line": example.line, "labels": [n for n, q in zip(names, p) if q >= MULTI_LABEL_THRESHOLD],
                            "probabilities": {n: float(q) for n, q in zip(names, p)}})
        else:
            p = _softmax(row)
            best = int(p.argmax())
            records.append({"line": example.line, "label": names[best], "probability": float(p[best]),
                            "probabilities": {n: float(q) for n, q in zip(names, p)}})
    return records


def tagging_records(args, labels: LabelMap, tokenizer, max_length: int, trainer) -> list[dict[str, Any]]:
    from electra.common.finetuning import tagging

    sentences = tagging.read_tagged_sentences(args.input, words_key=args.text_column or "tokens", tags_key=None)
    # Word markers: 0 on each word's first token, -100 elsewhere (as the training labels).
    markers = [[0] * len(sentence.words) for sentence in sentences]
    encoding, truncated = tagging.tokenize_tagged_sentences(tokenizer, sentences, max_length, markers)
    if truncated:
        print(f"electra predict: {truncated} of {len(sentences)} sentences are longer than --max-length {max_length}; "
              "their last words get tag null", file=sys.stderr)
    arrays = _pad(encoding, max_length, tokenizer.pad_token_id, encoding["labels"])
    firsts = arrays.pop("labels") != tagging.IGNORE_INDEX
    split = Split(str(args.input), arrays, {}, sentences)
    predicted = predict_split(trainer, split, args.batch_size)["logits"].argmax(-1)
    records = []
    for sentence, row, first in zip(sentences, predicted, firsts):
        tags = [labels.names[i] for i in row[first]]
        tags += [None] * (len(sentence.words) - len(tags))
        records.append({"line": sentence.lines[0], "words": list(sentence.words), "tags": tags})
    return records


def answer_records(args, labels: LabelMap, tokenizer, max_length: int, trainer) -> list[dict[str, Any]]:
    from electra.common.finetuning import squad
    from electra.common.finetuning.answers import decode_answers

    data = squad.read_squad(args.input, require_answers=False)
    doc_stride = args.doc_stride if args.doc_stride is not None else min(128, max_length // 4)
    features = squad.qa_features(tokenizer, data.examples, max_length=max_length, doc_stride=doc_stride)
    split = Split(str(args.input), features.inputs(), {}, data.examples, features)
    outputs = predict_split(trainer, split, args.batch_size)
    answers = decode_answers(data.examples, features, outputs["start_logits"], outputs["end_logits"],
                             with_negatives=data.with_negatives or args.allow_no_answer, n_best_size=args.n_best_size,
                             max_answer_length=args.max_answer_length)
    return [{"id": a.id, "answer": a.text, "start": a.start if a.text else None, "end": a.end if a.text else None,
             "probability": a.probability} for a in answers]


def run_predict(args: argparse.Namespace) -> int:
    config = read_model_config(args.model)
    task = task_of(args.model, config)
    max_length = check_settings(args, task, config)
    check_backend(args.backend)
    tokenizer = load_tokenizer(args.tokenizer or args.model, args.tokenizer or args.model)
    records_of = {"classification": classification_records, "token-classification": tagging_records,
                  "question-answering": answer_records}[task]
    # The input is read and checked before the model is loaded (`records_of` reads first).
    trainer = _Lazy(lambda: load_model(args, task))
    records = records_of(args, label_map(args.model, config), tokenizer, max_length, trainer)
    atomic_write_text(args.output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    print(f"wrote {len(records)} {task} predictions to {args.output}")
    return 0


class _Lazy:
    """A trainer built on first use, so that a bad --input fails before the model loads."""

    def __init__(self, build):
        self._build, self._trainer = build, None

    def predict(self, batch):
        if self._trainer is None:
            self._trainer = self._build()
        return self._trainer.predict(batch)
