"""from_pretrained / save_pretrained: bare <-> head checkpoints, strict keys, sharding."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import electra.pt as pt
from conftest import tiny_config
from electra.common.errors import CheckpointError
from electra.common.weights.random import random_state_dict


def test_round_trip_keeps_every_weight_and_the_config(tmp_path):
    config = tiny_config(problem_type="single_label_classification")
    model = pt.ElectraForSequenceClassification(config)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["ElectraForSequenceClassification"]
    loaded = pt.ElectraForSequenceClassification.from_pretrained(tmp_path)
    assert loaded.config.problem_type == "single_label_classification" and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_sharded_checkpoint_loads(tmp_path):
    model = pt.ElectraForPreTraining(tiny_config())
    model.save_pretrained(tmp_path, max_shard_size=20_000)
    assert (tmp_path / "model.safetensors.index.json").exists()
    loaded = pt.ElectraForPreTraining.from_pretrained(tmp_path)
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(loaded(ids).logits, model.eval()(ids).logits)


def test_bare_checkpoint_into_head_warns_and_head_into_bare_drops_head(tmp_path):
    config = tiny_config()
    bare = pt.ElectraModel(config)
    bare.save_pretrained(tmp_path / "bare")
    with pytest.warns(UserWarning, match="classifier.out_proj.weight"):
        head = pt.ElectraForSequenceClassification.from_pretrained(tmp_path / "bare")
    torch.testing.assert_close(head.electra.embeddings.word_embeddings.weight, bare.embeddings.word_embeddings.weight)
    pt.ElectraForMaskedLM(config).save_pretrained(tmp_path / "head")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = pt.ElectraModel.from_pretrained(tmp_path / "head")
    assert "embeddings.word_embeddings.weight" in again.state_dict()


def test_a_state_that_does_not_match_names_the_key_and_changes_nothing():
    config = tiny_config()
    model = pt.ElectraForPreTraining(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = random_state_dict(config, "ElectraForPreTraining", seed=3)
    state["electra.encoder.layer.1.output.dense.weight"] = np.zeros((5, 5), np.float32)
    with pytest.raises(CheckpointError, match="electra.encoder.layer.1.output.dense.weight"):
        model.load_canonical_state_dict(state)
    del state["electra.encoder.layer.1.output.dense.weight"]
    with pytest.raises(CheckpointError, match="electra.encoder.layer.1.output.dense.weight"):
        model.load_canonical_state_dict(state)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_loading_copies_values(tmp_path):
    config = tiny_config()
    state = random_state_dict(config, "ElectraForTokenClassification", seed=4)
    model = pt.ElectraForTokenClassification(config)
    assert model.load_canonical_state_dict(state) == []
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[key])


def test_from_pretrained_of_a_complete_checkpoint_draws_no_random_weights(tmp_path, monkeypatch):
    model = pt.ElectraForPreTraining(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    devices = []
    real_init = pt.ElectraForPreTraining._init_weights

    def spy(self, module):
        devices.extend(p.device.type for p in module.parameters(recurse=False))
        real_init(self, module)

    monkeypatch.setattr(pt.ElectraForPreTraining, "_init_weights", spy)
    loaded = pt.ElectraForPreTraining.from_pretrained(tmp_path)
    assert devices and set(devices) == {"meta"}  # initialised on the meta device only: nothing drawn
    assert {p.device.type for p in loaded.parameters()} == {"cpu"}
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_weights_a_checkpoint_lacks_are_initialised_as_the_constructor_does(tmp_path):
    config = tiny_config()
    pt.ElectraModel(config).save_pretrained(tmp_path)
    torch.manual_seed(7)
    with pytest.warns(UserWarning, match="classifier"):
        head = pt.ElectraForSequenceClassification.from_pretrained(tmp_path)
    torch.manual_seed(7)
    fresh = pt.ElectraForSequenceClassification(config)
    for name, value in fresh.classifier.state_dict().items():
        assert torch.equal(head.classifier.state_dict()[name], value), name


def test_weights_file_of_any_format_overrides_and_a_stray_network(tmp_path):
    config = tiny_config()
    model = pt.ElectraForMaskedLM(config)
    for fmt, name in (("pytorch", "pytorch_model.bin"), ("tf", "tf_model.h5"), ("flax", "flax_model.msgpack")):
        model.save_pretrained(tmp_path / fmt, format=fmt)
        loaded = pt.ElectraForMaskedLM.from_pretrained(tmp_path / fmt / name, output_hidden_states=True)
        assert loaded.config.output_hidden_states and not model.config.output_hidden_states
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), (fmt, key)
    with pytest.raises(ValueError, match="network='discriminator' picks a network of a Google TF1 checkpoint, but .*tf is not one"):
        pt.ElectraForPreTraining.from_pretrained(tmp_path / "tf", network="discriminator")
