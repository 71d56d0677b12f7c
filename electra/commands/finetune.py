"""`electra finetune`: fine-tune a checkpoint on a task, the same loop for every backend (docs/finetuning.md).

Tasks: `classification` (CSV/TSV/JSON Lines, one label, a number or a `|`-separated label
list per row: single-label, regression or multi-label), `token-classification` (CoNLL columns
or JSON Lines `tokens`/`tags`), `question-answering` (SQuAD v1.1/v2.0 JSON). The data side is
`electra.common.finetuning`; the backend provides only `electra.<backend>.finetuning.FinetuneTrainer`.

What `--out` holds:
    run.json                   the settings that define the run (a different run refuses to reuse it)
    tokenizer/                 the tokenizer the run uses
    checkpoint/                the latest training state (weights, optimizer moments, step, best so far)
    best/                      the best validation checkpoint (HF files + tokenizer files)
    metrics.jsonl              a record per logged step, and one per evaluation (after each epoch)
    results.json               {"validation": ..., "test": ...} of the best checkpoint
    predictions-validation.jsonl (and predictions-test.jsonl with --test) of the best checkpoint
    curves.png                 training loss and the main validation metric (with matplotlib)

Epoch e's batches are a permutation of the training rows drawn from (seed, e) and dropout of
step k is drawn from (seed, k), so `--resume` after a kill (or a run stopped by --max-steps)
repeats the uninterrupted run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from electra.commands.pretrain import check_backend, check_output, read_metrics, start_output
from electra.common.files import atomic_write_text
from electra.common.finetuning import recipe
from electra.common.pretraining.recipe import step_seed

TASKS = {
    "classification": "ElectraForSequenceClassification",
    "token-classification": "ElectraForTokenClassification",
    "question-answering": "ElectraForQuestionAnswering",
}
# The metric that picks the best checkpoint, per kind of problem (higher is better).
MAIN_METRICS = {
    "single_label_classification": "accuracy",
    "regression": "pearson",
    "multi_label_classification": "micro_f1",
    "token-classification": "f1",
    "question-answering": "f1",
}
RUN_KEYS = ("task", "model", "train", "validation", "test", "text_column", "text_pair_column", "label_column", "epochs",
            "batch_size", "lr", "layerwise_lr_decay", "weight_decay", "warmup_proportion", "max_length", "doc_stride",
            "seed", "precision", "backend", "tokenizer", "metric")
IGNORE_INDEX = -100


# ------------------------------------------------------------------------------------------ settings
def run_settings(args: argparse.Namespace, model_config: dict) -> dict[str, Any]:
    """The run-defining settings, JSON-ready, defaults resolved and checked against the model."""
    settings = {k: getattr(args, k, None) for k in RUN_KEYS}
    for name in ("model", "train", "validation", "test", "tokenizer"):
        if settings[name] is not None:
            settings[name] = str(Path(settings[name]).resolve())
    settings["tokenizer"] = settings["tokenizer"] or settings["model"]
    hidden = int(model_config.get("hidden_size", 256))
    if settings["lr"] is None:
        settings["lr"] = recipe.default_learning_rate(hidden)
    if settings["layerwise_lr_decay"] is None:
        settings["layerwise_lr_decay"] = recipe.default_layerwise_lr_decay(hidden)
    for name, default in (("weight_decay", recipe.WEIGHT_DECAY), ("warmup_proportion", recipe.WARMUP_PROPORTION),
                          ("epochs", recipe.EPOCHS), ("batch_size", recipe.BATCH_SIZE), ("max_length", recipe.MAX_LENGTH)):
        if settings[name] is None:
            settings[name] = default
    if settings["task"] == "token-classification":
        settings["text_column"] = settings["text_column"] or "tokens"
        settings["label_column"] = settings["label_column"] or "tags"
    else:
        settings["text_column"] = settings["text_column"] or "text"
        settings["label_column"] = settings["label_column"] or "label"
    for name in ("epochs", "batch_size", "max_length"):
        if settings[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {settings[name]}")
    if not settings["lr"] > 0:
        raise ValueError(f"--lr must be positive, got {settings['lr']}")
    if not 0 <= settings["layerwise_lr_decay"] <= 1:
        raise ValueError(f"--layerwise-lr-decay must be in [0, 1] (1: off), got {settings['layerwise_lr_decay']}")
    if not 0 <= settings["warmup_proportion"] < 1:
        raise ValueError(f"--warmup-proportion must be in [0, 1), got {settings['warmup_proportion']}")
    positions = int(model_config.get("max_position_embeddings", 512))
    if settings["max_length"] > positions:
        raise ValueError(f"--max-length {settings['max_length']} is longer than the {positions} positions of the model "
                         f"in {settings['model']}: pass --max-length {positions} or less")
    if settings["task"] == "question-answering" and settings["doc_stride"] is None:
        settings["doc_stride"] = min(128, settings["max_length"] // 4)
    return settings


def read_model_config(model: Path) -> dict:
    path = Path(model) / "config.json" if Path(model).is_dir() else Path(model).with_name("config.json")
    if not path.is_file():
        raise ValueError(f"--model {model}: no config.json there (expected a checkpoint directory: config.json + weights)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"--model {model}: config.json is not valid JSON ({err})") from None


def load_tokenizer(directory, named):
    """The fast tokenizer of `directory`; `named` is the --tokenizer the error names."""
    from electra.common.tokenizers.fast import ElectraTokenizerFast

    try:
        return ElectraTokenizerFast.from_pretrained(directory)
    except (OSError, ValueError) as err:
        raise ValueError(f"--tokenizer {named}: no tokenizer files there ({err}); pass --tokenizer DIR") from None


# ------------------------------------------------------------------------------------------ data
@dataclass
class Split:
    """One file's model inputs (padded to max_length), targets and what evaluation needs."""

    path: str
    inputs: dict[str, np.ndarray]  # input_ids, attention_mask, token_type_ids: (N, L) int64
    targets: dict[str, np.ndarray]  # labels, or start_positions / end_positions
    examples: list = field(default_factory=list)  # the examples (rows, sentences or questions)
    features: Any = None  # QA: the `QAFeatures`
    with_negatives: bool = False

    def __len__(self) -> int:
        return len(self.inputs["input_ids"])

    def batch(self, rows, with_targets: bool = True) -> dict[str, np.ndarray]:
        out = {k: v[rows] for k, v in self.inputs.items()}
        if with_targets:
            out.update({k: v[rows] for k, v in self.targets.items()})
        return out


