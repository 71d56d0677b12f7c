"""`ElectraModel`: embeddings -> optional `embeddings_project` -> encoder (no pooler).

Matches HF `ElectraModel` (docs/reference.md sections 2 and 4). The public `call` checks its
inputs before computing anything. Shape checks use the static shapes and raise
`ValueError` naming the argument, eagerly and while `tf.function` traces. Value-range
checks (token ids, token types, positions) read the data: in eager mode they raise
`ValueError`; inside `tf.function` they are `tf.debugging` asserts with the same message
(`InvalidArgumentError` at run time).

XLA compiles asserts to nothing and clamps out-of-range gathers, and it has no way to
raise at run time. So in graph mode the model also poisons its output: any out-of-range
id makes every output NaN (`out_of_range_nan`), which under `jit_compile=True` is the
signal instead of an error. To get the error itself, check the ids before the compiled
step with `validate_inputs` (for instance mapped over a `tf.data` pipeline).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from electra.common import validation
from electra.common.config import ElectraConfig
from electra.common.outputs import ElectraModelOutput
from electra.tf.attention import dense
from electra.tf.embeddings import ElectraEmbeddings
from electra.tf.encoder import ElectraEncoder
from electra.tf.pretrained import ElectraPreTrainedModel

RANGE_CHECKS = (
    # (argument, config field bounding it)
    ("input_ids", "vocab_size"),
    ("token_type_ids", "type_vocab_size"),
    ("position_ids", "max_position_embeddings"),
)


def _shape(t) -> tuple | None:
    return None if t is None else tuple(t.shape)


def validate_inputs(config: ElectraConfig, features: dict) -> dict:
    """Range checks of `input_ids`, `token_type_ids`, `position_ids` in `features`.

    Works eagerly (`ValueError`) and in graph mode (`tf.data.Dataset.map`, `tf.function`:
    `InvalidArgumentError` with the same message). Returns `features` unchanged, so it
    can be mapped over a dataset before a `jit_compile=True` step, where XLA would
    otherwise clamp out-of-range ids without an error.
    """
    for name, limit_name in RANGE_CHECKS:
        x = features.get(name)
        if x is None:
            continue
        limit = getattr(config, limit_name)
        x = tf.convert_to_tensor(x)
        if tf.executing_eagerly():
            if tf.size(x) > 0:
                validation.check_range(name, int(tf.reduce_min(x)), int(tf.reduce_max(x)), limit, limit_name)
            continue
        message = f"{name} must lie in [0, {limit_name}={limit})"
        checks = [
            tf.debugging.assert_non_negative(x, message=message),
            tf.debugging.assert_less(x, tf.cast(limit, x.dtype), message=message),
        ]
        with tf.control_dependencies(checks):
            features = {**features, name: tf.identity(x)}
    return features


def out_of_range_nan(config: ElectraConfig, input_ids, token_type_ids, position_ids) -> tf.Tensor | None:
    """Scalar float32: NaN if any id lies outside its table, else 0; None in eager mode
    (where `validate_inputs` has raised already). Added to the embeddings, it turns the
    silent clamping of XLA's gather into NaN outputs."""
    if tf.executing_eagerly():
        return None
    bad = tf.constant(False)
    for (name, limit_name), x in zip(RANGE_CHECKS, (input_ids, token_type_ids, position_ids)):
        if x is not None:
            x = tf.convert_to_tensor(x)
            limit = tf.cast(getattr(config, limit_name), x.dtype)
            bad = tf.logical_or(bad, tf.reduce_any(tf.logical_or(x < 0, x >= limit)))
    return tf.where(bad, tf.constant(float("nan")), tf.constant(0.0))


def check_forward_inputs(config: ElectraConfig, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, head_mask, past_length=0) -> dict:
    """Shape checks (`ValueError`) and range checks (see `validate_inputs`); returns the
    id tensors, which in graph mode carry the range asserts as control dependencies."""
    validation.check_inputs(
        config,
        input_ids=_shape(input_ids),
        inputs_embeds=_shape(inputs_embeds),
        attention_mask=_shape(attention_mask),
        token_type_ids=_shape(token_type_ids),
        position_ids=_shape(position_ids),
        past_length=past_length if isinstance(past_length, int) else 0,
    )
    validation.check_head_mask(config, _shape(head_mask))
    return validate_inputs(config, {"input_ids": input_ids, "token_type_ids": token_type_ids, "position_ids": position_ids})


def additive_mask(mask: tf.Tensor) -> tf.Tensor:
    """1 = attend, 0 = masked -> 0 / float32 min, same shape (finite, so a fully masked row
    gives a uniform softmax rather than NaN). Scores are added in float32 (see attention.py)."""
    return (1.0 - tf.cast(mask, tf.float32)) * tf.float32.min


