"""`electra pretrain` and `electra detect` end to end, as a user runs them (PyTorch backend).

Short runs on ../shared/data/austen with the real uncased vocab and a tiny model: the
losses fall, a killed run resumed with --resume logs exactly what the uninterrupted run
logged, the output loads as HF-format checkpoints, and bad input is refused with a clear
error and nothing overwritten.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import austen_pretrain_setup, kill_then_resume, train_records
from conftest import pretrain_args as run_args
from electra import cli


@pytest.fixture(scope="module")
def setup(tmp_path_factory, data_dir):
    # Two novels keep the runs short while giving a real held-out split.
    return austen_pretrain_setup(tmp_path_factory.mktemp("pretrain"), data_dir, ("persuasion.txt", "northangerabbey.txt"), dropout=0.0)


def pretrain_args(setup, out, *extra):
    return run_args(setup, out, "pt", 24, *extra)


@pytest.fixture(scope="module")
def finished_run(setup):
    out = setup["root"] / "run"
    assert cli.main(pretrain_args(setup, out)) == 0
    return out


def test_run_writes_checkpoints_metrics_and_falling_losses(finished_run):
    records = train_records(finished_run)
    assert [r["step"] for r in records] == list(range(1, 25))
    first, last = records[:4], records[-4:]
    assert np.mean([r["generator_loss"] for r in last]) < np.mean([r["generator_loss"] for r in first]) - 0.5
    assert np.mean([r["loss"] for r in last]) < np.mean([r["loss"] for r in first])
    final = json.loads((finished_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0.0 <= final["heldout_discriminator_auc"] <= 1.0
    for network in ("discriminator", "generator"):
        assert (finished_run / network / "config.json").is_file()
        assert (finished_run / network / "model.safetensors").is_file()
        assert (finished_run / network / "vocab.txt").is_file()
    assert (finished_run / "curves.png").stat().st_size > 1000
    assert json.loads((finished_run / "run.json").read_text())["score_special_tokens"] is False  # [CLS]/[SEP] left out


def test_resume_after_a_kill_repeats_the_uninterrupted_run(setup, finished_run, monkeypatch):
    out = setup["root"] / "killed"
    kill_then_resume(monkeypatch, pretrain_args(setup, out), kill_at_step=13, resumes_from=8)  # before the checkpoint at 16
    resumed, uninterrupted = train_records(out), train_records(finished_run)
    for a, b in zip(resumed, uninterrupted, strict=True):
        assert a["step"] == b["step"]
        for key in ("loss", "generator_loss", "discriminator_loss", "lr"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), (a["step"], key)


def test_each_record_averages_the_steps_since_the_previous_record_or_checkpoint(setup, tmp_path, monkeypatch):
    """At 100 steps a record is written every 2nd step; the checkpoints every 25 end windows
    too (the record at 26 covers step 26 alone), so a resumed run logs what the uninterrupted one does.
    Each record's losses and grad_norm are the means of its steps', lr the last step's."""
    from electra.commands import pretrain as run_module

    original, seen = run_module.make_trainer, {}

    def recording_trainer(*args, **kwargs):
        trainer = original(*args, **kwargs)
        step_fn = trainer.train_step

        def train_step(batch, step):
            metrics = step_fn(batch, step)
            seen[step + 1] = dict(metrics)  # reads this step's own values; the window adds the device vector
            return metrics

        trainer.train_step = train_step
        return trainer

    monkeypatch.setattr(run_module, "make_trainer", recording_trainer)
    out = tmp_path / "run"
    assert cli.main([*run_args(setup, out, "pt", 100), "--save-every", "25"]) == 0
    records = train_records(out)
    assert [r["step"] for r in records] == list(range(2, 101, 2))
    ends = sorted({r["step"] for r in records} | {25, 50, 75, 100})
    for record in records:
        first = ends[ends.index(record["step"]) - 1] + 1 if ends.index(record["step"]) else 1
        steps = range(first, record["step"] + 1)
        assert len(steps) == (1 if record["step"] in (26, 76) else 2)
        for key in ("loss", "generator_loss", "discriminator_loss", "grad_norm"):
            assert record[key] == pytest.approx(np.mean([seen[k][key] for k in steps]), rel=1e-5), (record["step"], key)
        assert record["lr"] == seen[record["step"]]["lr"]
    assert any(seen[s - 1]["loss"] != seen[s]["loss"] for s in range(2, 101, 2))  # the windows average different steps
    # Killed at step 30 and resumed from the checkpoint of 25 (not a logged step): the same records.
    killed = tmp_path / "killed"
    kill_then_resume(monkeypatch, [*run_args(setup, killed, "pt", 100), "--save-every", "25"], kill_at_step=30, resumes_from=25)
    for a, b in zip(train_records(killed), records, strict=True):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], rel=1e-6), a["step"]


