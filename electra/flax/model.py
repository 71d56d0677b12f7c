"""`ElectraModelModule`: embeddings -> optional `embeddings_project` -> encoder.

Matches HF `FlaxElectraModule` (parameter tree: `embeddings`, `embeddings_project`,
`encoder`) and the bare PyTorch `ElectraModel` (docs/reference.md section 2): no pooler,
decoder mode with a causal mask and a key/value cache, optional cross-attention.
`ElectraModel` is the user-facing object (config, module, params; see `pretrained.py`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from electra.common.config import ElectraConfig
from electra.common.outputs import ElectraModelOutput
from electra.flax.attention import dense
from electra.flax.embeddings import ElectraEmbeddings
from electra.flax.encoder import ElectraEncoder
from electra.flax.pretrained import ElectraPreTrainedModel


def attention_bias(attention_mask: jax.Array, query_length: int, past_length: int | jax.Array, causal: bool) -> jax.Array:
    """Additive float32 bias (B, 1, L, K): 0 where a query may attend a key, the float32
    minimum elsewhere (one minimum, never two, so fully masked rows stay finite).

    Args:
        attention_mask: (B, K), 1 = attend, 0 = masked (K = past_length + L, or the fixed cache size).
        query_length: L.
        past_length: absolute position of the first query (static or traced).
        causal: also hide keys after each query's position.
    """
    allowed = attention_mask[:, None, None, :].astype(bool)  # (B, 1, 1, K)
    if causal:
        key_positions = jnp.arange(attention_mask.shape[1])[None, :]  # (1, K)
        query_positions = past_length + jnp.arange(query_length)[:, None]  # (L, 1)
        allowed = allowed & (key_positions <= query_positions)[None, None]  # (B, 1, L, K)
    allowed = jnp.broadcast_to(allowed, (attention_mask.shape[0], 1, query_length, attention_mask.shape[1]))
    return jnp.where(allowed, 0.0, jnp.finfo(jnp.float32).min).astype(jnp.float32)


def expand_head_mask(head_mask: jax.Array | None, num_layers: int) -> jax.Array | None:
    """(N,) or (layers, N) -> (layers, N)."""
    if head_mask is None or head_mask.ndim == 2:
        return head_mask
    return jnp.broadcast_to(head_mask[None, :], (num_layers, head_mask.shape[0]))


class ElectraModelModule(nn.Module):
    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        config = self.config
        self.embeddings = ElectraEmbeddings(config, self.dtype, self.param_dtype)
        if config.has_embeddings_project:
            self.embeddings_project = dense(config.hidden_size, config, self.dtype, self.param_dtype)
        self.encoder = ElectraEncoder(config, self.dtype, self.param_dtype, self.gradient_checkpointing)

    def __call__(
        self,
        input_ids: jax.Array | None = None,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        head_mask: jax.Array | None = None,
        inputs_embeds: jax.Array | None = None,
        encoder_hidden_states: jax.Array | None = None,
        encoder_attention_mask: jax.Array | None = None,
        past_key_values: tuple | None = None,
        use_cache: bool | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        cache_index: int | jax.Array | None = None,
        train: bool = False,
    ) -> ElectraModelOutput:
        """Args: `input_ids` (B, L) or `inputs_embeds` (B, L, E); `attention_mask` (B, K) with
        K = L_past + L (or the fixed cache size); `token_type_ids`, `position_ids` (B, L);
        `head_mask` (N,) or (layers, N); `encoder_hidden_states` (B, S, H) and
        `encoder_attention_mask` (B, S) for cross-attention; `past_key_values` one tuple per
        layer; `cache_index` selects the fixed-size cache (see `attention.py`).
        Returns `ElectraModelOutput`."""
        config = self.config
        B, L = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        if past_key_values is None:
            past_length, key_length = 0, L
        elif cache_index is None:
            past_length = past_key_values[0][0].shape[2]
            key_length = past_length + L
        else:
            past_length, key_length = cache_index, past_key_values[0][0].shape[2]
        if attention_mask is None:
            attention_mask = jnp.ones((B, key_length), jnp.int32)
        bias = attention_bias(attention_mask, L, past_length, causal=config.is_decoder)
        encoder_bias = None
        if encoder_hidden_states is not None:
            if encoder_attention_mask is None:
                encoder_attention_mask = jnp.ones(encoder_hidden_states.shape[:2], jnp.int32)
            encoder_bias = attention_bias(encoder_attention_mask, L, 0, causal=False)

        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, past_length, train)
        if config.has_embeddings_project:
            hidden_states = self.embeddings_project(hidden_states)  # (B, L, H)
        if use_cache is None:
            use_cache = config.use_cache
        hidden_states, cache, all_hidden, all_attentions, all_cross = self.encoder(
            hidden_states, bias, expand_head_mask(head_mask, config.num_hidden_layers),
            encoder_hidden_states, encoder_bias, past_key_values, config.is_decoder and use_cache,
            output_attentions, output_hidden_states, cache_index, train,
        )
        return ElectraModelOutput(
            last_hidden_state=hidden_states,
            past_key_values=cache,
            hidden_states=all_hidden,
            attentions=all_attentions,
            cross_attentions=all_cross,
        )


class ElectraModel(ElectraPreTrainedModel):
    """The bare backbone: config + `ElectraModelModule` + params (HF `FlaxElectraModel` layout)."""

    module_class = ElectraModelModule
