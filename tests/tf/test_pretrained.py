"""from_pretrained / save_pretrained: bare <-> head checkpoints, strict keys, sharding,
files written by electra.pt and HF's PyTorch files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import electra.tf as etf
from conftest import tiny_config
from electra.common.errors import CheckpointError
from electra.common.weights.checkpoint import read_state_dict
from electra.common.weights.random import random_state_dict


def test_round_trip_keeps_every_weight_and_the_config(tmp_path):
    config = tiny_config(problem_type="single_label_classification")
    model = etf.ElectraForSequenceClassification(config)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["ElectraForSequenceClassification"]
    loaded = etf.ElectraForSequenceClassification.from_pretrained(tmp_path)
    assert loaded.config.problem_type == "single_label_classification"
    saved = read_state_dict(tmp_path)
    for key, value in model.canonical_state_dict().items():
        np.testing.assert_array_equal(loaded.canonical_state_dict()[key], value, err_msg=key)
        np.testing.assert_array_equal(saved[key], value, err_msg=key)


def test_sharded_checkpoint_loads(tmp_path):
    model = etf.ElectraForPreTraining(tiny_config())
    model.save_pretrained(tmp_path, max_shard_size=20_000)
    assert (tmp_path / "model.safetensors.index.json").exists()
    loaded = etf.ElectraForPreTraining.from_pretrained(tmp_path)
    ids = np.array([[1, 2, 3]], np.int32)
    np.testing.assert_allclose(loaded(ids).logits.numpy(), model(ids).logits.numpy(), atol=1e-6)


def test_bare_checkpoint_into_head_warns_and_head_into_bare_drops_head(tmp_path):
    config = tiny_config()
    bare = etf.ElectraModel(config)
    bare.save_pretrained(tmp_path / "bare")
    with pytest.warns(UserWarning, match="classifier.out_proj.weight"):
        head = etf.ElectraForSequenceClassification.from_pretrained(tmp_path / "bare")
    np.testing.assert_array_equal(head.electra.embeddings.word_embeddings.embeddings.numpy(), bare.embeddings.word_embeddings.embeddings.numpy())
    etf.ElectraForMaskedLM(config).save_pretrained(tmp_path / "head")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = etf.ElectraModel.from_pretrained(tmp_path / "head")
    assert "embeddings.word_embeddings.weight" in again.canonical_state_dict()


def test_a_state_that_does_not_match_names_the_key_and_changes_nothing():
    config = tiny_config()
    model = etf.ElectraForPreTraining(config)
    model.build()
    before = model.canonical_state_dict()
    state = random_state_dict(config, "ElectraForPreTraining", seed=3)
    state["electra.encoder.layer.1.output.dense.weight"] = np.zeros((5, 5), np.float32)
    with pytest.raises(CheckpointError, match="electra.encoder.layer.1.output.dense.weight"):
        model.load_canonical_state_dict(state)
    del state["electra.encoder.layer.1.output.dense.weight"]
    with pytest.raises(CheckpointError, match="electra.encoder.layer.1.output.dense.weight"):
        model.load_canonical_state_dict(state)
    for key, value in model.canonical_state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_loading_copies_values_with_kernels_transposed():
    config = tiny_config()
    state = random_state_dict(config, "ElectraForTokenClassification", seed=4)
    model = etf.ElectraForTokenClassification(config)
    assert model.load_canonical_state_dict(state) == []
    for key, value in model.canonical_state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    np.testing.assert_array_equal(model.classifier.kernel.numpy(), state["classifier.weight"].T)


def test_files_written_by_electra_pt_load_and_give_the_same_logits(tmp_path):
    torch = pytest.importorskip("torch")
    import electra.pt as ept

    config = tiny_config()
    state = random_state_dict(config, "ElectraForMaskedLM", seed=5)
    reference = ept.ElectraForMaskedLM(config)
    reference.load_canonical_state_dict(state)
    reference.eval().save_pretrained(tmp_path)
    model = etf.ElectraForMaskedLM.from_pretrained(tmp_path)
    ids = np.array([[1, 5, 9, 3]], np.int32)
    with torch.no_grad():
        expected = reference(torch.as_tensor(ids, dtype=torch.long)).logits.numpy()
    np.testing.assert_allclose(model(ids).logits.numpy(), expected, atol=1e-5)


def test_from_pretrained_of_a_complete_checkpoint_draws_no_random_weights(tmp_path, monkeypatch):
    import keras

    config = tiny_config()
    model = etf.ElectraForPreTraining(config)
    model.save_pretrained(tmp_path)
    real = keras.initializers.RandomNormal

    def no_random(*args, **kwargs):
        raise AssertionError("from_pretrained drew random weights it did not need")

    monkeypatch.setattr(keras.initializers, "RandomNormal", no_random)
    loaded = etf.ElectraForPreTraining.from_pretrained(tmp_path)
    for key, value in model.canonical_state_dict().items():
        np.testing.assert_array_equal(loaded.canonical_state_dict()[key], value, err_msg=key)
    monkeypatch.setattr(keras.initializers, "RandomNormal", real)
    fresh = etf.ElectraModel(config)  # outside from_pretrained the tables are random again
    fresh.build()
    assert np.std(fresh.embeddings.word_embeddings.embeddings.numpy()) > 0


def test_weights_a_checkpoint_lacks_are_drawn_at_random(tmp_path):
    config = tiny_config()
    etf.ElectraModel(config).save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="classifier"):
        head = etf.ElectraForSequenceClassification.from_pretrained(tmp_path)
    kernel = head.canonical_state_dict()["classifier.dense.weight"]
    assert 0.5 * config.initializer_range < np.std(kernel) < 2 * config.initializer_range


def test_weights_file_of_any_format_overrides_mismatched_sizes_and_a_stray_network(tmp_path):
    config = tiny_config()
    model = etf.ElectraForSequenceClassification(config)
    for fmt, name in (("tf", "tf_model.h5"), ("flax", "flax_model.msgpack"), ("safetensors", "model.safetensors")):
        model.save_pretrained(tmp_path / fmt, format=fmt)
        loaded = etf.ElectraForSequenceClassification.from_pretrained(tmp_path / fmt / name)
        for key, value in model.canonical_state_dict().items():
            np.testing.assert_array_equal(loaded.canonical_state_dict()[key], value, err_msg=f"{fmt} {key}")
    with pytest.raises(CheckpointError, match=r"classifier.out_proj.bias has shape \(3,\) in the checkpoint but \(5,\)"):
        etf.ElectraForSequenceClassification.from_pretrained(tmp_path / "tf", num_labels=5)
    with pytest.warns(UserWarning, match="newly initialised: classifier.out_proj.bias, classifier.out_proj.weight"):
        wider = etf.ElectraForSequenceClassification.from_pretrained(tmp_path / "tf", num_labels=5, ignore_mismatched_sizes=True)
    assert wider.config.num_labels == 5 and wider.canonical_state_dict()["classifier.out_proj.weight"].shape == (5, config.hidden_size)
    np.testing.assert_array_equal(wider.canonical_state_dict()["classifier.dense.weight"], model.canonical_state_dict()["classifier.dense.weight"])
    with pytest.raises(ValueError, match="network='generator' picks a network of a Google TF1 checkpoint"):
        etf.ElectraForMaskedLM.from_pretrained(tmp_path / "tf", network="generator")
