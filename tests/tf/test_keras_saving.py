"""Keras' own saving of electra.tf models: `model.save` / `keras.models.load_model` (no
`custom_objects`), `save_weights` / `load_weights`, `keras.callbacks.ModelCheckpoint` during
`fit` and `tf.train.Checkpoint` each keep every variable, and a round trip is exact."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.common.weights.names import ARCHITECTURES
from tests.tf.helpers import L, build, ids_for


def assert_same_variables(restored, model):
    """Every weight of `model` (by path below the model) is in `restored` with the same value, and no other."""
    expected = {v.path.split("/", 1)[1]: v.numpy() for v in model.weights}
    got = {v.path.split("/", 1)[1]: v.numpy() for v in restored.weights}
    assert sorted(got) == sorted(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value, err_msg=path)


def fresh(model):
    """An untrained model of the same class and config, built, with other weights (seed 1)."""
    other = build(model.architecture, seed=1, **{k: getattr(model.config, k) for k in ("is_decoder",)})
    assert not np.array_equal(other.weights[0].numpy(), model.weights[0].numpy())
    return other


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_keras_file_round_trip_is_exact_without_custom_objects(architecture, tmp_path):
    model = build(architecture)
    ids = ids_for(architecture, model.config)
    expected = model(ids)
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert type(restored) is type(model) and restored.config == model.config
    assert len(restored.weights) == len(model.weights)
    assert_same_variables(restored, model)
    for key, value in model.canonical_state_dict().items():  # canonical names unchanged
        np.testing.assert_array_equal(restored.canonical_state_dict()[key], value, err_msg=key)
    again = restored(ids)
    for key in ("logits", "start_logits", "end_logits", "last_hidden_state"):
        if key in expected:
            np.testing.assert_array_equal(again[key].numpy(), expected[key].numpy())


def test_generator_head_stays_tied_after_load_model(tmp_path):
    model = build("ElectraForMaskedLM")
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert [v.path for v in restored.generator_lm_head.weights] == [restored.generator_lm_head.bias.path]
    table = restored.electra.embeddings.word_embeddings.embeddings
    table.assign(table * 2.0)  # the head must read the new table
    ids = ids_for("ElectraForMaskedLM", model.config)
    hidden = restored.generator_predictions(restored.electra(ids).last_hidden_state)
    expected = tf.matmul(hidden, table, transpose_b=True) + restored.generator_lm_head.bias
    np.testing.assert_allclose(restored(ids).logits.numpy(), expected.numpy(), atol=1e-6)


def test_save_weights_and_load_weights_keep_every_variable(tmp_path):
    model = build("ElectraForSequenceClassification")
    model.save_weights(tmp_path / "model.weights.h5")
    other = fresh(model)
    other.load_weights(tmp_path / "model.weights.h5")
    assert_same_variables(other, model)
    ids = ids_for(model.architecture, model.config)
    np.testing.assert_array_equal(other(ids).logits.numpy(), model(ids).logits.numpy())


def test_model_checkpoint_during_fit_saves_every_variable(tmp_path):
    model = build("ElectraForSequenceClassification")
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 99, (8, L)).astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices({"input_ids": ids, "labels": (ids[:, 1] % 3).astype(np.int32)}).batch(4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # eager: no trace of the step, same callbacks
    callbacks = [keras.callbacks.ModelCheckpoint(tmp_path / "model.keras"),
                 keras.callbacks.ModelCheckpoint(tmp_path / "model.weights.h5", save_weights_only=True)]
    model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
    from_weights = fresh(model)
    from_weights.load_weights(tmp_path / "model.weights.h5")
    for restored in (keras.models.load_model(tmp_path / "model.keras"), from_weights):
        assert_same_variables(restored, model)
        np.testing.assert_array_equal(restored(ids).logits.numpy(), model(ids).logits.numpy())


@pytest.mark.parametrize("architecture", ["ElectraForSequenceClassification", "ElectraForCausalLM"])
def test_tf_train_checkpoint_saves_and_restores_every_variable(architecture, tmp_path):
    model = build(architecture)
    path = tf.train.Checkpoint(model=model).save(tmp_path / "ckpt")
    stored = [name for name, _ in tf.train.list_variables(path) if name.startswith("model/")]
    assert len(stored) == len(model.weights)  # every weight (43 for the classifier); dropout seed states are not weights
    other = fresh(model)
    tf.train.Checkpoint(model=other).restore(path).assert_existing_objects_matched()
    assert_same_variables(other, model)
