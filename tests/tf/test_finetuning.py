"""electra.tf.finetuning.FinetuneTrainer: training makes the loss fall, a fresh head is drawn from
the seed, steps are reproducible from (seed, step) so a resumed run repeats the uninterrupted one,
state arrays round trip exactly and are checked, and save() output reloads in pt and flax."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import tiny_config
from electra.common.weights.checkpoint import write_pretrained
from electra.common.weights.random import random_state_dict
from electra.tf.finetuning import FinetuneTrainer

B, L = 4, 9
LABELS = {"id2label": {0: "neg", 1: "pos", 2: "mixed"}, "label2id": {"neg": 0, "pos": 1, "mixed": 2},
          "problem_type": "single_label_classification"}


def batch(seed=0, task="classification"):
    rng = np.random.default_rng(seed)
    inputs = dict(input_ids=rng.integers(1, 99, (B, L)), attention_mask=np.ones((B, L), np.int64), token_type_ids=np.zeros((B, L), np.int64))
    inputs["attention_mask"][0, 6:] = 0
    if task == "classification":
        inputs["labels"] = np.array([0, 1, 2, 1])
    else:
        inputs["start_positions"], inputs["end_positions"] = np.array([1, 2, 0, 5]), np.array([3, 2, 0, 8])
    return inputs


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A bare ElectraModel checkpoint (dropout on): fine-tuning puts a fresh head on it."""
    directory = tmp_path_factory.mktemp("bare")
    config = tiny_config(id2label={0: "LABEL_0", 1: "LABEL_1"})
    write_pretrained(directory, config, random_state_dict(config, "ElectraModel", seed=1), "ElectraModel")
    return directory


def trainer(model_dir, seed=0, architecture="ElectraForSequenceClassification", changes=LABELS, **kwargs):
    settings = dict(lr=2e-3, weight_decay=0.01, layerwise_lr_decay=0.8, warmup_steps=2, total_steps=20, seed=seed)
    return FinetuneTrainer(model_dir, architecture, dict(changes), **{**settings, **kwargs})


def test_a_few_steps_make_the_loss_fall(bare):
    t = trainer(bare, lr=1e-2)
    data = batch()
    losses = [t.train_step(data, step)["loss"] for step in range(8)]
    assert losses[-1] < 0.5 * losses[0], losses
    metrics = t.train_step(data, 8)
    assert set(metrics) == {"loss", "lr", "grad_norm"} and all(type(v) is float for v in metrics.values())
    assert metrics["lr"] == pytest.approx(1e-2 * (1 - 8 / 20))


def test_fresh_head_comes_from_the_seed_and_the_backbone_from_the_checkpoint(bare):
    a, b, c = trainer(bare, seed=0).state_arrays(), trainer(bare, seed=0).state_arrays(), trainer(bare, seed=1).state_arrays()
    head = "param/classifier.out_proj.weight"
    assert a[head].shape == (3, 32)
    np.testing.assert_array_equal(a[head], b[head])
    assert not np.allclose(a[head], c[head])
    np.testing.assert_array_equal(a["param/electra.embeddings.word_embeddings.weight"], c["param/electra.embeddings.word_embeddings.weight"])


def test_resumed_run_repeats_the_uninterrupted_one_dropout_included(bare):
    straight = trainer(bare)
    losses = [straight.train_step(batch(0), 0)["loss"]]
    after_first = straight.state_arrays()
    losses += [straight.train_step(batch(step), step)["loss"] for step in (1, 2)]
    resumed = trainer(bare, seed=0)
    resumed.load_state_arrays(after_first)
    assert [resumed.train_step(batch(step), step)["loss"] for step in (1, 2)] == losses[1:]
    end, expected = resumed.state_arrays(), straight.state_arrays()
    for key, value in expected.items():
        np.testing.assert_array_equal(end[key], value, err_msg=key)
    # Dropout is on and drawn per step: from the same state and batch, step 5 repeats itself and step 6 differs.
    again = []
    for step in (5, 5, 6):
        resumed.load_state_arrays(after_first)
        again.append(resumed.train_step(batch(0), step)["loss"])
    assert again[0] == again[1] != again[2]


def test_state_arrays_round_trip_exactly_and_are_checked(bare):
    source = trainer(bare, seed=3)
    source.train_step(batch(), 0)
    arrays = source.state_arrays()
    assert {k.split("/", 1)[0] for k in arrays} == {"param", "adam_m", "adam_v"}
    assert arrays["param/electra.encoder.layer.0.attention.self.query.weight"].shape == (32, 32)
    assert arrays["param/electra.embeddings_project.weight"].shape == (32, 24)  # (out, in), as PyTorch
    target = trainer(bare, seed=4)
    target.load_state_arrays(arrays)
    back = target.state_arrays()
    assert back.keys() == arrays.keys()
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value, err_msg=key)
    before = target.state_arrays()
    with pytest.raises(ValueError, match=r"lacks 1 parameters, e.g. \['param/classifier.dense.bias'\]"):
        target.load_state_arrays({k: v for k, v in arrays.items() if k != "param/classifier.dense.bias"})
    bad = dict(arrays, **{"adam_v/classifier.out_proj.weight": np.zeros((2, 32), np.float32)})
    with pytest.raises(ValueError, match=r"adam_v/classifier.out_proj.weight has shape \(2, 32\), model has \(3, 32\)"):
        target.load_state_arrays(bad)
    for key, value in before.items():  # nothing assigned by a refused load
        np.testing.assert_array_equal(target.state_arrays()[key], value, err_msg=key)


@pytest.mark.parametrize("other", ["pt", "flax"])
def test_saved_model_reloads_in_the_other_backends_with_its_labels(bare, tmp_path, other):
    t = trainer(bare)
    t.train_step(batch(), 0)
    t.save(tmp_path / "best")
    config = json.loads((tmp_path / "best" / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos", "2": "mixed"} and config["label2id"] == LABELS["label2id"]
    assert config["problem_type"] == "single_label_classification"
    assert config["architectures"] == ["ElectraForSequenceClassification"]
    inputs = {k: v for k, v in batch(7).items() if k != "labels"}
    logits = t.predict(inputs)["logits"]
    assert logits.dtype == np.float32 and logits.shape == (B, 3)
    if other == "pt":
        torch = pytest.importorskip("torch")
        from electra.pt import ElectraForSequenceClassification

        model = ElectraForSequenceClassification.from_pretrained(tmp_path / "best").eval()
        with torch.no_grad():
            reloaded = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    else:
        pytest.importorskip("flax")
        from electra.flax import ElectraForSequenceClassification

        reloaded = np.asarray(ElectraForSequenceClassification.from_pretrained(tmp_path / "best")(**inputs).logits)
    np.testing.assert_allclose(reloaded, logits, atol=1e-5)


def test_question_answering_predicts_start_and_end_logits(bare):
    t = trainer(bare, architecture="ElectraForQuestionAnswering", changes={})
    first = t.train_step(batch(task="qa"), 0)["loss"]
    assert np.isfinite(first)
    out = t.predict(batch(task="qa"))
    assert set(out) == {"start_logits", "end_logits"}
    assert all(v.dtype == np.float32 and v.shape == (B, L) for v in out.values())


def test_bf16_precision_trains_with_float32_state_and_unknown_precision_is_refused(bare):
    t = trainer(bare, precision="bf16")
    assert np.isfinite(t.train_step(batch(), 0)["loss"])
    assert t.predict(batch())["logits"].dtype == np.float32
    assert all(v.dtype == np.float32 for v in t.state_arrays().values())
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16 in the tf backend, got 'fp8'"):
        trainer(bare, precision="fp8")