def _pad(encoding, max_length: int, pad_id: int, labels=None) -> dict[str, np.ndarray]:
    """Unpadded token lists as (N, max_length) int64 arrays (padding: pad id, mask 0, labels -100)."""
    n = len(encoding["input_ids"])
    arrays = {"input_ids": np.full((n, max_length), pad_id, np.int64), "attention_mask": np.zeros((n, max_length), np.int64),
              "token_type_ids": np.zeros((n, max_length), np.int64)}
    for row, ids in enumerate(encoding["input_ids"]):
        arrays["input_ids"][row, :len(ids)] = ids
        arrays["attention_mask"][row, :len(ids)] = 1
        arrays["token_type_ids"][row, :len(ids)] = encoding["token_type_ids"][row]
    if labels is not None:
        arrays["labels"] = np.full((n, max_length), IGNORE_INDEX, np.int64)
        for row, tags in enumerate(labels):
            arrays["labels"][row, :len(tags)] = tags
    return arrays


def label_map_of(settings: dict[str, Any]):
    """The label set of the training file (classification and token classification)."""
    from electra.common.finetuning import labels, tagging

    if settings["task"] == "classification":
        examples = read_classification(settings, settings["train"])
        return labels.LabelMap.from_labels([e.label for e in examples], settings["train"])
    return tagging.tag_map(read_tagged(settings, settings["train"]), settings["train"])


