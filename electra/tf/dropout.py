"""`Dropout`: `keras.layers.Dropout` with a random mask that XLA compiles well.

Keras' TensorFlow backend draws a dropout mask with `tf.nn.experimental.stateless_dropout`,
whose float32 uniforms XLA's CPU backend lowers slowly: about 200 ms for the (8, 4, 128, 128)
attention probabilities of one ELECTRA-small layer under `tf.function(jit_compile=True)`,
against 4 ms without XLA, so dropout tripled the cost of an XLA forward in training. Here one
draw of full-range 64-bit integers (the same Philox generator, `electra.tf.prng`) gives two
uniform 32-bit integers, and an element is kept when its integer is at least a
threshold: keep probability 1 - p to within 2^-32, about 4 ms for the same tensor under XLA
and as fast as before without it.

Same contract as `keras.layers.Dropout` (it is one: `rate`, `noise_shape`, `seed`,
`get_config` and the `seed_generator` that `electra.tf.trainer` resets are unchanged):
in training, each element is zeroed with probability `rate` and the rest are scaled by
1 / (1 - rate); otherwise it is the identity. Each call draws its seed from the layer's
`seed_generator`, as Keras does; the masks are not the ones Keras draws from that seed.
With a `noise_shape` or rate 1 it is Keras' own call.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from electra.common.dropout import keep_threshold
from electra.tf import prng


def keep_mask(shape, rate: float, seed: tf.Tensor) -> tf.Tensor:
    """Bool tensor of `shape` (a list of ints or a shape tensor), each element True with
    probability 1 - rate (0 <= rate < 1), from the stateless seed `seed` ((2,) int32 or int64)."""
    threshold = keep_threshold(rate)
    if threshold is None:  # nothing is kept
        return tf.zeros(shape, tf.bool)
    return prng.random_int32(shape, seed) >= threshold


class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (same arguments) whose masks come from `keep_mask`."""

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is not None or self.rate == 1:
            return super().call(inputs, training=training)
        # As Keras does: the generator's int64 state folded into int32, which XLA accepts.
        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
        static = inputs.shape.as_list() if inputs.shape.rank is not None else [None]
        keep = keep_mask(static if None not in static else tf.shape(inputs), self.rate, seed)
        return tf.where(keep, inputs * tf.cast(1 / (1 - self.rate), inputs.dtype), tf.zeros((), inputs.dtype))
