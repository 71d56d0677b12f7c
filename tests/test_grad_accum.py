"""`--grad-accum N`: the batch as N micro-batches whose gradients add up before one optimizer
step equals the whole batch at once (dropout off), in pt, tf and flax; the command refuses an
N that does not divide the batch."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import masked_batch, tiny_config
from electra.common.config import generator_config
from electra.common.pretraining.schedule import LinearSchedule

STEPS = 2


def run(backend: str, objective: str, grad_accum: int):
    module = __import__(f"electra.{backend}.trainer", fromlist=["ElectraPretrainer"])
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    if objective == "rtd":
        pretrainer = module.ElectraPretrainer(disc, generator_config(disc, 0.5), seed=0)
    else:
        pretrainer = module.MaskedLMPretrainer(disc, seed=0)
    trainer = module.PretrainingTrainer(pretrainer, LinearSchedule(1e-3, 1, 10), seed=0, grad_accum=grad_accum)
    # Rows of different lengths and mask counts: the micro-batches' shares of the means differ.
    batch = masked_batch(disc.vocab_size, B=4, L=16, padded_row=2, pad=7, rate=0.4)
    metrics = [trainer.train_step(batch, step) for step in range(STEPS)]
    return metrics, trainer.state_arrays()


# The trainers' accumulation does not depend on the objective; pt runs both.
@pytest.mark.parametrize("backend, objective", [("pt", "rtd"), ("pt", "mlm"), ("tf", "rtd"), ("flax", "rtd")])
def test_accumulated_micro_batches_equal_the_whole_batch(backend, objective):
    pytest.importorskip({"pt": "torch", "tf": "tensorflow", "flax": "jax"}[backend])
    whole, whole_state = run(backend, objective, 1)
    parts, state = run(backend, objective, 2)
    for a, b in zip(parts, whole):
        for key in ("loss", "generator_loss", "discriminator_loss", "generator_accuracy", "discriminator_recall", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6, nan_ok=True), key
    for key, value in whole_state.items():
        np.testing.assert_allclose(state[key], value, atol=1e-6, rtol=1e-5, err_msg=key)
    assert any(np.abs(v).max() > 0 for k, v in whole_state.items() if k.startswith("adam_m/"))  # the steps had gradients


@pytest.mark.parametrize("backend", ["pt", "tf", "flax"])
def test_a_batch_the_micro_batches_do_not_divide_is_refused(backend):
    pytest.importorskip({"pt": "torch", "tf": "tensorflow", "flax": "jax"}[backend])
    module = __import__(f"electra.{backend}.trainer", fromlist=["ElectraPretrainer"])
    disc = tiny_config()
    trainer = module.PretrainingTrainer(module.MaskedLMPretrainer(disc, seed=0), LinearSchedule(1e-3, 1, 10), grad_accum=3)
    with pytest.raises(ValueError, match="--grad-accum 3"):
        trainer.train_step(masked_batch(disc.vocab_size, B=4, L=16), 0)
    with pytest.raises(ValueError, match="grad_accum must be >= 1"):
        module.PretrainingTrainer(module.MaskedLMPretrainer(disc, seed=0), LinearSchedule(1e-3, 1, 10), grad_accum=0)


def test_the_command_refuses_a_grad_accum_that_does_not_divide_the_batch(tmp_path, capsys):
    pytest.importorskip("torch")
    from electra import cli

    out = tmp_path / "run"
    assert cli.main(["pretrain", "--batch-size", "16", "--grad-accum", "3", "--out", str(out), "--no-progress"]) == 2
    assert "--grad-accum 3 must be a positive divisor of --batch-size 16" in capsys.readouterr().err
    assert not out.exists()


def test_the_command_refuses_a_batch_the_workers_cannot_split_before_writing(tmp_path, capsys, monkeypatch):
    """Under data parallelism each worker's share must split into --grad-accum micro-batches:
    refused before the run's folder is written (the trainer's own check comes after it)."""
    pytest.importorskip("torch")
    from electra import cli
    from electra.commands import pretrain

    class TwoWorkers(pretrain.SingleWorker):
        replicas = 2

    monkeypatch.setattr(pretrain, "workers", lambda backend, data_parallel: TwoWorkers())
    out = tmp_path / "run"
    assert cli.main(["pretrain", "--batch-size", "4", "--grad-accum", "4", "--steps", "2", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--batch-size 4 must divide into 2 data-parallel workers x --grad-accum 4" in err and "multiple of 8" in err
    assert not out.exists()
