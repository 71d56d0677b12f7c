"""electra.tf.dropout: keras.layers.Dropout's contract with a mask XLA compiles well."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import electra.tf as etf
from conftest import tiny_config
from electra.tf.dropout import Dropout, keep_mask


def test_it_is_a_keras_dropout_with_its_arguments():
    layer = Dropout(0.25, seed=3)
    assert isinstance(layer, keras.layers.Dropout)
    assert layer.get_config()["rate"] == 0.25 and layer.get_config()["seed"] == 3
    assert type(Dropout.from_config(layer.get_config())) is Dropout
    with pytest.raises(ValueError):
        Dropout(1.5)


def test_inference_and_zero_rate_are_the_identity():
    x = tf.random.normal((4, 5))
    np.testing.assert_array_equal(Dropout(0.5)(x, training=False), x)
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_drop_rate_and_scaling(rate):
    n = 1_000_001  # odd: the last 64-bit draw is half used
    x = tf.random.stateless_uniform((n,), (0, 1)) + 1.0  # no zeros of its own
    y = Dropout(rate, seed=0)(x, training=True).numpy()
    dropped = (y == 0).mean()
    assert abs(dropped - rate) < 5 * math.sqrt(rate * (1 - rate) / n)  # 5 standard deviations
    kept = y != 0
    expected = x.numpy()[kept] * np.float32(1 / (1 - rate))  # as Keras scales kept elements
    np.testing.assert_array_equal(y[kept], expected)


def test_neighbouring_elements_are_independent():
    # The two 32-bit halves of one 64-bit draw serve neighbouring elements.
    mask = keep_mask([2_000_000], 0.5, tf.constant([5, 6])).numpy().astype(np.float64)
    even, odd = mask[0::2], mask[1::2]
    correlation = np.corrcoef(even, odd)[0, 1]
    assert abs(correlation) < 5 / math.sqrt(even.size)
    rows = keep_mask(tf.constant([1000, 1000]), 0.5, tf.constant([7, 8])).numpy().astype(np.float64)
    assert abs(rows.mean(axis=0).std() - 0.5 / math.sqrt(1000)) < 0.002  # columns alike


def test_seeded_layers_repeat_and_successive_calls_differ():
    x = tf.ones((64, 64))
    layer = Dropout(0.3, seed=11)
    first, second = layer(x, training=True), layer(x, training=True)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(Dropout(0.3, seed=11)(x, training=True), first)


def test_xla_draws_the_same_mask_as_eager():
    x = tf.random.normal((3, 50, 7))
    eager, compiled = Dropout(0.2, seed=4), Dropout(0.2, seed=4)
    step = tf.function(lambda x: compiled(x, training=True), jit_compile=True)
    np.testing.assert_array_equal(step(x), eager(x, training=True))


def test_gradient_is_the_mask_times_the_scale():
    x = tf.random.normal((8, 16))
    layer = Dropout(0.2, seed=1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        total = tf.reduce_sum(y)
    grad = tape.gradient(total, x).numpy()
    np.testing.assert_allclose(grad, (y.numpy() != 0) / 0.8, rtol=1e-6)


def test_rate_one_noise_shape_and_dtypes():
    x = tf.random.normal((3, 4, 5))
    np.testing.assert_array_equal(Dropout(1.0)(x, training=True), tf.zeros_like(x))
    # A noise shape goes to Keras' own call: one mask row shared along axis 1.
    y = Dropout(0.5, noise_shape=(3, 1, 5), seed=2)(x, training=True).numpy()
    assert ((y == 0) == (y[:, :1] == 0)).all()
    y = Dropout(0.5, seed=2, dtype="bfloat16")(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and y.shape == x.shape
    assert not keep_mask([1000], 1 - 2**-40, tf.constant([0, 0])).numpy().any()


def test_models_use_it_for_every_dropout():
    model = etf.ElectraForSequenceClassification(tiny_config(classifier_dropout=0.2))
    model(np.ones((1, 4), np.int32))
    dropouts = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
    assert dropouts and all(type(layer) is Dropout for layer in dropouts)


def test_prng_random_int32_covers_the_range_and_is_the_same_under_xla():
    """`prng.random_int32` (the dropout masks' bits): uniform over the int32 range, odd sizes
    included, the same numbers under XLA, other numbers for another seed."""
    from electra.tf import prng

    x = prng.random_int32([1001, 999], tf.constant([3, 4], tf.int64)).numpy().ravel()
    assert x.dtype == np.int32 and x.size == 1001 * 999
    u = (x.astype(np.float64) + 2**31) / 2**32  # in [0, 1)
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / u.size)
    assert abs(u.var() - 1 / 12) < 0.001
    assert x.min() < -(2**30) and x.max() > 2**30
    xla = tf.function(lambda seed: prng.random_int32([1001, 999], seed), jit_compile=True)
    np.testing.assert_array_equal(xla(tf.constant([3, 4], tf.int64)).numpy().ravel(), x)
    assert not np.array_equal(prng.random_int32([1001, 999], tf.constant([3, 5], tf.int64)).numpy().ravel(), x)


def test_unknown_dimensions_and_empty_inputs():
    layer = Dropout(0.5, seed=9)
    step = tf.function(lambda x: layer(x, training=True), input_signature=[tf.TensorSpec((None, 7), tf.float32)])
    y = step(tf.ones((5, 7))).numpy()
    assert y.shape == (5, 7) and set(np.unique(y).tolist()) <= {0.0, 2.0}
    assert Dropout(0.5, seed=9)(tf.ones((0, 3)), training=True).shape == (0, 3)
