"""`--precision` of the pretraining trainers: bf16 in pt, tf and flax (losses close to float32,
float32 parameters), fp16 with the loss scaler in pt (a step with non-finite gradients is
skipped), and the command's checks and defaults."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import masked_batch, tiny_config
from electra.commands import pretrain
from electra.common.config import generator_config
from electra.common.pretraining.schedule import LinearSchedule

BF16_RTOL = 2e-2  # bfloat16 keeps 8 bits of mantissa: 3 steps' losses stay within 2% of float32
STEPS = 3


def configs():
    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return disc, generator_config(disc, 0.5)


def trainer(backend: str, precision: str):
    pytest.importorskip({"pt": "torch", "tf": "tensorflow", "flax": "jax"}[backend])
    module = __import__(f"electra.{backend}.trainer", fromlist=["ElectraPretrainer"])
    disc, gen = configs()
    built_in, in_step = ({}, {"precision": precision}) if backend == "pt" else ({"precision": precision}, {})
    return module.PretrainingTrainer(module.ElectraPretrainer(disc, gen, seed=0, **built_in), LinearSchedule(1e-3, 1, 10),
                                     seed=0, **in_step)


@pytest.mark.parametrize("backend", ["pt", "tf", "flax"])
def test_bf16_steps_stay_close_to_float32_with_float32_state(backend):
    batch = masked_batch(configs()[0].vocab_size, B=4, L=16)
    runs = {}
    for precision in ("fp32", "bf16"):
        t = trainer(backend, precision)
        runs[precision] = [t.train_step(batch, step) for step in range(STEPS)]
        state = t.state_arrays()
        if backend == "pt":
            assert {p.dtype for p in t.model.parameters()} == {__import__("torch").float32}
        elif backend == "tf":
            assert {v.dtype for _, v, _ in t.named} == {"float32"}
        else:
            import jax

            assert {x.dtype for x in jax.tree_util.tree_leaves(t.params)} == {np.dtype("float32")}
        assert all(np.isfinite(v).all() for v in state.values())
    for fp32, bf16 in zip(runs["fp32"], runs["bf16"]):
        for key in ("loss", "generator_loss", "discriminator_loss"):
            assert np.isfinite(bf16[key])
            assert bf16[key] == pytest.approx(fp32[key], rel=BF16_RTOL), key
    # bfloat16 compute does change the numbers: the check above is not comparing float32 with itself.
    assert any(b["loss"] != f["loss"] for f, b in zip(runs["fp32"], runs["bf16"]))


def test_fp16_loss_scaler_skips_a_step_with_inf_gradients_and_is_checkpointed():
    torch = pytest.importorskip("torch")
    batch = masked_batch(configs()[0].vocab_size, B=4, L=16)
    t = trainer("pt", "fp16")
    t.scaler = torch.amp.GradScaler("cpu", init_scale=256.0)  # a scale at which these gradients are finite
    before = {k: v for k, v in t.state_arrays().items() if k.startswith("param/")}
    weight = t.model.discriminator.electra.encoder.layer[0].output.dense.weight
    hook = weight.register_hook(lambda grad: grad * float("inf"))
    metrics = t.train_step(batch, 0)
    hook.remove()
    assert not np.isfinite(metrics["grad_norm"]) and metrics["skipped_steps"] == 1.0
    line = pretrain.log_line({"step": 1, **metrics})  # metrics.jsonl stays standard JSON
    assert json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in {line}"))["grad_norm"] is None
    after = t.state_arrays()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)  # the step was skipped
    assert t.scaler.get_scale() == 128.0 and after["loss_scale/scale"][0] == 128.0
    metrics = t.train_step(batch, 1)
    assert np.isfinite(metrics["grad_norm"]) and np.isfinite(metrics["loss"]) and metrics["skipped_steps"] == 0.0
    moved = t.state_arrays()
    assert any(not np.array_equal(moved[k], v) for k, v in before.items())
    resumed = trainer("pt", "fp16")
    resumed.load_state_arrays(moved)
    assert resumed.scaler.get_scale() == t.scaler.get_scale()


@pytest.mark.parametrize("backend", ["tf", "flax"])
def test_fp16_is_refused_outside_pt(backend):
    with pytest.raises(ValueError, match="fp16 needs a loss scaler"):
        trainer(backend, "fp16")


def test_the_command_records_checks_and_keeps_the_precision(tmp_path, capsys):
    pytest.importorskip("torch")
    from electra import cli

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(" ".join(f"word{(i * 7 + j) % 50} is here." for j in range(30)) for i in range(60)))
    common = ["pretrain", "--corpus", str(corpus), "--vocab-size", "120", "--steps", "4", "--batch-size", "4", "--seq-len", "32",
              "--save-every", "2", "--eval-batches", "1", "--no-progress"]
    out = tmp_path / "bf16"
    assert cli.main([*common, "--out", str(out), "--precision", "bf16"]) == 0
    assert json.loads((out / "run.json").read_text())["precision"] == "bf16"
    assert all(np.isfinite(json.loads(line).get("loss", 0.0)) for line in (out / "metrics.jsonl").read_text().splitlines())
    assert cli.main([*common, "--out", str(out), "--precision", "fp32", "--resume"]) == 2
    assert "precision is 'bf16' there, 'fp32' now" in capsys.readouterr().err
    # --resume without --precision continues in the run's own precision (not this machine's default)
    assert cli.main([*common, "--out", str(out), "--resume"]) == 0, capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["precision"] == "bf16"
    default = tmp_path / "default"
    assert cli.main([*common, "--out", str(default)]) == 0
    assert json.loads((default / "run.json").read_text())["precision"] == "fp32"  # no GPU here
    assert "precision:" not in capsys.readouterr().out
    refused = tmp_path / "refused"
    assert cli.main([*common, "--out", str(refused), "--backend", "flax", "--precision", "fp16"]) == 2
    assert "--precision fp16 needs a loss scaler" in capsys.readouterr().err and not refused.exists()


def settled(argv: list[str], gpu: tuple[bool, bool], monkeypatch, out, resume: bool = False) -> dict:
    """The command's settings for `argv` on hardware that `gpu_support` reports as `gpu`."""
    from electra import cli

    monkeypatch.setattr(pretrain, "gpu_support", lambda backend: gpu)
    settings = pretrain.run_settings(cli.build_parser().parse_args(["pretrain", *argv]))
    pretrain.settle_hardware(settings, out, resume, announce=True)
    return settings


