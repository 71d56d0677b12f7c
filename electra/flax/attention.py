"""Multi-head attention: `ElectraSelfAttention`, `ElectraSelfOutput`, `ElectraAttention`.

Matches HF `FlaxElectraSelfAttention` / `FlaxElectraAttention` (parameter tree) and the
PyTorch `ElectraSelfAttention` (docs/reference.md section 2, including relative positions, which
HF has in PyTorch only), with electra.pt's argument names, order and (B, N, L, D) head layout.
Two paths give the same numbers:
- fused: `jax.nn.dot_product_attention`, used whenever nothing needs the probabilities
  (no `output_attentions`, no `head_mask`, no active attention dropout, absolute positions);
- explicit: scores, softmax (float32), dropout, head mask, probabilities returned.

Key/value cache. `past_key_value` is `(k, v)` (B, N, L_past, D). Two modes:
- `cache_index is None`: the new keys/values are appended (L_past grows by L), as in PyTorch;
- `cache_index` given (an int or a traced scalar): `past_key_value` is a fixed-size buffer
  (B, N, T, D) and the new keys/values are written at `cache_index`, so every decoding step
  has the same shapes and compiles once (`generation.py`). Slots after the current position
  are hidden by the causal mask.
Cross-attention keys/values are computed once from `encoder_hidden_states` and reused.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from electra.common.config import ElectraConfig
from electra.flax.prng import Dropout

KeyValue = tuple[jax.Array, jax.Array]


def dense(features: int, config: ElectraConfig, dtype, param_dtype, name: str | None = None) -> nn.Dense:
    """A Linear layer with HF's initialisation (normal(initializer_range), zero bias)."""
    return nn.Dense(
        features, dtype=dtype, param_dtype=param_dtype,
        kernel_init=nn.initializers.normal(config.initializer_range), name=name,
    )


