"""Keras-native behaviour of electra.tf: config round trip, compile + fit on tf.data,
SavedModel export read back in a fresh process, and the backend check at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import electra.tf as etf
from conftest import REPO_ROOT, tiny_config
from electra.common.weights.names import ARCHITECTURES
from tests.tf.helpers import L, build, ids_for


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_get_config_is_the_constructor_arguments_and_round_trips(architecture):
    model = build(architecture)
    config = model.get_config()
    assert set(config) == {"config", "name", "trainable", "dtype"}
    json.dumps(config)  # serialisable as it stands
    again = type(model).from_config(config)
    assert again.config == model.config and again.name == model.name
    again.build()
    assert again.count_params() == model.count_params()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model), custom_objects={architecture: type(model)})
    assert type(restored) is type(model) and restored.config == model.config


def test_compile_and_fit_on_a_dataset_fine_tunes_a_classifier():
    keras.utils.set_random_seed(0)
    model = build("ElectraForSequenceClassification", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 99, (16, L)).astype(np.int32)
    labels = (ids[:, 1] % 3).astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices(({"input_ids": ids}, labels)).batch(8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(data, epochs=6, verbose=0, shuffle=False).history["loss"]
    assert history[-1] < 0.7 * history[0]
    # Labels inside the inputs: the head's own loss, no compiled loss.
    inside = tf.data.Dataset.from_tensor_slices({"input_ids": ids, "labels": labels}).batch(8)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = model.evaluate(inside, verbose=0)
    model.fit(inside, epochs=2, verbose=0, shuffle=False)
    assert model.evaluate(inside, verbose=0) < before


EXPORT_CHECK = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
inputs = dict(np.load(sys.argv[2]))
out = loaded.serve({k: tf.constant(v) for k, v in inputs.items()})
signature = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
np.savez(sys.argv[3], logits=out["logits"].numpy(), signature=signature["logits"].numpy())
"""


@pytest.mark.parametrize("architecture", ["ElectraForPreTraining", "ElectraForMultipleChoice"])
def test_export_saved_model_serves_the_same_logits_in_a_fresh_process(architecture, tmp_path):
    model = build(architecture)
    ids = ids_for(architecture, model.config)
    mask = np.ones_like(ids)
    mask[..., -2:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    expected = model(**inputs).logits.numpy()
    model.export(tmp_path / "saved", verbose=False)
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-P", "-c", EXPORT_CHECK, str(tmp_path / "saved"), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz")],
                            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(served["logits"], expected, atol=1e-5)
    np.testing.assert_allclose(served["signature"], expected, atol=1e-5)


def test_keras_on_another_backend_is_refused_at_import():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-P", "-c", "import electra.tf"], env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert result.returncode != 0
    assert "ImportError: electra.tf needs Keras on the TensorFlow backend" in result.stderr
    assert "'jax'" in result.stderr and "KERAS_BACKEND=tensorflow" in result.stderr


def test_mixed_bfloat16_training_step_is_finite():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build("ElectraForTokenClassification")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    ids = ids_for("ElectraForTokenClassification", model.config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    loss = model.train_on_batch({"input_ids": ids, "labels": ids % 3})
    assert np.isfinite(loss) and all(v.dtype == "float32" for v in model.trainable_variables)
    assert etf.ElectraModel(tiny_config()).dtype_policy.name == "float32"


def serving_inputs(architecture, config):
    ids = ids_for(architecture, config)
    mask = np.ones_like(ids)
    mask[..., -2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def test_predict_returns_the_logits_array_from_a_dataset_or_a_dict():
    model = build("ElectraForSequenceClassification")
    inputs = serving_inputs(model.architecture, model.config)
    expected = model(**inputs).logits.numpy()
    from_dict = model.predict(inputs, batch_size=1, verbose=0)  # two batches, concatenated
    assert isinstance(from_dict, np.ndarray) and from_dict.shape == (2, 3)
    np.testing.assert_allclose(from_dict, expected, atol=1e-5)
    dataset = tf.data.Dataset.from_tensor_slices(inputs).batch(1)
    np.testing.assert_allclose(model.predict(dataset, verbose=0), expected, atol=1e-5)
    with_labels = tf.data.Dataset.from_tensor_slices(({**inputs}, np.array([0, 1], np.int32))).batch(2)  # (x, y): y unused
    np.testing.assert_allclose(model.predict(with_labels, verbose=0), expected, atol=1e-5)


def test_predict_of_question_answering_returns_a_dict_of_start_and_end_logits():
    model = build("ElectraForQuestionAnswering")
    inputs = serving_inputs(model.architecture, model.config)
    expected = model(**inputs)
    predicted = model.predict(inputs, batch_size=1, verbose=0)
    assert sorted(predicted) == ["end_logits", "start_logits"]
    for key in predicted:
        assert isinstance(predicted[key], np.ndarray) and predicted[key].shape == (2, L)
        np.testing.assert_allclose(predicted[key], expected[key].numpy(), atol=1e-5)


def test_tf_saved_model_save_gives_a_callable_serving_object(tmp_path):
    model = build("ElectraForTokenClassification")
    inputs = serving_inputs(model.architecture, model.config)
    expected = model(**inputs).logits.numpy()
    tf.saved_model.save(model, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    np.testing.assert_allclose(loaded(tensors)["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(loaded.serve(tensors)["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(loaded.signatures["serving_default"](**tensors)["logits"].numpy(), expected, atol=1e-5)


def test_tflite_export_runs_in_the_interpreter_and_matches_eager_logits(tmp_path):
    model = build("ElectraForSequenceClassification")
    inputs = serving_inputs(model.architecture, model.config)
    expected = model(**inputs).logits.numpy()
    with pytest.raises(ValueError, match="fixed shapes.*input_ids"):
        model.export(tmp_path / "dynamic.tflite", format="litert", input_signature=model.serving_signature())
    path = model.export(tmp_path / "model.tflite", format="litert", input_signature=model.serving_signature(batch_size=2, length=L))
    interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner("serving_default")
    out = runner(**inputs)
    assert out["logits"].dtype == np.float32
    np.testing.assert_allclose(out["logits"], expected, atol=1e-4)
