"""The transformer stack: `ElectraIntermediate`, `ElectraOutput`, `ElectraLayer`, `ElectraEncoder`.

Post-LayerNorm BERT layers as in HF `ElectraLayer` / `ElectraEncoder` (docs/reference.md section 2):
self-attention, optional cross-attention (decoders with `add_cross_attention`), then the
feed-forward block. Masks arrive already additive and broadcastable (built once per
forward in `model.py`); the cache format is described in `attention.py`.
"""

from __future__ import annotations

import keras

from electra.common.config import ElectraConfig
from electra.tf.activations import get_activation
from electra.tf.attention import ElectraAttention, dense
from electra.tf.dropout import Dropout


class ElectraIntermediate(keras.layers.Layer):
    """Feed-forward expansion H -> I with `config.hidden_act`."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = config.hidden_size
        self.dense = dense(config.intermediate_size, config, "dense")
        self.activation = get_activation(config.hidden_act)

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden_states):
        return self.activation(self.dense(hidden_states))  # (B, L, I)


class ElectraOutput(keras.layers.Layer):
    """Feed-forward contraction I -> H, dropout, residual and LayerNorm."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.intermediate_size = config.intermediate_size
        self.dense = dense(config.hidden_size, config, "dense")
        self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")  # HF name, kept for checkpoints
        self.dropout = Dropout(config.hidden_dropout_prob)

    def build(self, input_shape=None):
        self.dense.build((None, None, self.intermediate_size))
        self.LayerNorm.build((None, None, self.dense.units))
        self.built = True

    def call(self, hidden_states, residual, training=False):
        return self.LayerNorm(self.dropout(self.dense(hidden_states), training=training) + residual)  # (B, L, H)


class ElectraLayer(keras.layers.Layer):
    """Self-attention, optional cross-attention, feed-forward."""

    output = None  # shadows keras' functional-API `Layer.output` property: the HF sub-layer name wins

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.attention = ElectraAttention(config, relative=config.position_embedding_type != "absolute", name="attention")
        if config.add_cross_attention:
            # HF builds cross-attention with absolute positions whatever the config says.
            self.crossattention = ElectraAttention(config, relative=False, name="crossattention")
        self.intermediate = ElectraIntermediate(config, name="intermediate")
        self.output = ElectraOutput(config, name="output")

    @property
    def output_block(self) -> ElectraOutput:
        """`output` again, for Keras' file saving (see `ElectraAttention.output_block`)."""
        return self.output

    def build(self, input_shape=None):
        self.attention.build()
        if hasattr(self, "crossattention"):
            self.crossattention.build()
        self.intermediate.build()
        self.output.build()
        self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
             past_key_value=None, output_attentions=False, training=False):
        """Returns (hidden_states (B, L, H), self probabilities, cross probabilities, cache entry)."""
        self_past = tuple(past_key_value[:2]) if past_key_value is not None else None
        hidden_states, self_probs, present = self.attention(
            hidden_states, attention_mask, head_mask, None, self_past, output_attentions=output_attentions, training=training
        )
        cross_probs = None
        if encoder_hidden_states is not None:
            if not hasattr(self, "crossattention"):
                raise ValueError("encoder_hidden_states needs a model built with config.add_cross_attention=True")
            cross_past = tuple(past_key_value[2:]) if past_key_value is not None and len(past_key_value) == 4 else None
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, encoder_attention_mask, head_mask, encoder_hidden_states, cross_past, output_attentions=output_attentions, training=training
            )
            present = present + cross_present
        hidden_states = self.output(self.intermediate(hidden_states), hidden_states, training=training)
        return hidden_states, self_probs, cross_probs, present


class ElectraEncoder(keras.layers.Layer):
    """`num_hidden_layers` `ElectraLayer`s."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.layer = [ElectraLayer(config, name=f"layer_{i}") for i in range(config.num_hidden_layers)]
        for i, layer in enumerate(self.layer):
            # TensorFlow's tracking (`tf.train.Checkpoint`, `tf.saved_model`) does not see
            # into the list Keras keeps `layer` in: name each entry to it.
            self._track_trackable(layer, name=f"layer_{i}")

    def build(self, input_shape=None):
        for layer in self.layer:
            layer.build()
        self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
             past_key_values=None, use_cache=False, output_attentions=False, output_hidden_states=False, training=False):
        """Args: `head_mask` (num_layers, N) or None. Returns (last hidden state, cache,
        hidden states, self-attention probabilities, cross-attention probabilities);
        the last four are None unless asked for."""
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_self = () if output_attentions else None
        all_cross = () if output_attentions and encoder_hidden_states is not None else None
        cache = () if use_cache else None
        for i, layer in enumerate(self.layer):
            hidden_states, self_probs, cross_probs, present = layer(
                hidden_states,
                attention_mask,
                None if head_mask is None else head_mask[i],
                encoder_hidden_states,
                encoder_attention_mask,
                None if past_key_values is None else past_key_values[i],
                output_attentions=output_attentions,
                training=training,
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
