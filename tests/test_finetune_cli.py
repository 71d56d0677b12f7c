"""`electra finetune` end to end on tiny synthetic data and a tiny model saved to tmp_path.

Each task trains (the loss falls, the main metric is written), `best/` reloads with the logits
that were predicted, a run stopped by --max-steps and continued with --resume equals the
uninterrupted run, string labels survive save and load, and bad input is refused with one
line before anything in --out is touched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import tiny_config
from electra import cli
from electra.common.weights.checkpoint import write_pretrained
from electra.common.weights.random import random_state_dict

WORDS = ["good", "great", "fine", "nice", "bad", "awful", "poor", "sad", "the", "movie", "book", "was", "john", "mary",
         "paris", "london", "went", "to", "lives", "in", "who", "where", "is", "a", "and"]
POSITIVE, NEGATIVE = WORDS[:4], WORDS[4:8]
FILLER = ["the", "movie", "book", "was", "a", "and"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A bare ElectraModel (tiny, seeded, dropout on) with a WordPiece vocab of the words above."""
    directory = tmp_path_factory.mktemp("model")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *(c for c in "abcdefghijklmnopqrstuvwxyz.?," if c not in WORDS)]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = tiny_config(vocab_size=len(vocab), id2label={0: "LABEL_0", 1: "LABEL_1"})
    write_pretrained(directory, config, random_state_dict(config, "ElectraModel", seed=3), "ElectraModel")
    return directory


def _sentence(rng, sentiment: str) -> str:
    words = list(rng.choice(POSITIVE if sentiment == "pos" else NEGATIVE, 2)) + list(rng.choice(FILLER, 3))
    rng.shuffle(words)
    return " ".join(words)


