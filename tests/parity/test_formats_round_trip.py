"""Every backend writes every format (`save_pretrained(format=...)`), sharded and not, for a
bare model and the tied generator (`ElectraForMaskedLM`); the three backends write the same
bytes, and every backend reads every file back exactly."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("flax")

import electra.flax as eflax
import electra.pt as ept
import electra.tf as etf
from electra.common.weights.checkpoint import FORMATS, read_state_dict
from electra.common.weights.random import random_state_dict
from tests.conftest import tiny_config

BACKENDS = {"pt": ept, "tf": etf, "flax": eflax}
ARCHITECTURES = ("ElectraModel", "ElectraForMaskedLM")
SHARDS = (None, "20KB")  # 20KB: five or more shards for the tiny config
TIED = "generator_lm_head.weight"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_backend_writes_every_format_and_reads_it_back(tmp_path, architecture):
    config = tiny_config()
    state = random_state_dict(config, architecture, seed=3)
    if architecture == "ElectraForMaskedLM":
        state[TIED] = state["electra.embeddings.word_embeddings.weight"]
    folders = {}
    for name, backend in BACKENDS.items():
        model = getattr(backend, architecture)(config)
        model.load_canonical_state_dict(state)
        for fmt in FORMATS:
            for shard in SHARDS:
                folder = tmp_path / name / f"{fmt}-{shard}"
                model.save_pretrained(folder, format=fmt, max_shard_size=shard)
                folders[name, fmt, shard] = folder
    for fmt in FORMATS:
        for shard in SHARDS:
            files = {name: {p.name: p.read_bytes() for p in folders[name, fmt, shard].iterdir()} for name in BACKENDS}
            assert files["pt"] == files["tf"] == files["flax"], (fmt, shard)
            assert (len(files["pt"]) > 3) == (shard is not None), sorted(files["pt"])
            stored = read_state_dict(folders["pt", fmt, shard])
            kept = fmt == "pytorch" or TIED not in state  # only torch.save keeps the tied key, as in HF's files
            assert sorted(stored) == sorted(k for k in state if kept or k != TIED)
            for name, backend in BACKENDS.items():
                loaded = getattr(backend, architecture).from_pretrained(folders["pt", fmt, shard]).canonical_state_dict()
                assert sorted(loaded) == sorted(state), (name, fmt, shard)
                for key, value in state.items():
                    np.testing.assert_array_equal(loaded[key], value, err_msg=f"{name} {fmt} {shard} {key}")
