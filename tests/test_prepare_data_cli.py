"""`electra prepare-data` then `electra pretrain --data`, as a user runs them (PyTorch backend).

A run from the shards is the run from the text (same losses, same data positions in its
checkpoints, the same after a kill and --resume); shards of another vocab, damaged shards,
an unknown format version or other shards under --resume are refused with one line before
anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import kill_then_resume, train_records
from electra import cli

WORDS = ("the river ran past old mills where farmers brought grain each autumn and millers ground it into flour "
         "for bread sold in town markets while children played near water wheels turning slowly under grey skies").split()


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """200 documents of 2-5 sentences of common words, a vocab of those words, their shards."""
    root = tmp_path_factory.mktemp("prepare-data")
    rng = np.random.default_rng(0)
    documents = [" ".join(" ".join(rng.choice(WORDS, size=rng.integers(5, 25))).capitalize() + "."
                          for _ in range(rng.integers(2, 6))) for _ in range(200)]
    (root / "corpus.txt").write_text("\n\n".join(documents) + "\n")
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *sorted(set(WORDS))]) + "\n")
    prepared = prepare(root, root / "data")
    assert prepared == 0
    return {"root": root, "corpus": root / "corpus.txt", "vocab": root / "vocab.txt", "data": root / "data"}


def prepare(root: Path, out: Path, *extra: str) -> int:
    return cli.main(["prepare-data", "--corpus", str(root / "corpus.txt"), "--vocab", str(root / "vocab.txt"),
                     "--out", str(out), "--shard-tokens", "2000", *extra])


def pretrain(out: Path, source: list[str], *extra: str) -> list[str]:
    return ["pretrain", *source, "--out", str(out), "--steps", "6", "--batch-size", "4", "--seq-len", "32", "--save-every", "2",
            "--eval-batches", "1", "--seed", "3", "--no-progress", *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def data_run(setup):
    out = setup["root"] / "data-run"
    assert cli.main(pretrain(out, ["--data", str(setup["data"])])) == 0
    return out


def test_prepare_data_writes_shards(setup):
    meta = json.loads((setup["data"] / "meta.json").read_text())
    assert meta["documents"] == 200 and len(meta["shards"]) > 1
    assert meta["tokenizer"] == {"do_lower_case": True, "strip_accents": None, "tokenize_chinese_chars": True}
    assert (setup["data"] / "vocab.txt").read_bytes() == setup["vocab"].read_bytes()


def test_a_run_from_the_shards_is_the_run_from_the_text(setup, data_run):
    corpus_run = setup["root"] / "corpus-run"
    assert cli.main(pretrain(corpus_run, ["--corpus", str(setup["corpus"]), "--vocab", str(setup["vocab"])])) == 0
    for a, b in zip(train_records(data_run), train_records(corpus_run), strict=True):
        assert {k: v for k, v in a.items() if k != "tokens_per_s"} == {k: v for k, v in b.items() if k != "tokens_per_s"}
    lines = [(data_run / "metrics.jsonl").read_text().splitlines(), (corpus_run / "metrics.jsonl").read_text().splitlines()]
    assert [json.loads(x) for x in lines[0] if "loss" not in x] == [json.loads(x) for x in lines[1] if "loss" not in x]
    states = [json.loads((run / "checkpoint" / "trainer_state.json").read_text()) for run in (data_run, corpus_run)]
    assert states[0] == states[1]
    settings = json.loads((data_run / "run.json").read_text())
    assert settings["data"] == str(setup["data"].resolve()) and settings["corpus"] is None
    assert settings["vocab"] == str(setup["data"].resolve() / "vocab.txt") and len(settings["data_sha256"]) == 64


def test_resume_after_a_kill_repeats_the_uninterrupted_run(setup, data_run, monkeypatch):
    out = setup["root"] / "killed"
    kill_then_resume(monkeypatch, pretrain(out, ["--data", str(setup["data"])]), kill_at_step=5, resumes_from=4)
    assert train_records(out) == [{**r, "tokens_per_s": s["tokens_per_s"]} for r, s in zip(train_records(data_run), train_records(out))]


def damage(data: Path, case: str) -> str:
    """Spoils a copy of the shards as `case` says; returns the start of the error expected."""
    meta = json.loads((data / "meta.json").read_text())
    tokens = data / f"{meta['shards'][1]['name']}.tokens.npy"
    if case == "truncated":
        tokens.write_bytes(tokens.read_bytes()[:-10])
        return f"shard file {tokens} is {meta['shards'][1]['bytes'][tokens.name] - 10} bytes where meta.json records"
    if case == "missing":
        tokens.unlink()
        return f"shard file {tokens} is missing (truncated or damaged): prepare the data again"
    if case == "version":
        (data / "meta.json").write_text(json.dumps({**meta, "version": 99}))
        return f"{data / 'meta.json'} is of format version 99; this electra reads version 1"
    (data / "vocab.txt").write_text((data / "vocab.txt").read_text() + "extra\n")
    return f"{data / 'vocab.txt'} is missing or not the vocab the shards were tokenized with"


@pytest.mark.parametrize("case", ["truncated", "missing", "version", "vocab"])
def test_damaged_shards_are_refused_before_anything_is_written(setup, tmp_path, case, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(setup["data"], data)
    expected = damage(data, case)
    assert cli.main(pretrain(tmp_path / "out", ["--data", str(data)])) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"electra pretrain: error: {expected}") and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_another_vocab_other_shards_and_both_sources_are_refused(setup, tmp_path, capsys):
    import shutil

    other_vocab = tmp_path / "other-vocab.txt"
    other_vocab.write_text(setup["vocab"].read_text() + "extra\n")
    assert cli.main(pretrain(tmp_path / "out", ["--data", str(setup["data"]), "--vocab", str(other_vocab)])) == 2
    assert capsys.readouterr().err == (f"electra pretrain: error: --vocab {other_vocab} is not the vocab {setup['data']} was "
                                       f"prepared with ({setup['data'] / 'vocab.txt'}): leave --vocab out, or prepare the "
                                       "data again with this vocab\n")
    assert not (tmp_path / "out").exists()

    # A run on shards, given their vocab explicitly; then the shards are rebuilt from another corpus.
    data, run = tmp_path / "data", tmp_path / "run"
    shutil.copytree(setup["data"], data)
    assert cli.main(pretrain(run, ["--data", str(data), "--vocab", str(setup["vocab"])], "--steps", "2")) == 0
    shutil.rmtree(data)
    (tmp_path / "corpus.txt").write_text(setup["corpus"].read_text().replace("river", "mill"))
    shutil.copyfile(setup["vocab"], tmp_path / "vocab.txt")
    assert prepare(tmp_path, data) == 0
    capsys.readouterr()
    before = snapshot(run)
    assert cli.main(pretrain(run, ["--data", str(data), "--vocab", str(setup["vocab"])], "--steps", "2", "--resume")) == 2
    assert "holds a different run (data_sha256 is '" in capsys.readouterr().err
    assert snapshot(run) == before

    assert prepare(tmp_path, data) == 2  # prepare-data never writes over a folder
    assert capsys.readouterr().err == f"electra prepare-data: error: --out {data} already exists: choose a new folder for the data (or remove it)\n"
    with pytest.raises(SystemExit):
        cli.main(pretrain(tmp_path / "out", ["--data", str(setup["data"]), "--corpus", str(setup["corpus"])]))
    assert "argument --corpus: not allowed with argument --data" in capsys.readouterr().err
