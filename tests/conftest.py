"""Shared fixtures: the tiny test config, seeded canonical weights, and the data folder.

Data policy: tests that read `../shared/data` skip with a reason where it is absent (a
fresh clone), unless ELECTRA_REQUIRE_DATA=1 (set by .ci/run), which turns absence into a
failure so that CI never skips them silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest

from electra.common.config import ElectraConfig
from electra.common.weights.random import random_state_dict

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    """`$ELECTRA_DATA_DIR` or `../shared/data` beside the repository, if it exists."""
    candidate = Path(os.environ.get("ELECTRA_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder; skips (or fails under ELECTRA_REQUIRE_DATA=1) where absent."""
    found = find_data_dir()
    if found is None:
        reason = "shared data folder not found (expected ../shared/data or $ELECTRA_DATA_DIR)"
        if os.environ.get("ELECTRA_REQUIRE_DATA") == "1":
            pytest.fail(reason + "; ELECTRA_REQUIRE_DATA=1 makes this a failure")
        pytest.skip(reason)
    return found


def tiny_config(**changes) -> ElectraConfig:
    """The unit-test size: vocab 99, E 24 != H 32 (so `embeddings_project` exists), 2 layers, 4 heads."""
    fields = dict(
        vocab_size=99,
        embedding_size=24,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=3,
        id2label={0: "a", 1: "b", 2: "c"},
    )
    fields.update(changes)
    return ElectraConfig(**fields)


@pytest.fixture
def config() -> ElectraConfig:
    return tiny_config()


@pytest.fixture
def state_dict_for():
    """`state_dict_for(config, architecture, seed=0)`: seeded canonical weights."""
    return random_state_dict


# ---------------------------------------------------------------------- `electra pretrain` runs

PRETRAIN_TINY = dict(  # the model of the end-to-end `electra pretrain` tests (real 30,522-word vocab)
    embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
    max_position_embeddings=64,
)


def austen_pretrain_setup(root: Path, data_dir: Path, novels: tuple[str, ...], dropout: float) -> dict:
    """A corpus folder of the given Austen novels, a `--config` file and the uncased vocab, under `root`."""
    config_file = ElectraConfig(
        **PRETRAIN_TINY, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    ).save_pretrained(root / "config")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in novels:
        (corpus / name).write_bytes((data_dir / "austen" / name).read_bytes())
    return {"root": root, "config": config_file, "corpus": corpus, "vocab": data_dir / "vocab" / "bert-base-uncased-vocab.txt"}


def pretrain_args(setup: dict, out: Path, backend: str, steps: int, *extra: str) -> list[str]:
    """`electra pretrain` arguments of a short run (B=8, L=64, a checkpoint every 8 steps)."""
    return [
        "pretrain", "--backend", backend, "--corpus", str(setup["corpus"]), "--config", str(setup["config"]),
        "--vocab", str(setup["vocab"]), "--steps", str(steps), "--batch-size", "8", "--seq-len", "64", "--lr", "2e-3",
        "--warmup-steps", "4", "--save-every", "8", "--eval-batches", "2", "--seed", "7", "--no-progress",
        "--out", str(out), *extra,
    ]


def train_records(out: Path) -> list[dict]:
    """The training lines of `out/metrics.jsonl` (evaluation lines have no "loss")."""
    return [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def masked_batch(vocab_size: int, B: int = 3, L: int = 12, seed: int = 0, *, padded_row: int = 1, pad: int = 3,
                 rate: float = 0.3, always: tuple[int, ...] = (1,), segment_b: bool = False) -> dict[str, np.ndarray]:
    """A masked pretraining batch (int64 NumPy, the trainers' input names): id 1 first in every
    row and never chosen, the last `pad` positions of `padded_row` padding, about `rate` of
    the other positions chosen plus the columns `always` (so every row has a prediction),
    chosen positions shown to the generator as id 4; token type 1 on the second half with
    `segment_b`, else 0."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, size=(B, L))
    ids[:, 0] = 1
    mask = np.ones((B, L), dtype=np.int64)
    mask[padded_row, L - pad:] = 0
    chosen = (rng.random((B, L)) < rate) & (mask == 1)
    chosen[:, 0] = False
    chosen[:, list(always)] = True
    types = np.zeros((B, L), dtype=np.int64)
    if segment_b:
        types[:, L // 2:] = 1
    return dict(input_ids=ids, masked_ids=np.where(chosen, 4, ids), mlm_labels=np.where(chosen, ids, -100),
                attention_mask=mask, token_type_ids=types)


def kill_then_resume(monkeypatch, argv: list[str], kill_at_step: int, resumes_from: int) -> None:
    """Runs `electra <argv>` until its trainer reaches step `kill_at_step` and raises
    KeyboardInterrupt there (a kill), checks that the last checkpoint is the one of step
    `resumes_from`, then runs it again with `--resume` to the end."""
    from electra import cli
    from electra.commands import pretrain as run_module

    original = run_module.make_trainer

    def make_killable_trainer(*args, **kwargs):
        trainer = original(*args, **kwargs)
        step_fn = trainer.train_step

        def train_step(batch, step):
            if step == kill_at_step:
                raise KeyboardInterrupt
            return step_fn(batch, step)

        trainer.train_step = train_step
        return trainer

    monkeypatch.setattr(run_module, "make_trainer", make_killable_trainer)
    with pytest.raises(KeyboardInterrupt):
        cli.main(argv)
    monkeypatch.setattr(run_module, "make_trainer", original)
    assert json.loads((Path(argv[argv.index("--out") + 1]) / "checkpoint" / "trainer_state.json").read_text())["step"] == resumes_from
    assert cli.main([*argv, "--resume"]) == 0