def classification_file(path: Path, n: int, seed: int, labels=("pos", "neg")) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        rows.append({"text": _sentence(rng, "pos" if label == labels[0] else "neg"), "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tagging_file(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        name, place = rng.choice(["john", "mary"]), rng.choice(["paris", "london"])
        sentence = [(name, "B-PER"), (str(rng.choice(["went", "lives"])), "O"), ("to" if rng.random() < 0.5 else "in", "O"), (place, "B-LOC")]
        lines += [f"{w} {t}" for w, t in sentence] + [""]
    path.write_text("\n".join(lines))
    return path


def squad_file(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    paragraphs = []
    for i in range(n):
        name, place = rng.choice(["john", "mary"]), rng.choice(["paris", "london"])
        context = f"{name} lives in {place} and the book is good ."
        paragraphs.append({"context": context, "qas": [{"id": f"q{i}", "question": f"where {name} lives ?",
                                                        "answers": [{"text": place, "answer_start": context.index(place)}]}]})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return path


def args(model_dir, out, task, train, validation, *extra):
    return ["finetune", "--task", task, "--model", str(model_dir), "--train", str(train), "--validation", str(validation),
            "--out", str(out), "--max-length", "32", "--batch-size", "8", "--lr", "1e-3", "--layerwise-lr-decay", "1", "--no-progress", *extra]


def predict(model, input_file, output, *extra):
    """`electra predict` on a file; returns its records."""
    assert cli.main(["predict", "--model", str(model), "--input", str(input_file), "--output", str(output), "--max-length", "32",
                     *extra]) == 0
    return [json.loads(line) for line in Path(output).read_text().splitlines()]


def records(out: Path):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def predict_best(out: Path, rows):
    import torch

    import electra.pt

    config = json.loads((out / "best" / "config.json").read_text())
    model = getattr(electra.pt, config["architectures"][0]).from_pretrained(out / "best")
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in rows.items()})


@pytest.fixture(scope="module")
def classification_run(model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    train, validation = classification_file(root / "train.jsonl", 32, 0), classification_file(root / "val.jsonl", 16, 1)
    out = root / "run"
    assert cli.main(args(model_dir, out, "classification", train, validation, "--epochs", "8")) == 0
    return dict(root=root, out=out, train=train, validation=validation)


def test_classification_learns_and_writes_its_outputs(classification_run, capsys):
    out = classification_run["out"]
    losses = [r["loss"] for r in records(out) if "loss" in r]
    assert len(losses) == 8 * 4  # 32 rows / 8 per batch x 8 epochs
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    evaluations = [r for r in records(out) if "validation" in r]
    assert [r["step"] for r in evaluations] == [4, 8, 12, 16, 20, 24, 28, 32]
    results = json.loads((out / "results.json").read_text())
    best = max(evaluations, key=lambda r: r["validation"]["accuracy"])
    assert results["validation"] == best["validation"] and results["metric"] == "accuracy"
    assert results["validation"]["accuracy"] == 1.0
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}
    assert config["problem_type"] == "single_label_classification"
    assert (out / "best" / "vocab.txt").is_file() and (out / "curves.png").is_file()
    predictions = [json.loads(line) for line in (out / "predictions-validation.jsonl").read_text().splitlines()]
    assert len(predictions) == 16 and all(p["prediction"] == p["label"] for p in predictions)


@pytest.mark.parametrize("backend", ["pt", "tf", "flax"])
def test_predict_labels_new_text_as_the_evaluation_did(classification_run, tmp_path, backend, capsys):
    pytest.importorskip({"pt": "torch", "tf": "tensorflow", "flax": "flax"}[backend])
    out = classification_run["out"]
    evaluated = [json.loads(line) for line in (out / "predictions-validation.jsonl").read_text().splitlines()]
    texts = tmp_path / "texts.csv"  # another format than training's, and no label column
    texts.write_text("text\n" + "".join(json.loads(line)["text"] + "\n" for line in classification_run["validation"].read_text().splitlines()))
    predicted = predict(out / "best", texts, tmp_path / "predicted.jsonl", "--backend", backend)
    assert [p["line"] for p in predicted] == list(range(2, 18))
    assert [p["label"] for p in predicted] == [e["prediction"] for e in evaluated]
    for p, e in zip(predicted, evaluated):
        logits = np.array(e["logits"])
        softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose([p["probabilities"]["neg"], p["probabilities"]["pos"]], softmax, atol=1e-5)
        assert p["probability"] == max(p["probabilities"].values())
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"wrote 16 classification predictions to {tmp_path / 'predicted.jsonl'}"


@pytest.mark.parametrize("case, message", [
    ("bare", "electra predict runs a fine-tuned"),
    ("exists", "exists; pass --overwrite"),
    ("max-length", "is longer than the 64 positions"),
    ("missing-column", "no key 'text'; this line has 'sentence'"),
])
def test_predict_refuses_bad_input_before_writing(model_dir, classification_run, tmp_path, case, message, capsys):
    model, output, extra = classification_run["out"] / "best", tmp_path / "out.jsonl", []
    if case == "bare":
        model = model_dir
    elif case == "exists":
        output.write_text("keep me\n")
    elif case == "max-length":
        extra = ["--max-length", "100"]
    source = classification_run["validation"]
    if case == "missing-column":
        source = tmp_path / "other.jsonl"
        source.write_text(json.dumps({"sentence": "good"}) + "\n")
    code = cli.main(["predict", "--model", str(model), "--input", str(source), "--output", str(output), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert (output.read_text() == "keep me\n") if case == "exists" else not output.exists()


def test_best_reloads_with_the_predicted_logits_in_pt_and_transformers(classification_run):
    import torch
    import transformers

    from electra.common.tokenizers.fast import ElectraTokenizerFast

    out = classification_run["out"]
    predictions = [json.loads(line) for line in (out / "predictions-validation.jsonl").read_text().splitlines()]
    texts = [json.loads(line)["text"] for line in classification_run["validation"].read_text().splitlines()]
    tokenizer = ElectraTokenizerFast.from_pretrained(out / "best")
    encoding = tokenizer(texts, padding="max_length", max_length=32, return_tensors="np")
    rows = {k: encoding[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    expected = np.array([p["logits"] for p in predictions], np.float32)
    ours = predict_best(out, rows).logits.numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    hf = transformers.ElectraForSequenceClassification.from_pretrained(out / "best").eval()
    with torch.no_grad():
        theirs = hf(**{k: torch.from_numpy(v) for k, v in rows.items()}).logits.numpy()
    np.testing.assert_allclose(theirs, expected, atol=1e-5)
    assert hf.config.id2label == {0: "neg", 1: "pos"}


def test_resume_after_max_steps_equals_the_uninterrupted_run(model_dir, classification_run, capsys):
    root = classification_run["root"]
    out = root / "resumed"
    common = args(model_dir, out, "classification", classification_run["train"], classification_run["validation"], "--epochs", "8")
    assert cli.main(common + ["--max-steps", "9"]) == 0  # stops mid-epoch 2
    assert "stopped at step 9/32" in capsys.readouterr().out
    assert not (out / "results.json").exists()
    assert cli.main(common + ["--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert records(out) == records(classification_run["out"])
    from safetensors.numpy import load_file

    a, b = load_file(str(out / "best" / "model.safetensors")), load_file(str(classification_run["out"] / "best" / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_unseen_validation_label_and_head_size_are_refused(model_dir, classification_run, tmp_path, capsys):
    root = classification_run["root"]
    bad = classification_file(tmp_path / "val.jsonl", 6, 2, labels=("pos", "neg", "meh"))
    out = tmp_path / "run"
    assert cli.main(args(model_dir, out, "classification", classification_run["train"], bad)) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"electra finetune: error: {bad}:3: label 'meh' is not one of the 2 labels of the training data ('neg', 'pos')")
    assert not out.exists()
    # best/ has a 2-label head: a 3-label training file does not fit it.
    three = classification_file(tmp_path / "three.jsonl", 9, 2, labels=("pos", "neg", "meh"))
    assert cli.main(args(root / "run" / "best", out, "classification", three, three)) == 2
    assert "the training data has 3 labels but the ElectraForSequenceClassification head" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("case, message", [
    ("missing-column", "bad.jsonl:1: no key 'text'; this line has 'sentence', 'label'"),
    ("empty", "empty"),
    ("bad-json", "bad.jsonl:2"),
    ("max-length", "--max-length 100 is longer than the 64 positions"),
    ("squad-offset", "does not match the context there"),
])
def test_bad_input_is_refused_before_training(model_dir, tmp_path, case, message, capsys):
    train = classification_file(tmp_path / "train.jsonl", 8, 0)
    task, extra = "classification", []
    if case == "missing-column":
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"sentence": "good", "label": "pos"}) + "\n")
    elif case == "empty":
        bad = tmp_path / "bad.jsonl"
        bad.write_text("")
    elif case == "bad-json":
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"text": "good", "label": "pos"}) + "\n{not json\n")
    elif case == "max-length":
        bad, extra = train, ["--max-length", "100"]
    else:
        task, bad = "question-answering", tmp_path / "bad.json"
        bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "john lives in paris", "qas": [
            {"id": "q", "question": "where", "answers": [{"text": "paris", "answer_start": 3}]}]}]}]}))
        train = bad
    out = tmp_path / "out"
    code = cli.main(args(model_dir, out, task, train, bad, *extra))
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_out_holding_another_run_is_refused_unless_overwrite(model_dir, classification_run, capsys):
    out = classification_run["out"]
    before = (out / "results.json").read_text()
    assert cli.main(args(model_dir, out, "classification", classification_run["train"], classification_run["validation"], "--epochs", "1")) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "results.json").read_text() == before


