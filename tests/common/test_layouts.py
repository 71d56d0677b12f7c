"""Layout transforms: exact inverses, exact HF / Google names, Google TF1 checkpoints.

The names HF actually uses are checked against files HF itself writes in
tests/common/test_checkpoint.py; here each transform is pinned on its own.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from electra.common.config import generator_config
from electra.common.errors import CheckpointError
from electra.common.weights.checkpoint import match_state_dict
from electra.common.weights.google import google_tf1_to_canonical, read_google_tf1_checkpoint
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


# ----------------------------------------------------------------------------- Google TF1
def to_tf1_name(key: str, scope: str) -> tuple[str, bool]:
    """Google's name for a canonical key, written independently of the module under test."""
    name = key.replace("electra.", scope + ".", 1) if key.startswith("electra.") else key
    name = re.sub(r"\.layer\.(\d+)\.", r".layer_\1.", name)
    name = name.replace("dense_prediction", "dense_1").replace("generator_lm_head.bias", "generator_predictions.output_bias")
    name = re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", name)
    name = re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", name)
    name = re.sub(r"(_embeddings?)\.weight$", r"\1", name)
    transposed = name.endswith(".weight")
    return re.sub(r"\.weight$", ".kernel", name).replace(".", "/"), transposed


def tf1_variables(discriminator: dict, generator: dict) -> dict[str, np.ndarray]:
    variables = {"global_step": np.array(1000, dtype=np.int64)}
    for state, scope in ((discriminator, "electra"), (generator, "generator")):
        for key, value in state.items():
            if key == TIED or (scope == "generator" and key.startswith("electra.embeddings.")):
                continue  # the generator reuses the discriminator's embeddings
            name, transposed = to_tf1_name(key, scope)
            variables[name] = value.T if transposed else value
            variables[name + "/adam_m"] = np.zeros_like(variables[name])
            variables[name + "/adam_v"] = np.zeros_like(variables[name])
    return variables


@pytest.fixture(scope="module")
def google_checkpoint(tmp_path_factory):
    """A TF1 checkpoint written by `tf.compat.v1.train.Saver` with Google's variable names."""
    tf = pytest.importorskip("tensorflow")
    config = tiny_config()
    generator = generator_config(config, 0.5)
    discriminator_state = random_state_dict(config, "ElectraForPreTraining", seed=1)
    generator_state = random_state_dict(generator, "ElectraForMaskedLM", seed=2)
    for key in [k for k in generator_state if k.startswith("electra.embeddings.")]:
        generator_state[key] = discriminator_state[key]
    generator_state[TIED] = generator_state["electra.embeddings.word_embeddings.weight"]
    variables = tf1_variables(discriminator_state, generator_state)
    prefix = tmp_path_factory.mktemp("tf1") / "model.ckpt"
    with tf.Graph().as_default():
        tf_vars = {name: tf.compat.v1.Variable(value, name=name.replace("/", "__")) for name, value in variables.items()}
        saver = tf.compat.v1.train.Saver(var_list=tf_vars)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            path = saver.save(session, str(prefix), global_step=1000)
    return path, config, generator, discriminator_state, generator_state


def test_google_tf1_discriminator(google_checkpoint):
    path, config, _, discriminator_state, _ = google_checkpoint
    state = google_tf1_to_canonical(read_google_tf1_checkpoint(path), "discriminator")
    assert_same(state, discriminator_state)
    assert match_state_dict(state, config, "ElectraForPreTraining")[1:] == ([], [])


def test_google_tf1_generator(google_checkpoint):
    path, config, generator, _, generator_state = google_checkpoint
    state = google_tf1_to_canonical(read_google_tf1_checkpoint(path), "generator")
    assert_same(state, {k: v for k, v in generator_state.items() if k != TIED})
    full, new, unused = match_state_dict(state, generator, "ElectraForMaskedLM")
    assert (new, unused) == ([], [])
    np.testing.assert_array_equal(full[TIED], generator_state["electra.embeddings.word_embeddings.weight"])
    # A full-size generator config does not fit the small generator of the checkpoint.
    with pytest.raises(CheckpointError, match=r"electra\.embeddings_project\.weight has shape \(16, 24\), expected \(32, 24\)"):
        match_state_dict(state, config, "ElectraForMaskedLM", source=path)


def test_google_tf1_untied_generator_embeddings():
    shared = np.ones((5, 3), np.float32)
    own = np.full((5, 3), 2.0, np.float32)
    variables = {"electra/embeddings/word_embeddings": shared, "generator/embeddings/word_embeddings": own}
    assert_same(google_tf1_to_canonical(variables, "generator"), {"electra.embeddings.word_embeddings.weight": own})
    assert_same(google_tf1_to_canonical(variables, "discriminator"), {"electra.embeddings.word_embeddings.weight": shared})


def test_google_tf1_refuses_unknown_variables_and_networks():
    with pytest.raises(CheckpointError, match="task_specific/weights"):
        google_tf1_to_canonical({"task_specific/weights": np.zeros(2)}, "discriminator")
    with pytest.raises(ValueError, match="network"):
        google_tf1_to_canonical({}, "teacher")
