"""Head blocks on top of the backbone's hidden states (HF classes of the same names).

`ElectraDiscriminatorPredictions` (replaced-token detection), `ElectraGeneratorPredictions`
(masked / causal LM), `ElectraLMHead` (the `generator_lm_head`, weight tied to the word
embeddings), `ElectraClassificationHead` (sequence classification, token 0),
`ElectraSequenceSummary` (multiple choice).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from electra.common.config import ElectraConfig
from electra.tf.activations import get_activation
from electra.tf.attention import dense
from electra.tf.dropout import Dropout
from electra.tf.embeddings import initializer


class ElectraDiscriminatorPredictions(keras.layers.Layer):
    """H -> H -> `hidden_act` -> 1: one "replaced" logit per token."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = config.hidden_size
        self.dense = dense(config.hidden_size, config, "dense")
        self.activation = get_activation(config.hidden_act)
        self.dense_prediction = dense(1, config, "dense_prediction")

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.dense_prediction.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden_states):
        return tf.squeeze(self.dense_prediction(self.activation(self.dense(hidden_states))), -1)  # (B, L)


class ElectraGeneratorPredictions(keras.layers.Layer):
    """H -> E -> gelu -> LayerNorm (HF always uses gelu here, whatever `hidden_act`)."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = config.hidden_size
        self.activation = get_activation("gelu")
        self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")  # HF name, kept for checkpoints
        self.dense = dense(config.embedding_size, config, "dense")

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.LayerNorm.build((None, None, self.dense.units))
        self.built = True

    def call(self, hidden_states):
        return self.LayerNorm(self.activation(self.dense(hidden_states)))  # (B, L, E)


class ElectraLMHead(keras.layers.Layer):
    """E -> V output layer. With `tie_word_embeddings` its weight is the word-embedding
    table, passed in at call time (so the layer tree holds that table once); otherwise
    it owns a `kernel` (E, V). The `bias` (V,) is always its own."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config

    def build(self, input_shape=None):
        E, V = self.config.embedding_size, self.config.vocab_size
        if not self.config.tie_word_embeddings:
            self.kernel = self.add_weight(name="kernel", shape=(E, V), initializer=initializer(self.config))
        self.bias = self.add_weight(name="bias", shape=(V,), initializer="zeros")
        self.built = True

    def call(self, hidden_states, word_embeddings):
        """Args: hidden_states (B, L, E); word_embeddings (V, E). Returns (B, L, V)."""
        if self.config.tie_word_embeddings:
            weight = tf.cast(word_embeddings, hidden_states.dtype)
            return tf.matmul(hidden_states, weight, transpose_b=True) + tf.cast(self.bias, hidden_states.dtype)
        return tf.matmul(hidden_states, tf.cast(self.kernel, hidden_states.dtype)) + tf.cast(self.bias, hidden_states.dtype)


class ElectraClassificationHead(keras.layers.Layer):
    """Token 0 -> dropout -> dense -> gelu -> dropout -> `out_proj` (num_labels)."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = config.hidden_size
        self.dense = dense(config.hidden_size, config, "dense")
        self.activation = get_activation("gelu")
        self.dropout = Dropout(config.classifier_dropout_prob)
        self.out_proj = dense(config.num_labels, config, "out_proj")

    def build(self, input_shape=None):
        self.dense.build((None, self.hidden_size))
        self.out_proj.build((None, self.hidden_size))
        self.built = True

    def call(self, hidden_states, training=False):
        x = self.dropout(hidden_states[:, 0], training=training)  # (B, H)
        x = self.dropout(self.activation(self.dense(x)), training=training)
        return self.out_proj(x)  # (B, num_labels)


class ElectraSequenceSummary(keras.layers.Layer):
    """One vector per sequence (HF `ElectraSequenceSummary`): pick by `summary_type`
    ("first", "last", "mean", "cls_index"), then optional `summary` projection (H -> H),
    `summary_activation` and dropout (`summary_last_dropout`)."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = config.hidden_size
        self.summary_type = config.summary_type
        self.summary = dense(config.hidden_size, config, "summary") if config.summary_use_proj else None
        self.activation = get_activation(config.summary_activation) if config.summary_activation else None
        self.last_dropout = Dropout(config.summary_last_dropout)

    def build(self, input_shape=None):
        if self.summary is not None:
            self.summary.build((None, self.hidden_size))
        self.built = True

    def call(self, hidden_states, cls_index=None, training=False):
        """Args: hidden_states (B, L, H); cls_index (B,) token to read for "cls_index"
        (default: the last token, as HF). Returns (B, H)."""
        if self.summary_type == "first":
            output = hidden_states[:, 0]
        elif self.summary_type == "last":
            output = hidden_states[:, -1]
        elif self.summary_type == "mean":
            output = tf.reduce_mean(hidden_states, axis=1)
        elif cls_index is None:  # "cls_index" without indices
            output = hidden_states[:, -1]
        else:
            output = tf.gather(hidden_states, tf.cast(cls_index, tf.int32), axis=1, batch_dims=1)
        if self.summary is not None:
            output = self.summary(output)
        if self.activation is not None:
            output = self.activation(output)
        return self.last_dropout(output, training=training)