def test_token_classification_learns_entities(model_dir, tmp_path, capsys):
    train, validation = tagging_file(tmp_path / "train.conll", 16, 0), tagging_file(tmp_path / "val.conll", 8, 1)
    out = tmp_path / "run"
    assert cli.main(args(model_dir, out, "token-classification", train, validation, "--epochs", "8")) == 0
    losses = [r["loss"] for r in records(out) if "loss" in r]
    assert np.mean(losses[-2:]) < 0.5 * np.mean(losses[:2])
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "f1" and results["validation"]["gold_entities"] == 16 and results["validation"]["f1"] == 1.0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("best validation (step ")
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["id2label"] == {"0": "B-LOC", "1": "B-PER", "2": "O"}
    # electra predict on the words alone (one CoNLL column) tags them as the evaluation did.
    words_only = tmp_path / "words.conll"
    words_only.write_text("\n".join(line.split(" ")[0] for line in validation.read_text().splitlines()))
    evaluated = [json.loads(line) for line in (out / "predictions-validation.jsonl").read_text().splitlines()]
    predicted = predict(out / "best", words_only, tmp_path / "tags.jsonl")
    assert [p["tags"] for p in predicted] == [e["prediction"] for e in evaluated]
    assert [p["words"] for p in predicted] == [e["words"] for e in evaluated]
    # A sentence longer than --max-length: the words cut get tag null (and a warning), none is dropped.
    long_sentence = tmp_path / "long.conll"
    long_sentence.write_text("\n".join(["john", "lives", "in", "paris"] * 10))
    capsys.readouterr()
    [cut] = predict(out / "best", long_sentence, tmp_path / "long.jsonl", "--max-length", "8")
    assert len(cut["tags"]) == 40 and cut["tags"][6:] == [None] * 34 and None not in cut["tags"][:6]
    assert "1 of 1 sentences are longer than --max-length 8" in capsys.readouterr().err