def self_attention_mask(attention_mask, L, past_length, causal: bool) -> tf.Tensor | None:
    """Additive mask (B or 1, 1, L or 1, past_length + L), or None when nothing is masked.

    Decoders combine the padding mask with a causal mask: query i (absolute position
    past_length + i) sees keys 0..past_length + i.
    """
    if not causal:
        if attention_mask is None:
            return None
        return additive_mask(attention_mask[:, None, None, :])  # (B, 1, 1, L_kv)
    keys = tf.range(past_length + L)
    queries = tf.range(past_length, past_length + L)
    allowed = (keys[None, :] <= queries[:, None])[None, None]  # (1, 1, L, L_kv)
    if attention_mask is not None:
        allowed = tf.logical_and(allowed, tf.cast(attention_mask[:, None, None, :], tf.bool))  # (B, 1, L, L_kv)
    return additive_mask(allowed)


@keras.saving.register_keras_serializable(package="electra")
class ElectraModel(ElectraPreTrainedModel):
    """The bare ELECTRA network: returns hidden states, no head."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.embeddings = ElectraEmbeddings(config, name="embeddings")
        if config.has_embeddings_project:
            self.embeddings_project = dense(config.hidden_size, config, "embeddings_project")
        self.encoder = ElectraEncoder(config, name="encoder")

    def build(self, input_shape=None):
        if not self.embeddings.built:  # already built when shared (electra.tf.trainer)
            self.embeddings.build()
        if hasattr(self, "embeddings_project"):
            self.embeddings_project.build((None, None, self.config.embedding_size))
        self.encoder.build()
        self.built = True

    def call(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        past_key_values=None,
        use_cache=None,
        output_attentions=False,
        output_hidden_states=False,
        check_inputs=True,
        training=False,
    ) -> ElectraModelOutput:
        """Args:
            input_ids: (B, L) token ids, or `inputs_embeds` (B, L, E) instead.
            attention_mask: (B, L_past + L), 1 = attend, 0 = padding.
            token_type_ids, position_ids: (B, L); default zeros and L_past + arange(L).
            head_mask: (N,) or (num_layers, N), multiplies the attention probabilities.
            encoder_hidden_states: (B, L_enc, H), cross-attention input (decoders).
            encoder_attention_mask: (B, L_enc).
            past_key_values: cache from a previous call (format in `attention.py`).
            use_cache: return the cache; default `config.use_cache` for decoders, else False.
            check_inputs: False when a head class has already checked them.
        Returns:
            `ElectraModelOutput`: `last_hidden_state` (B, L, H) and what was asked for.
        """
        config = self.config
        past_length = 0
        if past_key_values is not None:
            past_length = past_key_values[0][0].shape[2]
            if past_length is None:
                past_length = tf.shape(past_key_values[0][0])[2]
        if check_inputs:
            ids = check_forward_inputs(config, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, head_mask, past_length)
            input_ids, token_type_ids, position_ids = ids["input_ids"], ids["token_type_ids"], ids["position_ids"]
            if encoder_hidden_states is not None:
                B = _shape(input_ids if input_ids is not None else inputs_embeds)[0]
                validation.check_labels("encoder_hidden_states", _shape(encoder_hidden_states), (B, None, config.hidden_size))
                if encoder_attention_mask is not None:
                    validation.check_labels("encoder_attention_mask", _shape(encoder_attention_mask), _shape(encoder_hidden_states)[:2])
        if use_cache is None:
            use_cache = config.use_cache and config.is_decoder
        if past_key_values is not None and not config.is_decoder:
            raise ValueError("past_key_values needs a decoder (config.is_decoder=True)")

        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, past_length=past_length, training=training)
        poison = out_of_range_nan(config, input_ids, token_type_ids, position_ids)
        if poison is not None:
            hidden_states = hidden_states + tf.cast(poison, hidden_states.dtype)  # (B, L, E), NaN on bad ids
        if hasattr(self, "embeddings_project"):
            hidden_states = self.embeddings_project(hidden_states)  # (B, L, H)
        L = tf.shape(hidden_states)[1]
        mask = self_attention_mask(attention_mask, L, past_length, config.is_decoder)
        encoder_mask = None
        if encoder_hidden_states is not None and encoder_attention_mask is not None:
            encoder_mask = additive_mask(encoder_attention_mask[:, None, None, :])  # (B, 1, 1, L_enc)
        if head_mask is not None:
            head_mask = tf.broadcast_to(tf.cast(head_mask, hidden_states.dtype), (config.num_hidden_layers, config.num_attention_heads))

        last, cache, hidden, attentions, cross = self.encoder(
            hidden_states, mask, head_mask, encoder_hidden_states, encoder_mask, past_key_values,
            use_cache=use_cache, output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training,
        )
        return ElectraModelOutput(
            last_hidden_state=last, past_key_values=cache, hidden_states=hidden, attentions=attentions, cross_attentions=cross
        )
