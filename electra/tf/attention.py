"""Multi-head attention: `ElectraSelfAttention`, `ElectraSelfOutput`, `ElectraAttention`.

Matches HF `ElectraSelfAttention` / `ElectraAttention` (docs/reference.md section 2), including
relative position scores, the decoder key/value cache and cross-attention (HF's TF code
has none of the three).

TensorFlow has no fused attention kernel on CPU, so there is one path: scores, softmax
(in float32 under mixed precision), dropout, head mask, weighted sum, as HF writes it.
Self-attention runs the query, key and value projections as one matmul over the
concatenated canonical weights (the three parameters stay separate).

Cache format (shared by the three backends, HF's legacy tuples): `past_key_values` is a
tuple with one entry per layer; an entry is `(key, value)` for self-attention, or
`(key, value, cross_key, cross_value)` when the layer has cross-attention, each tensor
(B, N, L_kv, D). Self-attention entries grow by the new positions at every call; the
cross-attention entries are computed from `encoder_hidden_states` once and reused.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from electra.common.config import ElectraConfig
from electra.tf.dropout import Dropout
from electra.tf.embeddings import initializer

KeyValue = tuple[tf.Tensor, tf.Tensor]


def dense(units: int, config: ElectraConfig, name: str) -> keras.layers.Dense:
    """A Linear layer initialised as HF does (normal weights, zero bias)."""
    return keras.layers.Dense(units, kernel_initializer=initializer(config), name=name)


class ElectraSelfAttention(keras.layers.Layer):
    """q, k, v projections and scaled dot-product attention over N heads of width D."""

    def __init__(self, config: ElectraConfig, relative: bool, **kwargs):
        super().__init__(**kwargs)
        H = config.hidden_size
        self.hidden_size = H
        self.num_heads = config.num_attention_heads  # N
        self.head_dim = config.head_dim  # D
        self.query = dense(H, config, "query")
        self.key = dense(H, config, "key")
        self.value = dense(H, config, "value")
        self.dropout = Dropout(config.attention_probs_dropout_prob)
        self.position_embedding_type = config.position_embedding_type if relative else "absolute"
        if relative:
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = keras.layers.Embedding(
                2 * config.max_position_embeddings - 1, self.head_dim, embeddings_initializer=initializer(config), name="distance_embedding"
            )

    def build(self, input_shape=None):
        for layer in (self.query, self.key, self.value):
            layer.build((None, None, self.hidden_size))
        if self.position_embedding_type != "absolute":
            self.distance_embedding.build(None)
        self.built = True

    def _heads(self, x: tf.Tensor) -> tf.Tensor:
        B, L = tf.shape(x)[0], tf.shape(x)[1]
        return tf.transpose(tf.reshape(x, (B, L, self.num_heads, self.head_dim)), (0, 2, 1, 3))  # (B, N, L, D)

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None, past_key_value=None,
             output_attentions=False, training=False):
        """Args:
            hidden_states: (B, L, H) queries (and keys/values for self-attention).
            attention_mask: additive, broadcastable to (B, N, L, L_kv), or None.
            head_mask: (N,) multiplier of the probabilities, or None.
            encoder_hidden_states: (B, L_enc, H) keys/values for cross-attention, or None.
            past_key_value: cached (key, value) (B, N, L_past, D): for self-attention the
                new keys are appended; for cross-attention they are used as they are.
        Returns:
            context (B, L, H), probabilities (B, N, L, L_kv) or None, and (key, value) to cache.
        """
        B, L = tf.shape(hidden_states)[0], tf.shape(hidden_states)[1]
        cross = encoder_hidden_states is not None
        if cross and past_key_value is not None:
            q = self._heads(self.query(hidden_states))
            k, v = past_key_value
        elif cross:
            q = self._heads(self.query(hidden_states))
            k = self._heads(self.key(encoder_hidden_states))
            v = self._heads(self.value(encoder_hidden_states))
        else:
            dtype = hidden_states.dtype
            kernel = tf.cast(tf.concat([self.query.kernel, self.key.kernel, self.value.kernel], axis=1), dtype)  # (H, 3H)
            bias = tf.cast(tf.concat([self.query.bias, self.key.bias, self.value.bias], axis=0), dtype)
            qkv = tf.reshape(tf.matmul(tf.reshape(hidden_states, (-1, self.hidden_size)), kernel) + bias, (B, L, 3, self.num_heads, self.head_dim))
            q, k, v = tf.unstack(tf.transpose(qkv, (2, 0, 3, 1, 4)))  # 3 x (B, N, L, D)
            if past_key_value is not None:
                k = tf.concat([tf.cast(past_key_value[0], k.dtype), k], axis=2)  # (B, N, L_past + L, D)
                v = tf.concat([tf.cast(past_key_value[1], v.dtype), v], axis=2)

        scores = tf.matmul(q, k, transpose_b=True)  # (B, N, L, L_kv)
        if self.position_embedding_type != "absolute":
            scores = scores + self._relative_scores(q, k)
        scores = tf.cast(scores, tf.float32) / math.sqrt(self.head_dim)
        if attention_mask is not None:
            scores = scores + tf.cast(attention_mask, tf.float32)  # Keras casts float inputs to the compute dtype
        probs = tf.cast(tf.nn.softmax(scores, axis=-1), q.dtype)
        probs = self.dropout(probs, training=training)
        if head_mask is not None:
            probs = probs * tf.reshape(tf.cast(head_mask, probs.dtype), (1, -1, 1, 1))
        context = tf.matmul(probs, v)  # (B, N, L, D)
        context = tf.reshape(tf.transpose(context, (0, 2, 1, 3)), (B, L, self.hidden_size))  # (B, L, H)
        return context, probs if output_attentions else None, (k, v)

    def _relative_scores(self, q: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
        """Shaw et al. relative-position terms (HF `relative_key` / `relative_key_query`)."""
        L, L_kv = tf.shape(q)[2], tf.shape(k)[2]
        # Queries are the last L of the L_kv positions (L_kv - L of them are cached).
        query_pos = tf.range(L_kv - L, L_kv)[:, None]
        key_pos = tf.range(L_kv)[None, :]
        distance = tf.cast(self.distance_embedding(query_pos - key_pos + self.max_position_embeddings - 1), q.dtype)  # (L, L_kv, D)
        scores = tf.einsum("bhld,lrd->bhlr", q, distance)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + tf.einsum("bhrd,lrd->bhlr", k, distance)
        return scores


class ElectraSelfOutput(keras.layers.Layer):
    """Output projection, dropout, residual and LayerNorm after attention."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = config.hidden_size
        self.dense = dense(config.hidden_size, config, "dense")
        self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")  # HF name, kept for checkpoints
        self.dropout = Dropout(config.hidden_dropout_prob)

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.LayerNorm.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden_states, residual, training=False):
        return self.LayerNorm(self.dropout(self.dense(hidden_states), training=training) + residual)


class ElectraAttention(keras.layers.Layer):
    """`self` attention block followed by its `output` block (HF `ElectraAttention`)."""

    output = None  # shadows keras' functional-API `Layer.output` property: the HF sub-layer name wins

    def __init__(self, config: ElectraConfig, relative: bool, **kwargs):
        super().__init__(**kwargs)
        self.self = ElectraSelfAttention(config, relative, name="self")
        self.output = ElectraSelfOutput(config, name="output")

    @property
    def output_block(self) -> ElectraSelfOutput:
        """`output` again, for Keras' `.keras` / `.weights.h5` saving: it walks attributes by
        name but skips every name a bare `keras.layers.Layer` has, `output` among them. A
        property is not in `vars()`, so the canonical names (`named_variables`) are unchanged."""
        return self.output

    def build(self, input_shape=None):
        self.self.build()
        self.output.build()
        self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None, past_key_value=None,
             output_attentions=False, training=False):
        context, probs, present = self.self(
            hidden_states, attention_mask, head_mask, encoder_hidden_states, past_key_value, output_attentions=output_attentions, training=training
        )
        return self.output(context, hidden_states, training=training), probs, present
