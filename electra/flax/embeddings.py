"""`ElectraEmbeddings`: word + token type (+ absolute position) embeddings, LayerNorm, dropout.

Matches HF `FlaxElectraEmbeddings` (parameter tree) and `ElectraEmbeddings` (docs/reference.md
section 2), except that default `token_type_ids` are zeros (HF's Flax class uses ones).
Default `position_ids` are `arange(past_length, past_length + L)`; `past_length` may be a
traced scalar (the fixed-size decoding cache of `generation.py`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from electra.common.config import ElectraConfig
from electra.flax.prng import Dropout


class ElectraEmbeddings(nn.Module):
    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32  # compute dtype
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        config, E = self.config, self.config.embedding_size
        init = nn.initializers.normal(config.initializer_range)
        embed = lambda n: nn.Embed(n, E, embedding_init=init, param_dtype=self.param_dtype, dtype=self.dtype)  # noqa: E731
        self.word_embeddings = embed(config.vocab_size)
        self.position_embeddings = embed(config.max_position_embeddings)
        self.token_type_embeddings = embed(config.type_vocab_size)
        # HF name, kept for checkpoints; computes in float32 whatever the compute dtype.
        self.LayerNorm = nn.LayerNorm(epsilon=config.layer_norm_eps, dtype=jnp.float32, param_dtype=self.param_dtype)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.absolute_positions = config.position_embedding_type == "absolute"

    def __call__(
        self,
        input_ids: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        inputs_embeds: jax.Array | None = None,
        past_length: int | jax.Array = 0,
        train: bool = False,
    ) -> jax.Array:
        """Args: `input_ids` (B, L) or `inputs_embeds` (B, L, E); `token_type_ids` and
        `position_ids` (B, L) or None. Returns (B, L, E) in the compute dtype."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, L, E)
        L = inputs_embeds.shape[1]
        if token_type_ids is None:
            # Every row of the zero-type table is the same: add row 0 by broadcasting.
            embeddings = inputs_embeds + self.token_type_embeddings.embedding[0].astype(self.dtype)
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute_positions:
            if position_ids is None:
                position_ids = past_length + jnp.arange(L)[None, :]  # (1, L)
            embeddings = embeddings + self.position_embeddings(position_ids)
        embeddings = self.LayerNorm(embeddings).astype(self.dtype)
        return self.dropout(embeddings, deterministic=not train)
