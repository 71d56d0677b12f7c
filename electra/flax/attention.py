"""Multi-head attention: `ElectraSelfAttention`, `ElectraSelfOutput`, `ElectraAttention`.

Matches HF `FlaxElectraSelfAttention` / `FlaxElectraAttention` (parameter tree) and the
PyTorch `ElectraSelfAttention` (docs/reference.md section 2, including relative positions, which
HF has in PyTorch only). Two paths give the same numbers:
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


def dense(features: int, config: ElectraConfig, dtype, param_dtype, name: str | None = None) -> nn.Dense:
    """A Linear layer with HF's initialisation (normal(initializer_range), zero bias)."""
    return nn.Dense(
        features, dtype=dtype, param_dtype=param_dtype,
        kernel_init=nn.initializers.normal(config.initializer_range), name=name,
    )


class ElectraSelfAttention(nn.Module):
    config: ElectraConfig
    relative: bool = False  # relative position scores (`position_embedding_type != "absolute"`)
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        config = self.config
        H = config.hidden_size
        self.query = dense(H, config, self.dtype, self.param_dtype)
        self.key = dense(H, config, self.dtype, self.param_dtype)
        self.value = dense(H, config, self.dtype, self.param_dtype)
        if self.relative:
            self.distance_embedding = nn.Embed(
                2 * config.max_position_embeddings - 1, config.head_dim, dtype=self.dtype,
                param_dtype=self.param_dtype, embedding_init=nn.initializers.normal(config.initializer_range),
            )
        self.dropout = Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x: jax.Array) -> jax.Array:
        B, L, _ = x.shape
        return x.reshape(B, L, self.config.num_attention_heads, self.config.head_dim)  # (B, L, N, D)

    def __call__(
        self,
        hidden_states: jax.Array,
        attention_bias: jax.Array,
        layer_head_mask: jax.Array | None = None,
        key_value_states: jax.Array | None = None,
        past_key_value: tuple[jax.Array, jax.Array] | None = None,
        cache_index: int | jax.Array | None = None,
        train: bool = False,
        output_attentions: bool = False,
    ) -> tuple[jax.Array, jax.Array | None, tuple[jax.Array, jax.Array]]:
        """Args:
            hidden_states: (B, L, H) queries (and keys/values for self-attention).
            attention_bias: (B, 1, L, K) float32, 0 where allowed and the float32 minimum elsewhere.
            layer_head_mask: (N,) multiplies the probabilities after dropout, or None.
            key_value_states: (B, S, H) encoder output for cross-attention, or None.
            past_key_value: cached (k, v) (B, N, L_past or T, D), or None.
            cache_index: None (append) or the write position in a fixed-size cache.
        Returns: context (B, L, H), probabilities (B, N, L, K) or None, and the (k, v) to cache.
        """
        D = self.config.head_dim
        q = self._heads(self.query(hidden_states))  # (B, L, N, D)
        if key_value_states is not None and past_key_value is not None:
            k, v = past_key_value  # cross-attention: encoder keys/values computed on an earlier step
        else:
            source = hidden_states if key_value_states is None else key_value_states
            k = self._heads(self.key(source)).transpose(0, 2, 1, 3)  # (B, N, S, D)
            v = self._heads(self.value(source)).transpose(0, 2, 1, 3)
            if past_key_value is not None and cache_index is None:
                k = jnp.concatenate([past_key_value[0], k], axis=2)  # (B, N, L_past + L, D)
                v = jnp.concatenate([past_key_value[1], v], axis=2)
            elif past_key_value is not None:
                start = (0, 0, cache_index, 0)
                k = jax.lax.dynamic_update_slice(past_key_value[0], k.astype(past_key_value[0].dtype), start)  # (B, N, T, D)
                v = jax.lax.dynamic_update_slice(past_key_value[1], v.astype(past_key_value[1].dtype), start)
        present = (k, v)

        dropout_active = train and self.config.attention_probs_dropout_prob > 0
        if not (output_attentions or layer_head_mask is not None or dropout_active or self.relative):
            context = jax.nn.dot_product_attention(
                q, k.transpose(0, 2, 1, 3).astype(q.dtype), v.transpose(0, 2, 1, 3).astype(q.dtype),
                bias=attention_bias, scale=1.0 / math.sqrt(D),
            )  # (B, L, N, D)
            return context.reshape(context.shape[:2] + (-1,)), None, present

        q = q.transpose(0, 2, 1, 3)  # (B, N, L, D)
        scores = jnp.einsum("bnld,bnkd->bnlk", q, k.astype(q.dtype), preferred_element_type=jnp.float32)
        if self.relative:
            L, K = q.shape[2], k.shape[2]
            past_length = K - L if cache_index is None else cache_index
            query_positions = past_length + jnp.arange(L)[:, None]  # (L, 1)
            distance = query_positions - jnp.arange(K)[None, :]  # (L, K)
            positional = self.distance_embedding(distance + self.config.max_position_embeddings - 1)  # (L, K, D)
            positional = positional.astype(q.dtype)
            scores = scores + jnp.einsum("bnld,lkd->bnlk", q, positional, preferred_element_type=jnp.float32)
            if self.config.position_embedding_type == "relative_key_query":
                scores = scores + jnp.einsum("bnkd,lkd->bnlk", k.astype(q.dtype), positional, preferred_element_type=jnp.float32)
        scores = scores / math.sqrt(D) + attention_bias
        probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)  # (B, N, L, K)
        probs = self.dropout(probs, deterministic=not train)
        if layer_head_mask is not None:
            probs = probs * layer_head_mask.astype(self.dtype)[None, :, None, None]
        context = jnp.einsum("bnlk,bnkd->bnld", probs, v.astype(self.dtype))  # (B, N, L, D)
        B, N, L, _ = context.shape
        context = context.transpose(0, 2, 1, 3).reshape(B, L, N * D)  # (B, L, H)
        return context, probs if output_attentions else None, present


class ElectraSelfOutput(nn.Module):
    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self.config.hidden_size, self.config, self.dtype, self.param_dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=jnp.float32, param_dtype=self.param_dtype)  # HF name
        self.dropout = Dropout(self.config.hidden_dropout_prob)

    def __call__(self, hidden_states: jax.Array, input_tensor: jax.Array, train: bool = False) -> jax.Array:
        hidden_states = self.dropout(self.dense(hidden_states), deterministic=not train)
        return self.LayerNorm(hidden_states + input_tensor).astype(self.dtype)


class ElectraAttention(nn.Module):
    config: ElectraConfig
    relative: bool = False
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.self = ElectraSelfAttention(self.config, self.relative, self.dtype, self.param_dtype)
        self.output = ElectraSelfOutput(self.config, self.dtype, self.param_dtype)

    def __call__(self, hidden_states, attention_bias, layer_head_mask=None, key_value_states=None,
                 past_key_value=None, cache_index=None, train=False, output_attentions=False):
        """Self (or cross) attention then `output` (dense, dropout, LayerNorm(x + residual)).
        Returns (B, L, H), probabilities or None, cached (k, v)."""
        context, probs, present = self.self(
            hidden_states, attention_bias, layer_head_mask, key_value_states, past_key_value,
            cache_index, train, output_attentions,
        )
        return self.output(context, hidden_states, train), probs, present
