"""`electra convert` as a user runs it.

The format matrix runs the command in-process (`electra.cli.main`, the same code path as the
console script, without a new interpreter per case); the user-level cases run it as a
subprocess. Exactness is array equality of the canonical weights: every (source format,
target format) pair, a bare model and a head model (the tied generator head included),
sharded and unsharded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from electra.cli import main
from electra.common.weights.checkpoint import match_state_dict, read_state_dict, write_pretrained
from electra.common.weights.random import random_state_dict
from tests.conftest import tiny_config

FORMATS = ("safetensors", "pytorch", "tf", "flax")
FILES = {"safetensors": "model.safetensors", "pytorch": "pytorch_model.bin", "tf": "tf_model.h5", "flax": "flax_model.msgpack"}
INDEXES = {"safetensors": "model.safetensors.index.json", "pytorch": "pytorch_model.bin.index.json",
           "tf": "tf_model.h5.index.json", "flax": "flax_model.msgpack.index.json"}
ARCHITECTURES = ("ElectraModel", "ElectraForMaskedLM")  # bare; a head with the tied generator LM head
SHARD_BYTES = 20_000  # several shards for the tiny config


def needs(fmt: str) -> None:
    if fmt == "pytorch":
        pytest.importorskip("torch")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[tuple[str, str, bool], tuple[Path, dict]]:
    """(architecture, format, sharded) -> an HF directory in that format, and its canonical state."""
    root = tmp_path_factory.mktemp("sources")
    made = {}
    for architecture in ARCHITECTURES:
        config = tiny_config()
        state = random_state_dict(config, architecture, seed=3)
        for fmt in FORMATS:
            if fmt == "pytorch" and importlib_missing("torch"):
                continue
            for shard in (None, SHARD_BYTES):
                directory = root / f"{architecture}-{fmt}-{shard}"
                write_pretrained(directory, config, state, architecture, format=fmt, max_shard_size=shard)
                (directory / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(config.vocab_size)))
                made[architecture, fmt, shard is not None] = directory, match_state_dict(state, config, architecture)[0]
    return made


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def assert_same_weights(directory: Path, expected: dict, architecture: str) -> None:
    config = json.loads((directory / "config.json").read_text())
    assert config["architectures"] == [architecture]
    from electra.common.config import ElectraConfig

    got = match_state_dict(read_state_dict(directory), ElectraConfig.from_pretrained(directory), architecture)[0]
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


@pytest.mark.parametrize("sharded", [False, True], ids=["one-file", "sharded"])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("source", FORMATS)
def test_every_format_pair_round_trips_exactly(sources, tmp_path, capsys, source, target, architecture, sharded):
    """Sharded: a sharded source converted with --max-shard-size 20KB into shards of the target."""
    needs(source), needs(target)
    src, state = sources[architecture, source, sharded]
    dst = tmp_path / "out"
    assert main(["convert", str(src), str(dst), "--to", target, *(["--max-shard-size", "20KB"] if sharded else [])]) == 0
    assert (dst / "vocab.txt").read_text() == (src / "vocab.txt").read_text()
    if sharded:
        index = json.loads((dst / INDEXES[target]).read_text())
        shards = sorted(set(index["weight_map"].values()))
        assert len(shards) > 1 and all((dst / name).is_file() for name in shards)
        assert not (dst / FILES[target]).exists()
    else:
        assert (dst / FILES[target]).is_file() and not (dst / INDEXES[target]).exists()
    assert_same_weights(dst, state, architecture)
    assert f"wrote {dst} ({architecture}, {target}" in capsys.readouterr().out


def test_a_weights_file_is_a_source(sources, tmp_path):
    src, state = sources["ElectraForMaskedLM", "flax", False]
    assert main(["convert", str(src / "flax_model.msgpack"), str(tmp_path / "out"), "--to", "safetensors"]) == 0
    assert_same_weights(tmp_path / "out", state, "ElectraForMaskedLM")


def test_verify_prints_the_difference_across_frameworks(sources, tmp_path, capsys):
    pytest.importorskip("torch"), pytest.importorskip("flax")
    src, _ = sources["ElectraForMaskedLM", "pytorch", False]
    assert main(["convert", str(src), str(tmp_path / "out"), "--to", "flax", "--verify"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("verify"))
    assert line.startswith(f"verify {tmp_path / 'out'}: ElectraForMaskedLM in flax from flax vs SRC in pt: ") and "logits" in line
    assert float(line.split("max |difference| ")[1].split()[0]) <= 1e-5


def test_verify_fails_and_writes_nothing_when_dst_differs(sources, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from electra.commands import convert

    src, _ = sources["ElectraModel", "safetensors", False]
    real_write = convert.write_one

    def write_damaged(directory, item, fmt, max_shard_size):
        key = "embeddings.LayerNorm.bias"
        item.state = {**item.state, key: item.state[key] + 1e-3}
        real_write(directory, item, fmt, max_shard_size)

    monkeypatch.setattr(convert, "write_one", write_damaged)
    dst = tmp_path / "out"
    assert main(["convert", str(src), str(dst), "--to", "pytorch", "--verify"]) == 1
    out = capsys.readouterr().out
    assert "verify failed" in out and not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left behind


# ----------------------------------------------------------------------------- as a user runs it
def electra(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "electra", *argv], capture_output=True, text=True, timeout=600, env=env)


def test_refusals_are_one_line_and_exit_2(sources, tmp_path):
    src, _ = sources["ElectraModel", "safetensors", False]
    not_empty = tmp_path / "taken"
    not_empty.mkdir()
    (not_empty / "keep.txt").write_text("mine")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("")
    cases = {
        "is not empty (pass --overwrite to replace it)": [str(src), str(not_empty), "--to", "flax"],
        "not a checkpoint the package reads (no HF weights file, TF1 checkpoint or pretrain run); found notes.txt":
            [str(other), str(tmp_path / "a"), "--to", "flax"],
        "no such file or directory": [str(tmp_path / "missing"), str(tmp_path / "b"), "--to", "flax"],
        "holds no ElectraForSequenceClassification head; missing classifier.dense.bias, classifier.dense.weight, "
        "classifier.out_proj.bias, classifier.out_proj.weight":
            [str(src), str(tmp_path / "c"), "--to", "flax", "--architecture", "ElectraForSequenceClassification"],
        "--network applies to Google TF1 checkpoints and `electra pretrain` run directories":
            [str(src), str(tmp_path / "d"), "--to", "flax", "--network", "generator"],
        "max_shard_size": [str(src), str(tmp_path / "e"), "--to", "flax", "--max-shard-size", "lots"],
    }
    for expected, argv in cases.items():
        result = electra("convert", *argv)
        assert result.returncode == 2, (argv, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("electra convert: error: ") and expected in lines[0], (expected, result.stderr)
    assert [p.name for p in not_empty.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "taken"]


def test_overwrite_replaces_the_destination(sources, tmp_path):
    src, state = sources["ElectraForMaskedLM", "safetensors", False]
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "old.txt").write_text("old")
    result = electra("convert", str(src), str(dst), "--to", "tf", "--overwrite")
    assert result.returncode == 0, result.stderr
    assert not (dst / "old.txt").exists()
    assert_same_weights(dst, state, "ElectraForMaskedLM")


# ----------------------------------------------------------------------------- pretrain runs
@pytest.fixture(scope="module")
def run_directory(tmp_path_factory):
    """A pretrain run stopped after its first checkpoint: run.json, tokenizer/ and
    checkpoint/state.safetensors as `electra pretrain` writes them (pt trainer's names)."""
    torch = pytest.importorskip("torch")
    from safetensors.numpy import save_file

    from electra.commands.pretrain import base_config, model_configs
    from electra.pt.trainer import ElectraPretrainer

    run = tmp_path_factory.mktemp("run")
    settings = {"config": None, "preset": "tiny", "seq_len": 32, "generator_fraction": 0.25}
    (run / "run.json").write_text(json.dumps(settings))
    (run / "tokenizer").mkdir()
    (run / "tokenizer" / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(60)))
    disc, gen = model_configs(base_config(settings), settings, 60)
    torch.manual_seed(0)
    pretrainer = ElectraPretrainer(disc, gen)
    (run / "checkpoint").mkdir()
    save_file({f"param/{name}": p.detach().numpy().copy() for name, p in pretrainer.named_parameters()},
              str(run / "checkpoint" / "state.safetensors"))
    return run, pretrainer