def test_outputs_load_in_our_pt_and_in_transformers(finished_run):
    import torch
    import transformers

    from electra.common.tokenizers.fast import ElectraTokenizerFast
    from electra.pt import ElectraForMaskedLM, ElectraForPreTraining

    tokenizer = ElectraTokenizerFast.from_pretrained(finished_run / "discriminator")
    enc = tokenizer(["she was not a woman of many words", "it was a truth universally acknowledged"], padding=True, return_tensors="pt")
    ours = ElectraForPreTraining.from_pretrained(finished_run / "discriminator").eval()
    hf = transformers.ElectraForPreTraining.from_pretrained(finished_run / "discriminator").eval()
    with torch.no_grad():
        assert torch.allclose(ours(**enc).logits, hf(**enc).logits, atol=1e-5)
    ours_gen = ElectraForMaskedLM.from_pretrained(finished_run / "generator").eval()
    hf_gen = transformers.ElectraForMaskedLM.from_pretrained(finished_run / "generator").eval()
    with torch.no_grad():
        assert torch.allclose(ours_gen(**enc).logits, hf_gen(**enc).logits, atol=1e-5)
    hf_tok = transformers.ElectraTokenizerFast.from_pretrained(finished_run / "discriminator")
    assert hf_tok("she was not a woman")["input_ids"] == tokenizer("she was not a woman")["input_ids"]


def test_outputs_load_in_tf_and_flax_with_equal_logits(finished_run):
    import torch

    from electra.common.tokenizers.fast import ElectraTokenizerFast
    from electra.pt import ElectraForMaskedLM, ElectraForPreTraining

    pytest.importorskip("tensorflow")
    pytest.importorskip("flax")
    import electra.flax as ef
    import electra.tf as etf

    tokenizer = ElectraTokenizerFast.from_pretrained(finished_run / "discriminator")
    enc = tokenizer(["she was not a woman of many words", "it was a truth"], padding=True, return_tensors="np")
    with torch.no_grad():
        expected = ElectraForPreTraining.from_pretrained(finished_run / "discriminator").eval()(
            **{k: torch.from_numpy(v) for k, v in enc.items()}).logits.numpy()
        expected_gen = ElectraForMaskedLM.from_pretrained(finished_run / "generator").eval()(
            **{k: torch.from_numpy(v) for k, v in enc.items()}).logits.numpy()
    for module in (etf, ef):
        logits = module.ElectraForPreTraining.from_pretrained(finished_run / "discriminator")(**dict(enc)).logits
        np.testing.assert_allclose(np.asarray(logits), expected, atol=1e-5)
        gen_logits = module.ElectraForMaskedLM.from_pretrained(finished_run / "generator")(**dict(enc)).logits
        np.testing.assert_allclose(np.asarray(gen_logits), expected_gen, atol=1e-5)