def read_classification(settings, path):
    from electra.common.finetuning import classification

    return classification.read_text_examples(path, text_column=settings["text_column"], text_pair_column=settings["text_pair_column"],
                                             label_column=settings["label_column"])


def read_tagged(settings, path):
    from electra.common.finetuning import tagging

    return tagging.read_tagged_sentences(path, words_key=settings["text_column"], tags_key=settings["label_column"])


def read_split(settings: dict[str, Any], path: str, tokenizer, label_map) -> Split:
    """Read, check and tokenize one file; every error names the file (and line)."""
    L = settings["max_length"]
    if settings["task"] == "classification":
        from electra.common.finetuning import classification

        examples = read_classification(settings, path)
        targets = classification.encode_labels(examples, label_map, path)
        encoding, _ = classification.tokenize_text_examples(tokenizer, examples, L)
        return Split(path, _pad(encoding, L, tokenizer.pad_token_id), {"labels": targets}, examples)
    if settings["task"] == "token-classification":
        from electra.common.finetuning import tagging

        sentences = read_tagged(settings, path)
        tag_ids = tagging.encode_tags(sentences, label_map, path)
        encoding, _ = tagging.tokenize_tagged_sentences(tokenizer, sentences, L, tag_ids)
        arrays = _pad(encoding, L, tokenizer.pad_token_id, encoding["labels"])
        return Split(path, arrays, {"labels": arrays.pop("labels")}, sentences)
    from electra.common.finetuning import squad

    data = squad.read_squad(path)
    features = squad.qa_features(tokenizer, data.examples, max_length=L, doc_stride=settings["doc_stride"])
    return Split(path, features.inputs(), {"start_positions": features.start_positions, "end_positions": features.end_positions},
                 data.examples, features, data.with_negatives)


def check_head(settings: dict[str, Any], model_config: dict, label_map) -> None:
    """Refuse labels that do not fit the head a checkpoint of the task's architecture already has."""
    architectures = model_config.get("architectures") or []
    if label_map is None or TASKS[settings["task"]] not in architectures[:1]:
        return
    head = len(model_config.get("id2label") or {}) or int(model_config.get("num_labels", 2))
    if head != label_map.num_labels:
        raise ValueError(f"the training data has {label_map.num_labels} labels but the {architectures[0]} head in "
                         f"{settings['model']} has num_labels={head}: fine-tune from the bare encoder (an ElectraModel or "
                         "discriminator checkpoint) or from a head of the same size")


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The training rows of epoch `epoch`, a permutation drawn from (seed, epoch)."""
    return np.random.default_rng(step_seed(seed, epoch, "shuffle")).permutation(n)


def step_rows(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The rows of step `step` (epochs of ceil(n / batch_size) steps, the last batch possibly smaller)."""
    per_epoch = math.ceil(n / batch_size)
    epoch, index = divmod(step, per_epoch)
    return epoch_order(n, seed, epoch)[index * batch_size:(index + 1) * batch_size]


