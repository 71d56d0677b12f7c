"""Data-parallel pretraining with torch.distributed: a 2-way step under torchrun (gloo on
CPU) equals a 1-way step on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import masked_batch, tiny_config  # noqa: E402
from electra.common.config import generator_config  # noqa: E402
from electra.common.pretraining.schedule import LinearSchedule  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def make_trainer(trainer_cls, **kwargs):
    from electra.pt.trainer import ElectraPretrainer

    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = ElectraPretrainer(disc, generator_config(disc, 0.5), seed=11)
    return trainer_cls(model, LinearSchedule(1e-3, 1, 10), seed=5, **kwargs)


def make_batches(B: int = 4, L: int = 10, vocab: int = 99) -> list[dict[str, np.ndarray]]:
    """Two global batches whose halves hold different numbers of masked and padded tokens."""
    batches = []
    for seed in (0, 1):
        batch = masked_batch(vocab, B, L, seed, padded_row=3, pad=5, rate=0.25)
        batch["mlm_labels"][0, 2:5] = batch["input_ids"][0, 2:5]  # more predictions in the first half
        batch["masked_ids"][0, 2:5] = 4
        batches.append(batch)
    return batches


def test_two_workers_step_like_one(tmp_path):
    from electra.pt.trainer import PretrainingTrainer

    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO / "tests" / "pt" / "ddp_worker.py"), str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    single = make_trainer(PretrainingTrainer)
    expected = [single.train_step(batch, step) for step, batch in enumerate(make_batches())]
    got = json.loads(Path(f"{out}.json").read_text())
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    state = dict(np.load(f"{out}.npz"))
    for key, value in single.state_arrays().items():
        np.testing.assert_allclose(state[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_data_parallel_needs_a_process_group():
    from electra.pt.trainer import PretrainingTrainer

    with pytest.raises(ValueError, match="torchrun"):
        make_trainer(PretrainingTrainer, distributed=True)