class ElectraSelfAttention(nn.Module):
    """q, k, v projections and scaled dot-product attention over N heads of width D."""

    config: ElectraConfig
    relative: bool = False  # relative position scores (`position_embedding_type != "absolute"`)
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        config = self.config
        H = config.hidden_size
        self.num_heads = config.num_attention_heads  # N
        self.head_dim = config.head_dim  # D
        self.query = dense(H, config, self.dtype, self.param_dtype)
        self.key = dense(H, config, self.dtype, self.param_dtype)
        self.value = dense(H, config, self.dtype, self.param_dtype)
        self.dropout = Dropout(config.attention_probs_dropout_prob)
        self.position_embedding_type = config.position_embedding_type if self.relative else "absolute"
        if self.relative:
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = nn.Embed(
                2 * config.max_position_embeddings - 1, self.head_dim, dtype=self.dtype,
                param_dtype=self.param_dtype, embedding_init=nn.initializers.normal(config.initializer_range),
            )

    def _heads(self, x: jax.Array) -> jax.Array:
        B, L, _ = x.shape
        return x.reshape(B, L, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)  # (B, N, L, D)

    def __call__(
        self,
        hidden_states: jax.Array,
        attention_mask: jax.Array | None = None,
        head_mask: jax.Array | None = None,
        encoder_hidden_states: jax.Array | None = None,
        past_key_value: KeyValue | None = None,
        output_attentions: bool = False,
        cache_index: int | jax.Array | None = None,
        train: bool = False,
    ) -> tuple[jax.Array, jax.Array | None, KeyValue]:
        """Args:
            hidden_states: (B, L, H) queries (and keys/values for self-attention).
            attention_mask: additive float32, broadcastable to (B, N, L, L_kv), or None.
            head_mask: (N,) multiplier of the probabilities, or None.
            encoder_hidden_states: (B, L_enc, H) keys/values for cross-attention, or None.
            past_key_value: cached (key, value) (B, N, L_past or T, D): for self-attention the
                new keys are appended (or written at `cache_index`); for cross-attention they
                are used as they are.
            cache_index: None (append) or the write position in a fixed-size cache.
        Returns:
            context (B, L, H), probabilities (B, N, L, L_kv) or None, and (key, value) to cache.
        """
        B, L, H = hidden_states.shape
        cross = encoder_hidden_states is not None
        if cross and past_key_value is not None:
            q = self._heads(self.query(hidden_states))
            k, v = past_key_value
        elif cross:
            q = self._heads(self.query(hidden_states))
            k = self._heads(self.key(encoder_hidden_states))
            v = self._heads(self.value(encoder_hidden_states))
        else:
            # Three matmuls, not pt's and tf's one over the concatenated kernels: under XLA on CPU that is 2.5% slower.
            q = self._heads(self.query(hidden_states))  # (B, N, L, D)
            k = self._heads(self.key(hidden_states))
            v = self._heads(self.value(hidden_states))
            if past_key_value is not None and cache_index is None:
                k = jnp.concatenate([past_key_value[0], k], axis=2)  # (B, N, L_past + L, D)
                v = jnp.concatenate([past_key_value[1], v], axis=2)
            elif past_key_value is not None:
                start = (0, 0, cache_index, 0)
                k = jax.lax.dynamic_update_slice(past_key_value[0], k.astype(past_key_value[0].dtype), start)  # (B, N, T, D)
                v = jax.lax.dynamic_update_slice(past_key_value[1], v.astype(past_key_value[1].dtype), start)

        dropout_active = train and self.config.attention_probs_dropout_prob > 0
        explicit = output_attentions or head_mask is not None or dropout_active or self.position_embedding_type != "absolute"
        if explicit:
            context, probs = self._explicit(q, k, v, attention_mask, head_mask, cache_index, train)
        else:
            # jax.nn.dot_product_attention takes (B, L, N, D); XLA folds the transposes.
            context = jax.nn.dot_product_attention(
                q.transpose(0, 2, 1, 3), k.astype(q.dtype).transpose(0, 2, 1, 3), v.astype(q.dtype).transpose(0, 2, 1, 3),
                bias=attention_mask, scale=1.0 / math.sqrt(self.head_dim),
            ).transpose(0, 2, 1, 3)  # (B, N, L, D)
            probs = None
        context = context.transpose(0, 2, 1, 3).reshape(B, L, H)  # (B, L, H)
        return context, probs if output_attentions else None, (k, v)

    def _explicit(self, q, k, v, attention_mask, head_mask, cache_index, train):
        scores = jnp.einsum("bnld,bnkd->bnlk", q, k.astype(q.dtype), preferred_element_type=jnp.float32)  # (B, N, L, L_kv)
        if self.position_embedding_type != "absolute":
            scores = scores + self._relative_scores(q, k, cache_index)
        scores = scores / math.sqrt(self.head_dim)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)  # softmax in float32
        probs = self.dropout(probs, deterministic=not train)
        if head_mask is not None:
            probs = probs * head_mask.astype(self.dtype)[None, :, None, None]
        return jnp.einsum("bnlk,bnkd->bnld", probs, v.astype(self.dtype)), probs  # (B, N, L, D)

    def _relative_scores(self, q: jax.Array, k: jax.Array, cache_index: int | jax.Array | None) -> jax.Array:
        """Shaw et al. relative-position terms (HF `relative_key` / `relative_key_query`)."""
        L, L_kv = q.shape[2], k.shape[2]
        # Queries follow the L_past cached positions (all of a fixed-size cache is keys).
        past_length = L_kv - L if cache_index is None else cache_index
        query_pos = past_length + jnp.arange(L)[:, None]
        key_pos = jnp.arange(L_kv)[None, :]
        distance = self.distance_embedding(query_pos - key_pos + self.max_position_embeddings - 1).astype(q.dtype)  # (L, L_kv, D)
        scores = jnp.einsum("bnld,lrd->bnlr", q, distance, preferred_element_type=jnp.float32)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + jnp.einsum("bnrd,lrd->bnlr", k.astype(q.dtype), distance, preferred_element_type=jnp.float32)
        return scores


class ElectraSelfOutput(nn.Module):
    """Output projection, dropout, residual and LayerNorm after attention."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self.config.hidden_size, self.config, self.dtype, self.param_dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=jnp.float32, param_dtype=self.param_dtype)  # HF name, kept for checkpoints
        self.dropout = Dropout(self.config.hidden_dropout_prob)

    def __call__(self, hidden_states: jax.Array, residual: jax.Array, train: bool = False) -> jax.Array:
        hidden_states = self.dropout(self.dense(hidden_states), deterministic=not train)
        return self.LayerNorm(hidden_states + residual).astype(self.dtype)


class ElectraAttention(nn.Module):
    """`self` attention block followed by its `output` block (HF `ElectraAttention`)."""

    config: ElectraConfig
    relative: bool = False
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.self = ElectraSelfAttention(self.config, self.relative, self.dtype, self.param_dtype)
        self.output = ElectraSelfOutput(self.config, self.dtype, self.param_dtype)

    def __call__(
        self,
        hidden_states: jax.Array,
        attention_mask: jax.Array | None = None,
        head_mask: jax.Array | None = None,
        encoder_hidden_states: jax.Array | None = None,
        past_key_value: KeyValue | None = None,
        output_attentions: bool = False,
        cache_index: int | jax.Array | None = None,
        train: bool = False,
    ) -> tuple[jax.Array, jax.Array | None, KeyValue]:
        context, probs, present = self.self(
            hidden_states, attention_mask, head_mask, encoder_hidden_states, past_key_value, output_attentions, cache_index, train
        )
        return self.output(context, hidden_states, train), probs, present