def test_a_run_converts_from_its_checkpoint_then_from_its_exported_networks(run_directory, tmp_path):
    run, pretrainer = run_directory
    networks = {"discriminator": (pretrainer.discriminator, "ElectraForPreTraining"),
                "generator": (pretrainer.generator, "ElectraForMaskedLM")}
    assert main(["convert", str(run), str(tmp_path / "both"), "--to", "flax", "--network", "both"]) == 0
    for name, (model, architecture) in networks.items():
        assert_same_weights(tmp_path / "both" / name, model.canonical_state_dict(), architecture)
        assert (tmp_path / "both" / name / "vocab.txt").is_file()
    for name, (model, _) in networks.items():  # the finished run's exported folders win
        model.save_pretrained(run / name)
    try:
        assert main(["convert", str(run), str(tmp_path / "gen"), "--to", "tf", "--network", "generator"]) == 0
        assert_same_weights(tmp_path / "gen", pretrainer.generator.canonical_state_dict(), "ElectraForMaskedLM")
    finally:
        for name in networks:
            import shutil

            shutil.rmtree(run / name)


def test_a_run_needs_network(run_directory, tmp_path):
    run, _ = run_directory
    with pytest.raises(ValueError, match="is an `electra pretrain` run directory: pass --network discriminator, generator or both"):
        from electra.cli import build_parser
        from electra.commands.convert import read_source

        read_source(build_parser().parse_args(["convert", str(run), str(tmp_path / "x"), "--to", "flax"]))


