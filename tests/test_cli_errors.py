"""`electra pretrain` and `electra detect` as a newcomer meets them, each run as a
subprocess in a temporary folder: a failed start leaves --out as it was and the retry
works; --overwrite; refusals that say how to go on; `detect` refuses what is not a
discriminator; files follow the umask; a run whose output is not a terminal prints a line
per checkpoint; TensorFlow's start-up lines stay out of the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

WORDS = ("the river ran past old mills where farmers brought grain each autumn and millers ground it into flour "
         "for bread sold in town markets while children played near water wheels turning slowly under grey skies").split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A corpus of 200 short documents (blank-line separated) of common words."""
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(WORDS, size=80)) + "." for _ in range(200)]
    file = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    file.write_text("\n\n".join(docs) + "\n")
    return file


def electra(cwd: Path, *argv: str, umask: int | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = dict(os.environ, **(env or {}))
    environ.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command's own default is under test
    preexec = None if umask is None else (lambda: os.umask(umask))
    return subprocess.run([sys.executable, "-m", "electra", *argv], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=600, preexec_fn=preexec)


def small_run(corpus: Path, out: str, *extra: str) -> list[str]:
    return ["pretrain", "--corpus", str(corpus), "--out", out, "--steps", "4", "--batch-size", "4", "--seq-len", "32",
            "--vocab-size", "120", "--save-every", "2", "--eval-batches", "1", *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.rglob("*"))}


def test_a_failed_start_leaves_no_out_and_the_retry_works(tmp_path, corpus):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("too little text\n")
    failed = electra(tmp_path, *small_run(tiny, "runs/a"))
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        f"electra pretrain: error: the corpus ({tiny}) is too small for one held-out batch of 4 sequences of 32 tokens "
        "(one document in 20 is held out): give more text with --corpus, or lower --batch-size or --seq-len")
    assert not (tmp_path / "runs").exists()
    too_long = electra(tmp_path, *small_run(corpus, "runs/a", "--seq-len", "100000"))
    assert too_long.returncode == 2 and "--seq-len 100000 is longer than the 128 positions of --preset tiny: pass --seq-len 128 or less" in too_long.stderr
    assert "training a WordPiece vocab" not in too_long.stdout  # refused before the vocab is trained
    assert not (tmp_path / "runs").exists()
    retry = electra(tmp_path, *small_run(corpus, "runs/a"))
    assert retry.returncode == 0, retry.stderr
    assert {"run.json", "tokenizer", "discriminator", "generator", "metrics.jsonl", "checkpoint"} <= {p.name for p in (tmp_path / "runs/a").iterdir()}
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".")]  # no staging folder left


def test_refusals_leave_a_run_untouched_and_say_how_to_go_on(tmp_path, corpus):
    assert electra(tmp_path, *small_run(corpus, "run")).returncode == 0
    before = snapshot(tmp_path / "run")
    again = electra(tmp_path, *small_run(corpus, "run"))
    assert again.returncode == 2
    assert "--out run already holds a run: add --resume to continue it, --overwrite to start it over, or choose another --out" in again.stderr
    other = electra(tmp_path, *small_run(corpus, "run", "--resume", "--seq-len", "64"))
    assert other.returncode == 2
    assert "--resume: run holds a different run (seq_len is 32 there, 64 now)" in other.stderr and "--overwrite" in other.stderr
    failed_overwrite = electra(tmp_path, *small_run(corpus, "run", "--overwrite", "--seq-len", "100000"))
    assert failed_overwrite.returncode == 2
    assert snapshot(tmp_path / "run") == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    foreign = electra(tmp_path, *small_run(corpus, "mine", "--overwrite"))
    assert foreign.returncode == 2 and "holds files that are not an electra run" in foreign.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_overwrite_starts_the_run_over(tmp_path, corpus):
    assert electra(tmp_path, *small_run(corpus, "run")).returncode == 0
    redo = electra(tmp_path, *small_run(corpus, "run", "--overwrite", "--seed", "3"))
    assert redo.returncode == 0, redo.stderr
    assert json.loads((tmp_path / "run" / "run.json").read_text())["seed"] == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_files_follow_the_umask_and_a_log_gets_a_line_per_checkpoint(tmp_path, corpus):
    result = electra(tmp_path, *small_run(corpus, "run", "--steps", "40", "--save-every", "20"), umask=0o027)
    assert result.returncode == 0, result.stderr
    for name in ("run.json", "metrics.jsonl", "tokenizer/vocab.txt", "discriminator/config.json",
                 "discriminator/model.safetensors", "generator/tokenizer_config.json", "curves.png"):
        assert oct((tmp_path / "run" / name).stat().st_mode & 0o777) == oct(0o640), name
    output = result.stdout + result.stderr
    assert "\r" not in output  # no progress bar redrawn into a file
    assert [line for line in result.stdout.splitlines() if line.startswith("step ")] == [
        line for line in result.stdout.splitlines() if line.startswith(("step 20/40", "step 40/40"))]
    assert len(output) < 2000, output


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus) -> Path:
    root = tmp_path_factory.mktemp("detect")
    assert electra(root, *small_run(corpus, "run")).returncode == 0
    return root / "run"


def test_detect_refuses_what_is_not_a_discriminator(trained):
    generator = electra(trained.parent, "detect", "--model", str(trained / "generator"), "the river ran")
    assert generator.returncode == 2
    assert "holds no discriminator" in generator.stderr and f"the discriminator of this run is {trained / 'discriminator'}" in generator.stderr
    assert "0.500" not in generator.stdout
    root = electra(trained.parent, "detect", "--model", str(trained), "the river ran")
    assert root.returncode == 2
    assert f"is not a model directory (no config.json); did you mean --model {trained / 'discriminator'}?" in root.stderr


def test_detect_prints_a_header_the_flagged_tokens_and_can_replace_a_word(trained):
    result = electra(trained.parent, "detect", "--model", str(trained / "discriminator"), "--replace", "--seed", "1",
                     "the river ran past old mills")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("replaced '") and "' by '" in lines[0]
    old, new = lines[0].split("'")[1], lines[0].split("'")[3]
    assert old in "the river ran past old mills".split() and new != old
    assert lines[1] == "the river ran past old mills".replace(old, new, 1)
    assert lines[2].split() == ["token", "p(replaced)"]
    assert lines[-1].startswith("  flagged (p > 0.5): ")
    flagged = [line.split()[0] for line in lines[3:-1] if line.endswith("<- replaced?")]
    assert lines[-1].split(": ", 1)[1] == (", ".join(flagged) if flagged else "none")


def test_tensorflow_start_up_lines_stay_out_unless_verbose(trained):
    pytest.importorskip("tensorflow")
    args = ["detect", "--backend", "tf", "--model", str(trained / "discriminator"), "the river ran"]
    quiet = electra(trained.parent, *args)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    verbose = electra(trained.parent, *args, "--verbose")
    assert verbose.returncode == 0 and "cuda" in verbose.stderr.lower()  # what the quiet run kept out
