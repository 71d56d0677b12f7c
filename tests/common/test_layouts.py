"""Layout transforms: exact inverses, exact HF names (Google's TF1 layout: test_google.py).

The names HF actually uses are checked against files HF itself writes in
tests/common/test_checkpoint.py; here each transform is pinned on its own.
"""

from __future__ import annotations

import numpy as np
import pytest

from electra.common.errors import CheckpointError
from electra.common.weights.layouts import (
    canonical_to_hf_flax,
    canonical_to_hf_tf,
    hf_flax_to_canonical,
    hf_tf_to_canonical,
)
from electra.common.weights.names import ARCHITECTURES
from electra.common.weights.random import random_state_dict
from tests.conftest import tiny_config

CONFIGS = {
    "absolute": {},
    "relative_key": {"position_embedding_type": "relative_key_query"},
    "cross_attention": {"is_decoder": True, "add_cross_attention": True},
    "untied": {"tie_word_embeddings": False, "embedding_size": 32},
}
TIED = "generator_lm_head.weight"


def assert_same(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key].dtype == value.dtype and np.array_equal(actual[key], value), key


@pytest.mark.parametrize("variant", CONFIGS)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_round_trips_are_exact(architecture, variant):
    config = tiny_config(**CONFIGS[variant])
    state = random_state_dict(config, architecture, seed=3)
    tied = config.tie_word_embeddings
    expected = {k: v for k, v in state.items() if not (tied and k == TIED)}
    flax_tree = canonical_to_hf_flax(state, tie_word_embeddings=tied)
    assert_same(hf_flax_to_canonical(flax_tree), expected)
    tf_weights = canonical_to_hf_tf(state, "scope", tie_word_embeddings=tied)
    assert all(name.startswith("scope/electra/") or "/electra/" not in name for name in tf_weights)
    assert_same(hf_tf_to_canonical(tf_weights), expected)


def test_flax_tree_names_and_transposes():
    config = tiny_config(position_embedding_type="relative_key")
    state = random_state_dict(config, "ElectraForMaskedLM")
    tree = canonical_to_hf_flax(state)
    layer = tree["electra"]["encoder"]["layer"]["1"]
    np.testing.assert_array_equal(layer["attention"]["self"]["query"]["kernel"], state["electra.encoder.layer.1.attention.self.query.weight"].T)
    np.testing.assert_array_equal(layer["attention"]["self"]["distance_embedding"]["embedding"],
                                  state["electra.encoder.layer.1.attention.self.distance_embedding.weight"])
    np.testing.assert_array_equal(layer["output"]["LayerNorm"]["scale"], state["electra.encoder.layer.1.output.LayerNorm.weight"])
    assert tree["electra"]["embeddings_project"]["kernel"].shape == (24, 32)  # (E, H)
    assert tree["electra"]["embeddings"]["word_embeddings"]["embedding"].shape == (99, 24)
    assert tree["generator_lm_head"] == {"bias": state["generator_lm_head.bias"]}
    untied = canonical_to_hf_flax(state, tie_word_embeddings=False)
    assert untied["generator_lm_head"]["kernel"].shape == (24, 99)


def test_tf_names_and_transposes():
    state = random_state_dict(tiny_config(), "ElectraForMaskedLM")
    weights = canonical_to_hf_tf(state, "tf_electra_for_masked_lm")
    scope = "tf_electra_for_masked_lm/"
    expected = {
        "electra/embeddings/word_embeddings/weight:0": state["electra.embeddings.word_embeddings.weight"],
        "electra/embeddings/position_embeddings/embeddings:0": state["electra.embeddings.position_embeddings.weight"],
        "electra/embeddings/LayerNorm/gamma:0": state["electra.embeddings.LayerNorm.weight"],
        "electra/embeddings/LayerNorm/beta:0": state["electra.embeddings.LayerNorm.bias"],
        "electra/encoder/layer_._1/intermediate/dense/kernel:0": state["electra.encoder.layer.1.intermediate.dense.weight"].T,
        "generator_predictions/dense/kernel:0": state["generator_predictions.dense.weight"].T,
        "generator_lm_head/bias:0": state["generator_lm_head.bias"],
    }
    for name, value in expected.items():
        np.testing.assert_array_equal(weights[scope + name], value)
    assert not any("generator_lm_head/kernel" in name for name in weights)
    assert len(weights) == len(state) - 1


def test_tf_bare_model_lives_under_electra():
    state = random_state_dict(tiny_config(), "ElectraModel")
    weights = canonical_to_hf_tf(state, "tf_electra_model")
    assert all(name.startswith("tf_electra_model/electra/") for name in weights)
    assert sorted(hf_tf_to_canonical(weights)) == sorted(state)


def test_unknown_leaves_are_refused():
    with pytest.raises(CheckpointError, match="electra/embeddings/LayerNorm/kernel"):
        hf_flax_to_canonical({"electra": {"embeddings": {"LayerNorm": {"kernel": np.zeros(2)}}}})
    with pytest.raises(CheckpointError, match="m/classifier/gamma:0"):
        hf_tf_to_canonical({"m/classifier/gamma:0": np.zeros(2)})
    with pytest.raises(CheckpointError, match="qa_outputs.scale"):
        canonical_to_hf_tf({"qa_outputs.scale": np.zeros(2)}, "m")
