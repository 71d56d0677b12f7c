"""Shared fixtures: the tiny test config, seeded canonical weights, and the data folder.

Data policy: tests that read `../shared/data` skip with a reason where it is absent (a
fresh clone), unless ELECTRA_REQUIRE_DATA=1 (set by .ci/run), which turns absence into a
failure so that CI never skips them silently.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest

from electra.common.config import ElectraConfig
from electra.common.random_weights import random_state_dict

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
