"""`electra pretrain --objective mlm`: the paper's masked-LM baseline, in every backend.

The step equals `transformers`' `ElectraForMaskedLM` loss on the same weights and batch, and
one `train_step` gives the same metrics and Adam moments in pt, tf and flax; the command
writes `mlm/` (loadable by transformers, its backbone by a fine-tuning head), resumes after
a kill as the uninterrupted run, and refuses the generator's settings.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import austen_pretrain_setup, kill_then_resume, masked_batch, tiny_config, train_records  # noqa: E402
from conftest import pretrain_args as run_args  # noqa: E402
from electra import cli  # noqa: E402
from electra.common.pretraining.schedule import LinearSchedule  # noqa: E402

LOSS_ATOL = 1e-5
GRAD_ATOL = 1e-4


def network_config():
    return tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def trainer_for(backend: str):
    module = __import__(f"electra.{backend}.trainer", fromlist=["MaskedLMPretrainer"])
    # A huge clip norm leaves the gradients unscaled: Adam's first moment is then 0.1 x gradient.
    return module.PretrainingTrainer(module.MaskedLMPretrainer(network_config(), seed=0), LinearSchedule(1e-3, 2, 10),
                                     seed=0, clip_norm=1e9)


@pytest.fixture(scope="module")
def reference():
    from electra.pt.trainer import MaskedLMPretrainer

    model = MaskedLMPretrainer(network_config(), seed=3)
    params = {f"param/{n}": p.detach().numpy().copy() for n, p in model.named_parameters()}
    return dict(model=model, params=params, batch=masked_batch(network_config().vocab_size, B=3, L=12, pad=4, always=(2,)))


def test_loss_equals_transformers_masked_lm(reference):
    transformers = pytest.importorskip("transformers")
    model, batch = reference["model"], {k: torch.from_numpy(v) for k, v in reference["batch"].items()}
    hf = transformers.ElectraForMaskedLM(transformers.ElectraConfig.from_dict(model.mlm.config.to_dict())).eval()
    missing, unexpected = hf.load_state_dict(model.mlm.state_dict(), strict=False)
    assert not unexpected and set(missing) <= {"generator_lm_head.weight"}  # tied to the word table
    hf.tie_weights()
    with torch.no_grad():
        out = model(**batch)
    expected = hf(input_ids=batch["masked_ids"], attention_mask=batch["attention_mask"], token_type_ids=batch["token_type_ids"],
                  labels=batch["mlm_labels"])
    assert float(out.loss) == pytest.approx(float(expected.loss), abs=LOSS_ATOL)
    assert float(out.discriminator_loss) == 0.0
    chosen = batch["mlm_labels"] != -100
    hits = (expected.logits[chosen].argmax(-1) == batch["mlm_labels"][chosen]).float().mean()
    assert float(out.generator_accuracy) == pytest.approx(float(hits))
    counts = out.metric_counts.numpy()
    assert counts[1] == chosen.sum() and not counts[2:].any()


@pytest.mark.parametrize("backend", ["tf", "flax"])
def test_trainer_steps_agree_across_backends(reference, backend):
    pytest.importorskip({"tf": "tensorflow", "flax": "jax"}[backend])
    trainers = [trainer_for("pt"), trainer_for(backend)]
    for trainer in trainers:
        trainer.load_state_arrays(reference["params"])
    results = [trainer.train_step(reference["batch"], step=1) for trainer in trainers]
    for key in ("loss", "generator_loss", "generator_accuracy", "lr", "grad_norm"):
        assert results[1][key] == pytest.approx(results[0][key], abs=LOSS_ATOL, rel=1e-5), key
    assert results[0]["loss"] > 0 and results[0]["discriminator_loss"] == results[1]["discriminator_loss"] == 0.0
    states = [trainer.state_arrays() for trainer in trainers]
    assert set(states[0]) == set(states[1])
    assert {k.split("/", 1)[1].split(".")[0] for k in states[0]} == {"mlm"}
    for key, value in states[0].items():
        if key.startswith("adam_m/"):  # 0.1 x gradient
            np.testing.assert_allclose(states[1][key] / 0.1, value / 0.1, atol=GRAD_ATOL, rtol=1e-4, err_msg=key)
        elif key.startswith("param/"):
            np.testing.assert_allclose(states[1][key], value, atol=1e-5, err_msg=key)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, data_dir):
    return austen_pretrain_setup(tmp_path_factory.mktemp("mlm"), data_dir, ("persuasion.txt",), dropout=0.0)


def mlm_args(setup, out, backend="pt", steps=16, *extra):
    return run_args(setup, out, backend, steps, "--objective", "mlm", *extra)


@pytest.fixture(scope="module")
def finished_run(setup):
    out = setup["root"] / "run"
    assert cli.main(mlm_args(setup, out)) == 0
    return out


def test_run_trains_the_masked_lm_and_writes_mlm(finished_run, capsys):
    records = train_records(finished_run)
    assert [r["step"] for r in records] == list(range(1, 17))
    assert set(records[0]) == {"step", "loss", "mlm_accuracy", "lr", "grad_norm", "tokens_per_s"}
    assert np.mean([r["loss"] for r in records[-4:]]) < np.mean([r["loss"] for r in records[:4]]) - 0.5
    final = json.loads((finished_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert set(final) == {"step", "heldout_mlm_accuracy", "heldout_mlm_loss"} and final["step"] == 16
    assert sorted(p.name for p in finished_run.iterdir() if p.is_dir()) == ["checkpoint", "mlm", "tokenizer"]
    assert json.loads((finished_run / "run.json").read_text())["objective"] == "mlm"
    assert (finished_run / "curves.png").stat().st_size > 1000


def test_mlm_output_loads_in_transformers_and_its_backbone_in_a_task_head(finished_run):
    transformers = pytest.importorskip("transformers")
    from electra.common.tokenizers.fast import ElectraTokenizerFast
    from electra.pt import ElectraForMaskedLM, ElectraForSequenceClassification

    directory = finished_run / "mlm"
    enc = ElectraTokenizerFast.from_pretrained(directory)(["she was not a woman of many words", "it was"], padding=True,
                                                          return_tensors="pt")
    ours = ElectraForMaskedLM.from_pretrained(directory).eval()
    hf = transformers.ElectraForMaskedLM.from_pretrained(directory).eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(**enc).logits, hf(**enc).logits, atol=1e-5, rtol=0)
    with pytest.warns(UserWarning, match="newly initialised: classifier"):
        head = ElectraForSequenceClassification.from_pretrained(directory, num_labels=2)
    for name, value in ours.electra.state_dict().items():
        torch.testing.assert_close(head.electra.state_dict()[name], value, atol=0, rtol=0)


def test_resume_after_a_kill_repeats_the_uninterrupted_run(setup, finished_run, monkeypatch):
    out = setup["root"] / "killed"
    kill_then_resume(monkeypatch, mlm_args(setup, out), kill_at_step=11, resumes_from=8)
    for a, b in zip(train_records(out), train_records(finished_run), strict=True):
        assert a["step"] == b["step"]
        for key in ("loss", "mlm_accuracy", "lr"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), (a["step"], key)


@pytest.mark.parametrize("backend", ["tf", "flax"])
def test_other_backends_train_the_same_masked_lm(setup, finished_run, tmp_path, backend):
    """Four steps of the run in tf and flax: the same records (their own initial weights, so
    other losses) on the run's schedule, `mlm/` written. The step itself equals pt's: test_trainer_steps_agree_across_backends."""
    pytest.importorskip({"tf": "tensorflow", "flax": "flax"}[backend])
    out = tmp_path / backend
    assert cli.main(mlm_args(setup, out, backend, 4)) == 0
    ours, pt = train_records(out), train_records(finished_run)[:4]
    assert [set(r) for r in ours] == [set(r) for r in pt]
    assert [r["lr"] for r in ours] == pytest.approx([LinearSchedule(2e-3, 4, 4)(k) for k in range(4)])
    # From random weights the masked-LM loss starts near log(vocab size).
    assert all(abs(r["loss"] - np.log(30522)) < 0.5 for r in ours)
    from electra.pt import ElectraForMaskedLM

    assert ElectraForMaskedLM.from_pretrained(out / "mlm").config.vocab_size == 30522


@pytest.mark.parametrize("flag", [["--generator-fraction", "0.5"], ["--disc-weight", "10"], ["--score-special-tokens"]])
def test_generator_settings_are_refused(setup, tmp_path, flag, capsys):
    out = tmp_path / "refused"
    assert cli.main(mlm_args(setup, out, "pt", 4, *flag)) == 2
    assert f"{flag[0]} applies to replaced token detection" in capsys.readouterr().err
    assert not out.exists()


def test_resuming_a_replaced_token_detection_run_as_mlm_is_refused(setup, finished_run, capsys):
    rtd = run_args(setup, finished_run, "pt", 16, "--resume")
    assert cli.main(rtd) == 2
    assert "objective is 'mlm' there, 'rtd' now" in capsys.readouterr().err


def test_convert_of_the_mlm_run_directory_points_at_mlm(finished_run, tmp_path, capsys):
    out = tmp_path / "converted"
    assert cli.main(["convert", str(finished_run), str(out), "--to", "tf", "--network", "discriminator"]) == 2
    assert f"its one network is {finished_run / 'mlm'}" in capsys.readouterr().err and not out.exists()
    assert cli.main(["convert", str(finished_run / "mlm"), str(out), "--to", "tf"]) == 0
    assert (out / "tf_model.h5").is_file()
