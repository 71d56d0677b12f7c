"""from_pretrained / save_pretrained: canonical safetensors, HF Flax msgpack and PyTorch
files, bare <-> head checkpoints, strict keys, sharding, dtype on load."""

from __future__ import annotations

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

import electra.flax as ef
from conftest import tiny_config
from electra.common.errors import CheckpointError
from electra.common.weights.layouts import canonical_to_hf_flax
from electra.common.weights.random import random_state_dict

IDS = np.array([[1, 2, 3, 4]], np.int32)


def same_params(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_keeps_every_weight_and_the_config(tmp_path):
    config = tiny_config(problem_type="single_label_classification")
    model = ef.ElectraForSequenceClassification(config, seed=1)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["ElectraForSequenceClassification"]
    loaded = ef.ElectraForSequenceClassification.from_pretrained(tmp_path)
    assert loaded.config.problem_type == "single_label_classification"
    same_params(loaded.params, model.params)


def test_sharded_checkpoint_loads(tmp_path):
    model = ef.ElectraForPreTraining(tiny_config())
    model.save_pretrained(tmp_path, max_shard_size=20_000)
    assert (tmp_path / "model.safetensors.index.json").exists()
    loaded = ef.ElectraForPreTraining.from_pretrained(tmp_path)
    np.testing.assert_array_equal(np.asarray(loaded(IDS).logits), np.asarray(model(IDS).logits))


def test_hf_flax_msgpack_and_pytorch_files_load(tmp_path):
    torch = pytest.importorskip("torch")
    config = tiny_config()
    state = random_state_dict(config, "ElectraForMaskedLM", seed=2)
    reference = ef.ElectraForMaskedLM(config)
    reference.load_canonical_state_dict(state)
    config.save_pretrained(tmp_path / "flax")
    tree = canonical_to_hf_flax(state, tie_word_embeddings=True)  # HF Flax layout: kernels (in, out), no tied weight
    (tmp_path / "flax" / "flax_model.msgpack").write_bytes(serialization.msgpack_serialize(tree))
    config.save_pretrained(tmp_path / "pt")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "pt" / "pytorch_model.bin")
    for folder in ("flax", "pt"):
        loaded = ef.ElectraForMaskedLM.from_pretrained(tmp_path / folder)
        same_params(loaded.params, reference.params)
    half = ef.ElectraForMaskedLM.from_pretrained(tmp_path / "flax", param_dtype=jnp.bfloat16)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree_util.tree_leaves(half.params))


def test_bare_checkpoint_into_head_warns_and_head_into_bare_drops_head(tmp_path):
    config = tiny_config()
    bare = ef.ElectraModel(config, seed=3)
    bare.save_pretrained(tmp_path / "bare")
    with pytest.warns(UserWarning, match="classifier.out_proj.weight"):
        head = ef.ElectraForSequenceClassification.from_pretrained(tmp_path / "bare")
    same_params(head.params["electra"], bare.params)
    ef.ElectraForMaskedLM(config, seed=4).save_pretrained(tmp_path / "head")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = ef.ElectraModel.from_pretrained(tmp_path / "head")
    assert "embeddings" in again.params and "generator_lm_head" not in again.params


def test_a_state_that_does_not_match_names_the_key_and_changes_nothing():
    config = tiny_config()
    model = ef.ElectraForPreTraining(config)
    before = jax.tree_util.tree_map(np.asarray, model.params)
    state = random_state_dict(config, "ElectraForPreTraining", seed=3)
    state["electra.encoder.layer.1.output.dense.weight"] = np.zeros((5, 5), np.float32)
    with pytest.raises(CheckpointError, match="electra.encoder.layer.1.output.dense.weight"):
        model.load_canonical_state_dict(state)
    del state["electra.encoder.layer.1.output.dense.weight"]
    with pytest.raises(CheckpointError, match="electra.encoder.layer.1.output.dense.weight"):
        model.load_canonical_state_dict(state)
    state = random_state_dict(config, "ElectraForPreTraining", seed=3)
    state["electra.encoder.layer.9.output.dense.weight"] = np.zeros((32, 37), np.float32)
    with pytest.raises(CheckpointError, match="layer.9"):
        model.load_canonical_state_dict(state)
    same_params(model.params, before)