@pytest.mark.parametrize("backend", ["flax"])  # tf: tests/tf/test_pretrain_run.py (with resume)
def test_other_backends_run_the_same_command(setup, tmp_path, backend):
    """A short run: same loop, checkpoint, export loadable by electra.pt."""
    pytest.importorskip({"tf": "tensorflow", "flax": "flax"}[backend])
    out = tmp_path / backend
    args = pretrain_args(setup, out)
    args[args.index("--backend") + 1] = backend
    args[args.index("--steps") + 1] = "6"
    args[args.index("--save-every") + 1] = "3"
    args[args.index("--warmup-steps") + 1] = "2"
    assert cli.main(args) == 0
    records = train_records(out)
    assert [r["step"] for r in records] == list(range(1, 7))
    assert all(np.isfinite(r["loss"]) for r in records)
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0.0 <= final["heldout_discriminator_auc"] <= 1.0
    from electra.pt import ElectraForPreTraining

    model = ElectraForPreTraining.from_pretrained(out / "discriminator")
    assert model.config.vocab_size == 30522
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 6


def test_detect_prints_a_probability_per_token(finished_run, capsys):
    assert cli.main(["detect", "--model", str(finished_run / "discriminator"), "the quick brown fox fake over the lazy dog"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "the quick brown fox fake over the lazy dog"
    assert lines[1].split() == ["token", "p(replaced)"]
    rows = [line.split() for line in lines[2:-1]]
    assert [r[0] for r in rows] == ["the", "quick", "brown", "fox", "fake", "over", "the", "lazy", "dog"]
    assert all(0.0 <= float(r[1]) <= 1.0 for r in rows)
    flagged = [r[0] for r in rows if float(r[1]) > 0.5]
    assert lines[-1] == "  flagged (p > 0.5): " + (", ".join(flagged) if flagged else "none")


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "no text"),
        ("binary", "UTF-8"),
        ("too_small", "too small"),
        ("seq_len", "--seq-len 65 is longer than the 64 positions of --config"),
    ],
)
def test_bad_corpus_and_sizes_are_refused(setup, tmp_path, case, message, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    args = pretrain_args(setup, tmp_path / "out")
    if case == "empty":
        (corpus / "a.txt").write_text("\n\n")
    elif case == "binary":
        (corpus / "a.txt").write_bytes(b"hello\xff\xfe world\n")
    elif case == "too_small":
        (corpus / "a.txt").write_text("One short sentence.\n")
    else:
        (corpus / "a.txt").write_text("Some text.\n")
        args[args.index("--seq-len") + 1] = "65"
    args[args.index("--corpus") + 1] = str(corpus)
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # a failed start writes nothing


def test_output_directory_of_another_run_and_corrupt_checkpoint_are_refused(setup, finished_run, tmp_path, capsys):
    before = (finished_run / "metrics.jsonl").read_bytes()
    other = pretrain_args(setup, finished_run, "--resume")
    other[other.index("--seed") + 1] = "8"
    assert cli.main(other) == 2
    assert "different run" in capsys.readouterr().err
    assert cli.main(pretrain_args(setup, finished_run)) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (finished_run / "metrics.jsonl").read_bytes() == before

    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(finished_run, copy)
    (copy / "checkpoint" / "state.safetensors").write_bytes(b"garbage")
    assert cli.main(pretrain_args(setup, copy, "--resume")) == 2
    assert "corrupt" in capsys.readouterr().err


def test_prefetching_changes_neither_the_batches_nor_the_run(setup, finished_run, tmp_path):
    """The finished run built its batches ahead (--prefetch 2, the default; its resume test
    above resumes through the prefetcher); built one by one before each step, the run is the same."""
    out = tmp_path / "no-prefetch"
    assert cli.main(pretrain_args(setup, out, "--prefetch", "0")) == 0
    for a, b in zip(train_records(out), train_records(finished_run), strict=True):
        for key in ("loss", "generator_loss", "discriminator_loss", "lr"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), (a["step"], key)
    assert json.loads((out / "checkpoint" / "trainer_state.json").read_text()) == json.loads(
        (finished_run / "checkpoint" / "trainer_state.json").read_text())