# ------------------------------------------------------------------------------------------ evaluation
def predict_split(trainer, split: Split, batch_size: int) -> dict[str, np.ndarray]:
    parts = [trainer.predict(split.batch(slice(i, i + batch_size), with_targets=False)) for i in range(0, len(split), batch_size)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def evaluate(settings: dict[str, Any], trainer, split: Split, label_map) -> tuple[dict[str, float], list[dict]]:
    """The task's metrics on a split and one prediction record per example."""
    from electra.common.finetuning import metrics

    outputs = predict_split(trainer, split, settings["batch_size"])
    if settings["task"] == "classification":
        logits, labels = outputs["logits"], split.targets["labels"]
        scores = metrics.classification_scores(label_map, logits, labels)
        records = []
        for example, row in zip(split.examples, logits):
            if label_map.problem_type == "regression":
                prediction = float(row[0])
            elif label_map.problem_type == "multi_label_classification":
                prediction = [label_map.names[i] for i in np.flatnonzero(row > 0)]
            else:
                prediction = label_map.names[int(row.argmax())]
            label = list(example.label) if isinstance(example.label, tuple) else example.label
            records.append({"line": example.line, "label": label, "prediction": prediction, "logits": [float(x) for x in row]})
        return scores, records
    if settings["task"] == "token-classification":
        from electra.common.finetuning.tagging import tag_sequences

        gold, predicted = tag_sequences(outputs["logits"].argmax(-1), split.targets["labels"], label_map)
        scores = metrics.entity_scores(gold, predicted)
        scores["accuracy"] = float(np.mean([g == p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)] or [0.0]))
        records = [{"line": s.lines[0], "words": list(s.words[:len(g)]), "tags": g, "prediction": p}
                   for s, g, p in zip(split.examples, gold, predicted)]
        return scores, records
    from electra.common.finetuning.answers import decode_answers
    from electra.common.finetuning.squad import answer_texts

    answers = decode_answers(split.examples, split.features, outputs["start_logits"], outputs["end_logits"],
                             with_negatives=split.with_negatives)
    predictions = {a.id: a.text for a in answers}
    gold = answer_texts(split.examples)
    scores = (metrics.squad_v2_scores if split.with_negatives else metrics.squad_v1_scores)(predictions, gold)
    records = [{"id": a.id, "prediction": a.text, "probability": a.probability, "answers": gold[a.id]} for a in answers]
    return scores, records


def main_metric(settings: dict[str, Any], label_map) -> str:
    if settings["metric"]:
        return settings["metric"]
    if settings["task"] == "classification":
        return MAIN_METRICS[label_map.problem_type]
    return MAIN_METRICS[settings["task"]]


# ------------------------------------------------------------------------------------------ files
def save_checkpoint(out: Path, trainer, state: dict[str, Any]) -> None:
    """The training state in `checkpoint/`, written beside it and swapped in (as pretrain's)."""
    from safetensors.numpy import save_file

    tmp, final, old = out / ".checkpoint.tmp", out / "checkpoint", out / ".checkpoint-old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: np.ascontiguousarray(v) for k, v in trainer.state_arrays().items()}, str(tmp / "state.safetensors"))
    (tmp / "trainer_state.json").write_text(json.dumps(state) + "\n")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(out: Path, trainer) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = out / "checkpoint"
    if not directory.is_dir() and (out / ".checkpoint-old").is_dir():
        directory = out / ".checkpoint-old"
    try:
        state = json.loads((directory / "trainer_state.json").read_text())
        arrays = load_file(str(directory / "state.safetensors"))
        int(state["step"])
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as err:
        raise ValueError(f"--resume: checkpoint in {directory} is missing or corrupt ({err})") from None
    trainer.load_state_arrays(arrays)
    return state


