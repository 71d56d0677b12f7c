"""`ElectraEmbeddings`: word + token type (+ absolute position) embeddings, LayerNorm, dropout.

Matches HF `ElectraEmbeddings` (docs/reference.md section 2). Default `token_type_ids` are zeros
and default `position_ids` are `arange(past_length, past_length + L)`.
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import tensorflow as tf

from electra.common.config import ElectraConfig
from electra.tf.dropout import Dropout

_RANDOM_INIT = contextvars.ContextVar("electra_tf_random_init", default=True)


def initializer(config: ElectraConfig) -> keras.initializers.Initializer:
    """Normal(0, initializer_range), HF's init of every Linear and Embedding table (zeros
    inside `weights_to_be_loaded`)."""
    if not _RANDOM_INIT.get():
        return keras.initializers.Zeros()
    return keras.initializers.RandomNormal(stddev=config.initializer_range)


@contextlib.contextmanager
def weights_to_be_loaded():
    """Layers built inside take zeros instead of random normal tables: for a model whose
    every weight is assigned from a checkpoint next (`from_pretrained`), where drawing
    them is most of the build time."""
    token = _RANDOM_INIT.set(False)
    try:
        yield
    finally:
        _RANDOM_INIT.reset(token)


class ElectraEmbeddings(keras.layers.Layer):
    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        E = config.embedding_size
        init = initializer(config)
        self.word_embeddings = keras.layers.Embedding(config.vocab_size, E, embeddings_initializer=init, name="word_embeddings")
        self.position_embeddings = keras.layers.Embedding(config.max_position_embeddings, E, embeddings_initializer=init, name="position_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(config.type_vocab_size, E, embeddings_initializer=init, name="token_type_embeddings")
        self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")  # HF name, kept for checkpoints
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.absolute_positions = config.position_embedding_type == "absolute"
        self.pad_token_id = config.pad_token_id

    def build(self, input_shape=None):
        for table in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            table.build(None)
        self.LayerNorm.build((None, None, self.word_embeddings.output_dim))
        # HF zeroes the padding row at init (PyTorch's padding_idx).
        table = self.word_embeddings.embeddings
        table.assign(tf.tensor_scatter_nd_update(table, [[self.pad_token_id]], tf.zeros((1, table.shape[1]), table.dtype)))
        self.built = True

    def call(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past_length=0, training=False):
        """Args: `input_ids` (B, L) or `inputs_embeds` (B, L, E); `token_type_ids` and
        `position_ids` (B, L) or None. Returns (B, L, E)."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, L, E)
        L = tf.shape(inputs_embeds)[1]
        dtype = inputs_embeds.dtype
        if token_type_ids is None:
            # Every row of the zero-type table is the same: add row 0 by broadcasting.
            embeddings = inputs_embeds + tf.cast(self.token_type_embeddings.embeddings[0], dtype)
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute_positions:
            if position_ids is None:
                embeddings = embeddings + tf.cast(self.position_embeddings.embeddings[past_length : past_length + L], dtype)  # (L, E)
            else:
                embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings), training=training)
