"""The transformer stack: `ElectraIntermediate`, `ElectraOutput`, `ElectraLayer`, `ElectraEncoder`.

Matches HF `FlaxElectraLayer` / `FlaxElectraEncoder` (parameter tree `encoder/layer/{i}/...`)
and the post-LayerNorm BERT layer of docs/reference.md section 2. With `gradient_checkpointing`
each layer is wrapped in `nn.remat` (activations recomputed in the backward pass; same
gradients, less memory).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from electra.common.config import ElectraConfig
from electra.flax.activations import get_activation
from electra.flax.attention import ElectraAttention, ElectraSelfOutput, dense


class ElectraIntermediate(nn.Module):
    """Feed-forward expansion H -> I with `config.hidden_act`."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self.config.intermediate_size, self.config, self.dtype, self.param_dtype)
        self.activation = get_activation(self.config.hidden_act)

    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        return self.activation(self.dense(hidden_states))  # (B, L, I)


class ElectraOutput(ElectraSelfOutput):
    """The feed-forward output block, `output.dense` (I -> H) + dropout + LayerNorm(x + residual):
    the attention's `ElectraSelfOutput` (Flax infers the input width), under HF's name."""


class ElectraLayer(nn.Module):
    """Self-attention, optional cross-attention, feed-forward."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        config = self.config
        relative = config.position_embedding_type != "absolute"
        self.attention = ElectraAttention(config, relative, self.dtype, self.param_dtype)
        if config.add_cross_attention:
            # HF builds cross-attention with absolute positions whatever the config says.
            self.crossattention = ElectraAttention(config, False, self.dtype, self.param_dtype)
        self.intermediate = ElectraIntermediate(config, self.dtype, self.param_dtype)
        self.output = ElectraOutput(config, self.dtype, self.param_dtype)

    def __call__(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                 encoder_attention_mask=None, past_key_value=None, output_attentions=False, cache_index=None, train=False):
        """One post-LayerNorm layer. `past_key_value` is (k, v) or (k, v, cross k, cross v).
        Returns (hidden_states (B, L, H), self probabilities, cross probabilities, cache entry)."""
        self_past = None if past_key_value is None else past_key_value[:2]
        hidden_states, self_probs, present = self.attention(
            hidden_states, attention_mask, head_mask, None, self_past, output_attentions, cache_index, train
        )
        cross_probs = None
        if self.config.add_cross_attention and encoder_hidden_states is not None:
            cross_past = None if past_key_value is None or len(past_key_value) < 4 else past_key_value[2:]
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, encoder_attention_mask, head_mask, encoder_hidden_states, cross_past, output_attentions, None, train
            )
            present = present + cross_present
        hidden_states = self.output(self.intermediate(hidden_states), hidden_states, train)
        return hidden_states, self_probs, cross_probs, present


class ElectraLayerCollection(nn.Module):
    """The layers, named "0", "1", ... under `encoder/layer` as in HF's parameter tree."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    gradient_checkpointing: bool = False

    @nn.compact
    def __call__(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                 encoder_attention_mask=None, past_key_values=None, use_cache=False, output_attentions=False,
                 output_hidden_states=False, cache_index=None, train=False):
        """Args: `attention_mask` additive (B, 1, L, L_kv), `head_mask` (num_layers, N) or None.
        Returns (last hidden state, cache, hidden states, self-attention probabilities,
        cross-attention probabilities); the last four are None unless asked for."""
        # Arguments 7 and 9 (output_attentions, train; `self` is 0) select code paths: static.
        layer_class = nn.remat(ElectraLayer, static_argnums=(7, 9)) if self.gradient_checkpointing else ElectraLayer
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_self = () if output_attentions else None
        all_cross = () if output_attentions and encoder_hidden_states is not None else None
        cache = () if use_cache else None
        for i in range(self.config.num_hidden_layers):
            layer = layer_class(self.config, self.dtype, self.param_dtype, name=str(i))
            hidden_states, self_probs, cross_probs, present = layer(
                hidden_states,
                attention_mask,
                None if head_mask is None else head_mask[i],
                encoder_hidden_states,
                encoder_attention_mask,
                None if past_key_values is None else past_key_values[i],
                output_attentions,
                cache_index,
                train,
            )
            if output_hidden_states:
                all_hidden = all_hidden + (hidden_states,)
            if output_attentions:
                all_self = all_self + (self_probs,)
                if all_cross is not None:
                    all_cross = all_cross + (cross_probs,)
            if use_cache:
                cache = cache + (present,)
        return hidden_states, cache, all_hidden, all_self, all_cross


class ElectraEncoder(nn.Module):
    """`num_hidden_layers` `ElectraLayer`s (under `layer`, HF's parameter tree); optional
    gradient checkpointing per layer."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.layer = ElectraLayerCollection(self.config, self.dtype, self.param_dtype, self.gradient_checkpointing)

    def __call__(self, *args, **kwargs):
        """See `ElectraLayerCollection`: returns (last hidden state, cache, hidden states,
        attentions, cross-attentions)."""
        return self.layer(*args, **kwargs)
