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

    def __call__(self, hidden_states, attention_bias, layer_head_mask=None, encoder_hidden_states=None,
                 encoder_bias=None, past_key_value=None, cache_index=None, train=False, output_attentions=False):
        """One post-LayerNorm layer. `past_key_value` is (k, v) or (k, v, cross k, cross v).
        Returns (B, L, H), self-attention probabilities, cross-attention probabilities and the cache tuple."""
        self_past = None if past_key_value is None else past_key_value[:2]
        hidden_states, self_probs, present = self.attention(
            hidden_states, attention_bias, layer_head_mask, None, self_past, cache_index, train, output_attentions,
        )
        cross_probs = None
        if self.config.add_cross_attention and encoder_hidden_states is not None:
            cross_past = None if past_key_value is None or len(past_key_value) < 4 else past_key_value[2:]
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, encoder_bias, layer_head_mask, encoder_hidden_states, cross_past,
                None, train, output_attentions,
            )
            present = present + cross_present
        intermediate = self.intermediate(hidden_states)
        return self.output(intermediate, hidden_states, train), self_probs, cross_probs, present


class ElectraLayerCollection(nn.Module):
    """The layers, named "0", "1", ... under `encoder/layer` as in HF's parameter tree."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    gradient_checkpointing: bool = False

    @nn.compact
    def __call__(self, hidden_states, attention_bias, head_mask=None, encoder_hidden_states=None,
                 encoder_bias=None, past_key_values=None, cache_index=None, train=False,
                 output_attentions=False, output_hidden_states=False):
        # Arguments 8 and 9 (train, output_attentions; `self` is 0) select code paths: static.
        layer_class = nn.remat(ElectraLayer, static_argnums=(8, 9)) if self.gradient_checkpointing else ElectraLayer
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        all_cross = () if output_attentions and encoder_hidden_states is not None else None
        presents = ()
        for i in range(self.config.num_hidden_layers):
            layer = layer_class(self.config, self.dtype, self.param_dtype, name=str(i))
            hidden_states, probs, cross_probs, present = layer(
                hidden_states, attention_bias, None if head_mask is None else head_mask[i],
                encoder_hidden_states, encoder_bias, None if past_key_values is None else past_key_values[i],
                cache_index, train, output_attentions,
            )
            presents = presents + (present,)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden_states,)
            if output_attentions:
                all_attentions = all_attentions + (probs,)
                if all_cross is not None:
                    all_cross = all_cross + (cross_probs,)
        return hidden_states, presents, all_hidden, all_attentions, all_cross


class ElectraEncoder(nn.Module):
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