# ----------------------------------------------------------------------------- Google TF1
@pytest.fixture(scope="module")
def google_checkpoint(tmp_path_factory):
    """Google's default layout (shared embeddings), written with a TF1 Saver, vocab.txt beside."""
    pytest.importorskip("tensorflow")
    from tests.common.test_google import google_layout
    from tests.tf.test_google_checkpoint import write_tf1

    variables, _config, _generator, discriminator, generator = google_layout("shared")
    directory = tmp_path_factory.mktemp("google")
    prefix = write_tf1(directory, variables)
    (directory / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(99)))
    return directory, prefix, discriminator, generator


def test_google_checkpoint_converts_both_networks_and_verifies(google_checkpoint, tmp_path, capsys):
    directory, prefix, discriminator, generator = google_checkpoint
    dst = tmp_path / "out"
    assert main(["convert", str(directory), str(dst), "--to", "flax", "--network", "both", "--verify"]) == 0
    assert_same_weights(dst / "discriminator", discriminator, "ElectraForPreTraining")
    from electra.common.config import ElectraConfig

    gen_config = ElectraConfig.from_pretrained(dst / "generator")
    assert_same_weights(dst / "generator", match_state_dict(generator, gen_config, "ElectraForMaskedLM")[0], "ElectraForMaskedLM")
    assert (dst / "generator" / "vocab.txt").read_text() == (directory / "vocab.txt").read_text()
    verified = [line for line in capsys.readouterr().out.splitlines() if line.startswith("verify")]
    assert len(verified) == 2 and all("vs SRC in tf" in line for line in verified)
    # The prefix works as SRC too, and one network goes into DST itself.
    assert main(["convert", prefix, str(tmp_path / "disc"), "--to", "pytorch", "--network", "discriminator"]) == 0
    assert_same_weights(tmp_path / "disc", discriminator, "ElectraForPreTraining")


def test_google_checkpoint_needs_network(google_checkpoint, tmp_path):
    directory, *_ = google_checkpoint
    result = electra("convert", str(directory), str(tmp_path / "x"), "--to", "flax")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"electra convert: error: {directory} is a Google TF1 checkpoint: "
                                     "pass --network discriminator, generator or both")