def test_loading_copies_values_with_the_layout_change():
    config = tiny_config()
    state = random_state_dict(config, "ElectraForTokenClassification", seed=4)
    model = ef.ElectraForTokenClassification(config)
    assert model.load_canonical_state_dict(state) == []
    kernel = model.params["electra"]["encoder"]["layer"]["0"]["intermediate"]["dense"]["kernel"]
    np.testing.assert_array_equal(np.asarray(kernel), state["electra.encoder.layer.0.intermediate.dense.weight"].T)
    for key, value in model.canonical_state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)


def test_from_pretrained_of_a_complete_checkpoint_draws_no_random_weights(tmp_path, monkeypatch):
    config = tiny_config()
    model = ef.ElectraForPreTraining(config, seed=6)
    model.save_pretrained(tmp_path)

    def no_init(self, rng):
        raise AssertionError("from_pretrained ran a random initialisation it did not need")

    monkeypatch.setattr(ef.ElectraForPreTraining, "init_weights", no_init)
    loaded = ef.ElectraForPreTraining.from_pretrained(tmp_path)
    same_params(loaded.params, model.params)
    np.testing.assert_array_equal(np.asarray(loaded(IDS).logits), np.asarray(model(IDS).logits))


def test_weights_a_checkpoint_lacks_get_the_seeded_initialisation(tmp_path):
    config = tiny_config()
    ef.ElectraModel(config, seed=3).save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="classifier"):
        head = ef.ElectraForSequenceClassification.from_pretrained(tmp_path, seed=5)
    fresh = ef.ElectraForSequenceClassification(config, seed=5)
    same_params(head.params["classifier"], fresh.params["classifier"])


def test_a_layout_that_leaves_a_parameter_unset_is_an_error(tmp_path, monkeypatch):
    import electra.flax.pretrained as pretrained

    config = tiny_config()
    ef.ElectraModel(config).save_pretrained(tmp_path)
    real = pretrained.canonical_to_hf_flax

    def drops_a_bias(state, **kwargs):
        tree = real(state, **kwargs)
        del tree["encoder"]["layer"]["0"]["output"]["dense"]["bias"]
        return tree

    monkeypatch.setattr(pretrained, "canonical_to_hf_flax", drops_a_bias)
    with pytest.raises(RuntimeError, match=r"left without a value.*'layer'\]\['0'\]\['output'\]\['dense'\]\['bias'\]"):
        ef.ElectraModel.from_pretrained(tmp_path)


def test_weights_file_of_any_format_overrides_mismatched_sizes_and_a_stray_network(tmp_path):
    config = tiny_config()
    model = ef.ElectraForSequenceClassification(config, seed=2)
    for fmt, name in (("flax", "flax_model.msgpack"), ("tf", "tf_model.h5"), ("pytorch", "pytorch_model.bin")):
        model.save_pretrained(tmp_path / fmt, format=fmt, max_shard_size="20KB")
        assert (tmp_path / fmt / f"{name}.index.json").exists()
        loaded = ef.ElectraForSequenceClassification.from_pretrained(tmp_path / fmt / f"{name}.index.json")
        same_params(loaded.params, model.params)
    with pytest.raises(CheckpointError, match=r"classifier.out_proj.bias has shape \(3,\) in the checkpoint but \(5,\)"):
        ef.ElectraForSequenceClassification.from_pretrained(tmp_path / "flax", num_labels=5)
    with pytest.warns(UserWarning, match="newly initialised: classifier.out_proj.bias, classifier.out_proj.weight"):
        wider = ef.ElectraForSequenceClassification.from_pretrained(tmp_path / "flax", num_labels=5, ignore_mismatched_sizes=True, seed=7)
    assert wider.config.num_labels == 5 and wider.params["classifier"]["out_proj"]["kernel"].shape == (config.hidden_size, 5)
    same_params(wider.params["classifier"]["dense"], model.params["classifier"]["dense"])
    with pytest.raises(ValueError, match="network='generator' picks a network of a Google TF1 checkpoint"):
        ef.ElectraForMaskedLM.from_pretrained(tmp_path / "flax", network="generator")