def test_question_answering_learns_spans(model_dir, tmp_path):
    train, validation = squad_file(tmp_path / "train.json", 16, 0), squad_file(tmp_path / "val.json", 8, 1)
    out = tmp_path / "run"
    assert cli.main(args(model_dir, out, "question-answering", train, validation, "--epochs", "8")) == 0
    losses = [r["loss"] for r in records(out) if "loss" in r]
    assert np.mean(losses[-2:]) < 0.6 * np.mean(losses[:2])
    results = json.loads((out / "results.json").read_text())
    assert results["validation"] == {"exact_match": 100.0, "f1": 100.0}
    assert results["metric"] == "f1" and set(results["validation"]) == {"exact_match", "f1"}
    predictions = [json.loads(line) for line in (out / "predictions-validation.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [f"q{i}" for i in range(8)]
    # electra predict on the questions without their answers gives the evaluated answers and their spans.
    document = json.loads(validation.read_text())
    for paragraph in document["data"][0]["paragraphs"]:
        for qa in paragraph["qas"]:
            del qa["answers"]
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(document))
    answers = predict(out / "best", questions, tmp_path / "answers.jsonl")
    assert [(a["id"], a["answer"]) for a in answers] == [(p["id"], p["prediction"]) for p in predictions]
    for answer, paragraph in zip(answers, document["data"][0]["paragraphs"]):
        assert paragraph["context"][answer["start"]:answer["end"]] == answer["answer"]
        assert 0 < answer["probability"] <= 1


@pytest.mark.parametrize("backend", [b for b in ("tf", "flax") if (Path(__file__).parents[1] / "electra" / b / "finetuning.py").is_file()])
def test_other_backends_run_the_same_classification(model_dir, classification_run, tmp_path, backend):
    pytest.importorskip({"tf": "tensorflow", "flax": "flax"}[backend])
    out = tmp_path / backend
    assert cli.main(args(model_dir, out, "classification", classification_run["train"], classification_run["validation"],
                         "--epochs", "16", "--backend", backend)) == 0
    losses = [r["loss"] for r in records(out) if "loss" in r]
    assert len(losses) == 64
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    # best/ written by this backend loads in electra.pt with the logits the run predicted.
    predictions = [json.loads(line) for line in (out / "predictions-validation.jsonl").read_text().splitlines()]
    from electra.common.tokenizers.fast import ElectraTokenizerFast

    texts = [json.loads(line)["text"] for line in classification_run["validation"].read_text().splitlines()]
    encoding = ElectraTokenizerFast.from_pretrained(out / "best")(texts, padding="max_length", max_length=32, return_tensors="np")
    rows = {k: encoding[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    np.testing.assert_allclose(predict_best(out, rows).logits.numpy(), np.array([p["logits"] for p in predictions], np.float32), atol=1e-5)


def test_malformed_csv_row_is_refused_with_its_line(model_dir, tmp_path, capsys):
    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood movie,pos\nbad movie,neg,extra\nfine book,pos\n")
    out = tmp_path / "out"
    assert cli.main(args(model_dir, out, "classification", train, train)) == 2
    err = capsys.readouterr().err
    assert f"{train}:3: the row has 3 fields, the header has 2" in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def _scored_rows(n: int, seed: int):
    """Sentences with a score: the share of positive words among the sentiment words."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        positive = int(rng.integers(0, 3))
        words = list(rng.choice(POSITIVE, positive)) + list(rng.choice(NEGATIVE, 2 - positive)) + list(rng.choice(FILLER, 3))
        rng.shuffle(words)
        rows.append((" ".join(words), positive))
    return rows


def test_regression_learns_scores_and_predicts_values(model_dir, tmp_path):
    files = {}
    for name, n, seed in (("train", 32, 0), ("val", 16, 1)):
        rows = [json.loads(line) for line in classification_file(tmp_path / f"{name}-labels.jsonl", n, seed).read_text().splitlines()]
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps({"text": r["text"], "label": 1.0 if r["label"] == "pos" else 0.0}) + "\n"
                                       for r in rows))
    out = tmp_path / "run"
    assert cli.main(args(model_dir, out, "classification", files["train"], files["val"], "--epochs", "16")) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "pearson" and set(results["validation"]) == {"pearson", "spearman"}
    assert results["validation"]["pearson"] > 0.8, results
    losses = [r["loss"] for r in records(out) if "loss" in r]
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["problem_type"] == "regression" and len(config["id2label"]) == 1
    predicted = predict(out / "best", files["val"], tmp_path / "values.jsonl")
    values = np.array([p["value"] for p in predicted])
    labels = np.array([json.loads(line)["label"] for line in files["val"].read_text().splitlines()])
    assert np.corrcoef(values, labels)[0, 1] == pytest.approx(results["validation"]["pearson"], abs=1e-5)


def test_multi_label_learns_label_sets_and_predicts_them(model_dir, tmp_path):
    files = {}
    for name, n, seed in (("train", 48, 0), ("val", 24, 1)):
        rows = []
        for text, positive in _scored_rows(n, seed):
            rows.append({"text": text, "label": [label for label, present in (("pos", positive > 0), ("neg", positive < 2)) if present]})
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    assert cli.main(args(model_dir, out, "classification", files["train"], files["val"], "--epochs", "16")) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["metric"] == "micro_f1" and results["validation"]["micro_f1"] > 0.75, results
    losses = [r["loss"] for r in records(out) if "loss" in r]
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and sorted(config["label2id"]) == ["neg", "pos"]
    predicted = predict(out / "best", files["val"], tmp_path / "labels.jsonl")
    gold = [set(json.loads(line)["label"]) for line in files["val"].read_text().splitlines()]
    hits = np.mean([set(p["labels"]) == g for p, g in zip(predicted, gold)])
    assert hits == pytest.approx(results["validation"]["subset_accuracy"], abs=1e-9)
    assert all(set(p["probabilities"]) == {"neg", "pos"} for p in predicted)


def test_squad_v2_learns_answers_and_no_answers(model_dir, tmp_path):
    def v2_file(path, n, seed):
        rng = np.random.default_rng(seed)
        paragraphs = []
        for i in range(n):
            name, place = rng.choice(["john", "mary"]), rng.choice(["paris", "london"])
            context = f"{name} lives in {place} and the book is good ."
            # Every other question has no answer in the context.
            qa = {"id": f"q{i}", "question": f"where {name} lives ?" if i % 2 == 0 else "who is sad ?"}
            if i % 2 == 0:
                qa["answers"] = [{"text": place, "answer_start": context.index(place)}]
            else:
                qa |= {"answers": [], "is_impossible": True}
            paragraphs.append({"context": context, "qas": [qa]})
        path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}))
        return path

    train, validation = v2_file(tmp_path / "train.json", 32, 0), v2_file(tmp_path / "val.json", 8, 1)
    out = tmp_path / "run"
    assert cli.main(args(model_dir, out, "question-answering", train, validation, "--epochs", "24")) == 0
    results = json.loads((out / "results.json").read_text())["validation"]
    assert results["HasAns_total"] == 4 and results["NoAns_total"] == 4
    assert results["HasAns_f1"] == 100.0 and results["NoAns_f1"] == 100.0, results
    predictions = [json.loads(line) for line in (out / "predictions-validation.jsonl").read_text().splitlines()]
    assert [p["prediction"] == "" for p in predictions] == [i % 2 == 1 for i in range(8)]


def test_bf16_precision_trains_and_saves_float32_weights(model_dir, classification_run, tmp_path):
    out = tmp_path / "bf16"
    assert cli.main(args(model_dir, out, "classification", classification_run["train"], classification_run["validation"],
                         "--epochs", "8", "--precision", "bf16")) == 0
    losses = [r["loss"] for r in records(out) if "loss" in r]
    assert all(np.isfinite(losses)) and np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
    from safetensors.numpy import load_file

    weights = load_file(str(out / "best" / "model.safetensors"))
    assert {str(v.dtype) for v in weights.values()} == {"float32"}
    assert json.loads((out / "results.json").read_text())["validation"]["accuracy"] >= 0.9
