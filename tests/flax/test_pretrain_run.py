"""`electra pretrain --backend flax` end to end on ../shared/data/austen (as
tests/tf/test_pretrain_run.py for TensorFlow): the losses fall, a killed run resumed with
--resume logs exactly what the uninterrupted run logged (dropout on), and the output loads
in electra.flax, electra.pt and HF 4.57 with equal logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import austen_pretrain_setup, kill_then_resume, train_records
from conftest import pretrain_args as run_args
from electra import cli


@pytest.fixture(scope="module")
def setup(tmp_path_factory, data_dir):
    return austen_pretrain_setup(tmp_path_factory.mktemp("pretrain_flax"), data_dir, ("persuasion.txt",), dropout=0.1)


def pretrain_args(setup, out, *extra):
    return run_args(setup, out, "flax", 16, *extra)


@pytest.fixture(scope="module")
def finished_run(setup):
    out = setup["root"] / "run"
    assert cli.main(pretrain_args(setup, out)) == 0
    return out


def test_run_losses_fall_and_outputs_are_written(finished_run):
    records = train_records(finished_run)
    assert [r["step"] for r in records] == list(range(1, 17))
    assert np.mean([r["loss"] for r in records[-4:]]) < 0.85 * np.mean([r["loss"] for r in records[:4]])
    final = json.loads((finished_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0.0 <= final["heldout_discriminator_auc"] <= 1.0
    for network in ("discriminator", "generator"):
        assert (finished_run / network / "model.safetensors").is_file()


def test_resume_after_a_kill_repeats_the_uninterrupted_run(setup, finished_run, monkeypatch):
    out = setup["root"] / "killed"
    kill_then_resume(monkeypatch, pretrain_args(setup, out), kill_at_step=11, resumes_from=8)
    for a, b in zip(train_records(out), train_records(finished_run), strict=True):
        assert a["step"] == b["step"]
        for key in ("loss", "generator_loss", "discriminator_loss", "lr", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), (a["step"], key)


def test_outputs_load_in_flax_pt_and_transformers_with_equal_logits(finished_run):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    import electra.flax as ef
    import electra.pt as ept

    ids = np.array([[2, 2002, 2001, 2025, 1037, 2450, 3, 0]], np.int64)
    mask = (ids != 0).astype(np.int64)
    flax_inputs = dict(attention_mask=mask.astype(np.int32), token_type_ids=np.zeros_like(ids, np.int32))
    ours = np.asarray(ef.ElectraForPreTraining.from_pretrained(finished_run / "discriminator")(ids.astype(np.int32), **flax_inputs).logits)
    torch_inputs = dict(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    with torch.no_grad():
        pt = ept.ElectraForPreTraining.from_pretrained(finished_run / "discriminator").eval()(**torch_inputs).logits.numpy()
        hf = transformers.ElectraForPreTraining.from_pretrained(finished_run / "discriminator").eval()(**torch_inputs).logits.numpy()
    np.testing.assert_allclose(ours, pt, atol=1e-5)
    np.testing.assert_allclose(ours, hf, atol=1e-5)
    gen = np.asarray(ef.ElectraForMaskedLM.from_pretrained(finished_run / "generator")(ids.astype(np.int32), **flax_inputs).logits)
    with torch.no_grad():
        hf_gen = transformers.ElectraForMaskedLM.from_pretrained(finished_run / "generator").eval()(**torch_inputs).logits.numpy()
    np.testing.assert_allclose(gen, hf_gen, atol=1e-4)