def test_defaults_follow_the_hardware_and_a_resumed_run_keeps_its_own(tmp_path, monkeypatch, capsys):
    """Without --preset, --batch-size and --precision: tiny, 16, fp32 on a CPU; small, 128 and
    bf16 (said on stdout) where a bfloat16 GPU is visible; the preset's default lr follows.
    Given options win; --resume continues with the run's own values."""
    cpu = settled([], (False, False), monkeypatch, tmp_path)
    assert (cpu["preset"], cpu["batch_size"], cpu["precision"], cpu["lr"]) == ("tiny", 16, "fp32", 5e-4)
    assert capsys.readouterr().out == ""
    gpu = settled([], (True, True), monkeypatch, tmp_path)
    assert (gpu["preset"], gpu["batch_size"], gpu["precision"], gpu["lr"]) == ("small", 128, "bf16", 5e-4)
    said = capsys.readouterr().out
    assert "precision: bf16" in said and "defaults for a GPU: --preset small --batch-size 128" in said
    given = settled(["--preset", "base", "--batch-size", "32", "--precision", "fp32"], (True, True), monkeypatch, tmp_path)
    assert (given["preset"], given["batch_size"], given["precision"], given["lr"]) == ("base", 32, "fp32", 2e-4)
    assert "defaults for a GPU" not in capsys.readouterr().out
    (tmp_path / "run.json").write_text(json.dumps(gpu))  # a run started on the GPU, resumed on a CPU
    resumed = settled([], (False, False), monkeypatch, tmp_path, resume=True)
    assert (resumed["preset"], resumed["batch_size"], resumed["precision"]) == ("small", 128, "bf16")