def save_best(out: Path, trainer, tokenizer, records: dict[str, list[dict]]) -> None:
    """`best/` (model + tokenizer) and the prediction files, each replaced atomically."""
    tmp, final, old = out / ".best.tmp", out / "best", out / ".best-old"
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    for name, rows in records.items():
        atomic_write_text(out / f"predictions-{name}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def plot_curves(records: list[dict[str, Any]], metric: str, file: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "validation" in r]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train])
    axes[0].set_title("training loss")
    axes[1].plot([r["step"] for r in evals], [r["validation"].get(metric, float("nan")) for r in evals], "o-", color="C2")
    axes[1].set_title(f"validation {metric}")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = file.with_name(f".{file.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, file)
    return True


def _fmt(scores: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items())


# ------------------------------------------------------------------------------------------ the run
def run_finetune(args: argparse.Namespace) -> dict[str, Any]:
    """The whole `electra finetune` job; returns results.json's content."""
    model_config = read_model_config(args.model)
    settings = run_settings(args, model_config)
    out = Path(args.out)
    overwrite, max_steps = getattr(args, "overwrite", False), getattr(args, "max_steps", None)
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"--max-steps must be at least 1, got {max_steps}")
    check_backend(settings["backend"])
    check_output(out, settings, args.resume, overwrite)
    tokenizer = load_tokenizer(out / "tokenizer" if args.resume else settings["tokenizer"], settings["tokenizer"])
    label_map = None if settings["task"] == "question-answering" else label_map_of(settings)
    check_head(settings, model_config, label_map)
    train = read_split(settings, settings["train"], tokenizer, label_map)
    validation = read_split(settings, settings["validation"], tokenizer, label_map)
    test = read_split(settings, settings["test"], tokenizer, label_map) if settings["test"] else None
    metric = main_metric(settings, label_map)

    per_epoch = math.ceil(len(train) / settings["batch_size"])
    total = per_epoch * settings["epochs"]
    if not args.resume:
        start_output(out, settings, tokenizer, overwrite)
    changes = {}
    if label_map is not None:
        changes = {"num_labels": label_map.num_labels, "id2label": label_map.id2label, "label2id": label_map.label2id,
                   "problem_type": label_map.problem_type}
    module = importlib.import_module(f"electra.{settings['backend']}.finetuning")
    trainer = module.FinetuneTrainer(settings["model"], TASKS[settings["task"]], changes, lr=settings["lr"],
                                     weight_decay=settings["weight_decay"], layerwise_lr_decay=settings["layerwise_lr_decay"],
                                     warmup_steps=recipe.warmup_steps(total, settings["warmup_proportion"]), total_steps=total,
                                     seed=settings["seed"], precision=settings["precision"])

    step, best = 0, None
    if args.resume and ((out / "checkpoint").is_dir() or (out / ".checkpoint-old").is_dir()):
        state = load_checkpoint(out, trainer)
        step, best = int(state["step"]), state.get("best")
        print(f"resuming {out} at step {step}/{total}", flush=True)
    metrics_file = out / "metrics.jsonl"
    atomic_write_text(metrics_file, "".join(json.dumps(r) + "\n" for r in read_metrics(metrics_file, up_to_step=step)))

    bar = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)
    stop = min(total, max_steps) if max_steps else total
    with open(metrics_file, "a", encoding="utf-8") as log:
        while step < stop:
            rows = step_rows(len(train), settings["batch_size"], settings["seed"], step)
            metrics = trainer.train_step(train.batch(rows), step)
            step += 1
            log.write(json.dumps({"step": step, **metrics}) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}")
            if step % per_epoch == 0:
                scores, val_records = evaluate(settings, trainer, validation, label_map)
                if metric not in scores:
                    raise ValueError(f"--metric {metric} is not one of this task's metrics ({', '.join(scores)})")
                log.write(json.dumps({"step": step, "epoch": step // per_epoch, "validation": scores}) + "\n")
                log.flush()
                if best is None or scores[metric] > best["validation"][metric]:
                    best = {"step": step, "validation": scores, "test": None}
                    records = {"validation": val_records}
                    if test is not None:
                        best["test"], records["test"] = evaluate(settings, trainer, test, label_map)
                    save_best(out, trainer, tokenizer, records)
                save_checkpoint(out, trainer, {"step": step, "best": best})
                line = f"epoch {step // per_epoch}/{settings['epochs']} step {step}/{total}  loss {metrics['loss']:.4f}  {_fmt(scores)}"
                (bar.write if bar is not None else print)(line)
                sys.stdout.flush()
            elif step == stop:
                log.flush()
                save_checkpoint(out, trainer, {"step": step, "best": best})
    if bar is not None:
        bar.close()
    if step < total:
        print(f"stopped at step {step}/{total} (--max-steps); continue with --resume", flush=True)
        return {"validation": best and best["validation"], "test": best and best["test"]}
    results = {"validation": best["validation"], "test": best["test"], "step": best["step"], "metric": metric}
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    plotted = plot_curves(read_metrics(metrics_file), metric, out / "curves.png")
    print(f"saved {out / 'best'}" + (f"; curves in {out / 'curves.png'}" if plotted else ""))
    print(f"best validation (step {best['step']}, by {metric}): {_fmt(best['validation'])}", flush=True)
    return results
