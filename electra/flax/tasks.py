"""The seven task models `ElectraFor*`: a linen module (`ElectraFor*Module`, parameter tree
equal to HF's `FlaxElectraFor*Module`) and the user-facing model object (`ElectraFor*`,
config + module + params, see `pretrained.py`). Heads as docs/reference.md section 3; losses from
`losses.py` whenever labels are given (HF's Flax heads compute none).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from electra.common.config import ElectraConfig
from electra.common.outputs import (
    CausalLMOutput,
    ElectraForPreTrainingOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from electra.flax import losses
from electra.flax.attention import dense
from electra.flax.heads import (
    ElectraClassificationHead,
    ElectraDiscriminatorPredictions,
    ElectraGeneratorPredictions,
    ElectraSequenceSummary,
    ElectraTiedLMHead,
)
from electra.flax.model import ElectraModelModule
from electra.flax.pretrained import ElectraPreTrainedModel
from electra.flax.prng import Dropout


class _ElectraTaskModule(nn.Module):
    """A backbone under `electra` (HF's attribute name, the canonical `electra.` key prefix) and a head.

    Inputs and labels are checked by the model object (`ElectraPreTrainedModel._validate`),
    not here as in pt and tf: a module's call is traced under jit, where values are unknown."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32
    gradient_checkpointing: bool = False

    def backbone(self) -> ElectraModelModule:
        return ElectraModelModule(self.config, self.dtype, self.param_dtype, self.gradient_checkpointing)


# ----------------------------------------------------------------------------- pretraining
class ElectraForPreTrainingModule(_ElectraTaskModule):
    def setup(self) -> None:
        self.electra = self.backbone()
        self.discriminator_predictions = ElectraDiscriminatorPredictions(self.config, self.dtype, self.param_dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, labels=None, train=False, output_attentions=False, output_hidden_states=False):
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                           train=train, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.discriminator_predictions(out.last_hidden_state)  # (B, L)
        loss = None if labels is None else losses.replaced_token_detection_loss(logits, labels, attention_mask)
        return ElectraForPreTrainingOutput(loss, logits, out.hidden_states, out.attentions)


# ----------------------------------------------------------------------------- language models
class _ElectraLMModule(_ElectraTaskModule):
    """Generator head and `generator_lm_head` (E -> V), tied to the word embeddings unless
    `tie_word_embeddings` is False (HF's Flax layout: then a kernel of its own)."""

    def setup(self) -> None:
        self.electra = self.backbone()
        self.generator_predictions = ElectraGeneratorPredictions(self.config, self.dtype, self.param_dtype)
        if self.config.tie_word_embeddings:
            self.generator_lm_head = ElectraTiedLMHead(self.config.vocab_size, self.dtype, self.param_dtype)
        else:
            self.generator_lm_head = dense(self.config.vocab_size, self.config, self.dtype, self.param_dtype)

    def lm_logits(self, hidden_states: jax.Array) -> jax.Array:
        """(..., H) hidden states -> (..., V) vocabulary logits (the pretrainer's generator calls it too)."""
        hidden_states = self.generator_predictions(hidden_states)  # (B, L, E)
        if self.config.tie_word_embeddings:
            table = self.electra.variables["params"]["embeddings"]["word_embeddings"]["embedding"]  # (V, E)
            return self.generator_lm_head(hidden_states, table)  # (B, L, V)
        return self.generator_lm_head(hidden_states)


class ElectraForMaskedLMModule(_ElectraLMModule):
    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, labels=None, train=False, output_attentions=False, output_hidden_states=False):
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                           train=train, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.lm_logits(out.last_hidden_state)
        loss = None if labels is None else losses.masked_lm_loss(logits, labels)
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraForCausalLMModule(_ElectraLMModule):
    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, labels=None, train=False, output_attentions=False, output_hidden_states=False,
                 encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None, use_cache=None,
                 cache_index=None):
        if use_cache is None:
            use_cache = self.config.use_cache and labels is None
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                           encoder_hidden_states, encoder_attention_mask, past_key_values, use_cache, output_attentions,
                           output_hidden_states, cache_index, train)
        logits = self.lm_logits(out.last_hidden_state)
        loss = None if labels is None else losses.causal_lm_loss(logits, labels)
        return CausalLMOutput(loss, logits, out.past_key_values, out.hidden_states, out.attentions, out.cross_attentions)


# ----------------------------------------------------------------------------- classification
class ElectraForSequenceClassificationModule(_ElectraTaskModule):
    def setup(self) -> None:
        self.electra = self.backbone()
        self.classifier = ElectraClassificationHead(self.config, self.dtype, self.param_dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, labels=None, train=False, output_attentions=False, output_hidden_states=False):
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                           train=train, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(out.last_hidden_state, train)  # (B, num_labels)
        loss = None if labels is None else losses.sequence_classification_loss(logits, labels, self.config.problem_type)
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraForMultipleChoiceModule(_ElectraTaskModule):
    def setup(self) -> None:
        self.electra = self.backbone()
        self.sequence_summary = ElectraSequenceSummary(self.config, self.dtype, self.param_dtype)
        self.classifier = dense(1, self.config, self.dtype, self.param_dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, labels=None, train=False, output_attentions=False, output_hidden_states=False):
        """Inputs (B, C, L) (`inputs_embeds` (B, C, L, E)); logits (B, C)."""
        source = input_ids if input_ids is not None else inputs_embeds
        B, C = source.shape[:2]
        flat = lambda x: None if x is None else x.reshape((B * C,) + x.shape[2:])  # noqa: E731
        out = self.electra(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), head_mask,
                           flat(inputs_embeds), train=train, output_attentions=output_attentions,
                           output_hidden_states=output_hidden_states)
        pooled = self.sequence_summary(out.last_hidden_state, train=train)  # (B*C, H)
        logits = self.classifier(pooled).reshape(B, C)
        loss = None if labels is None else losses.multiple_choice_loss(logits, labels)
        return MultipleChoiceModelOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraForTokenClassificationModule(_ElectraTaskModule):
    def setup(self) -> None:
        self.electra = self.backbone()
        self.dropout = Dropout(self.config.classifier_dropout_prob)
        self.classifier = dense(self.config.num_labels, self.config, self.dtype, self.param_dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, labels=None, train=False, output_attentions=False, output_hidden_states=False):
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                           train=train, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state, deterministic=not train))  # (B, L, num_labels)
        loss = None if labels is None else losses.token_classification_loss(logits, labels)
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class ElectraForQuestionAnsweringModule(_ElectraTaskModule):
    def setup(self) -> None:
        self.electra = self.backbone()
        self.qa_outputs = dense(2, self.config, self.dtype, self.param_dtype)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, start_positions=None, end_positions=None, train=False, output_attentions=False,
                 output_hidden_states=False):
        out = self.electra(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                           train=train, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.qa_outputs(out.last_hidden_state)  # (B, L, 2)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = losses.question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions)


# ----------------------------------------------------------------------------- model objects
class ElectraForPreTraining(ElectraPreTrainedModel):
    module_class = ElectraForPreTrainingModule


class ElectraForMaskedLM(ElectraPreTrainedModel):
    module_class = ElectraForMaskedLMModule


class ElectraForCausalLM(ElectraPreTrainedModel):
    """Decoder (`config.is_decoder` required). `generate` is in `generation.py`."""

    module_class = ElectraForCausalLMModule

    def __init__(self, config: ElectraConfig, *args, **kwargs):
        if not config.is_decoder:
            raise ValueError("ElectraForCausalLM needs config.is_decoder=True")
        super().__init__(config, *args, **kwargs)

    def generate(self, input_ids, **kwargs):
        """See `electra.flax.generation.generate`."""
        from electra.flax.generation import generate

        return generate(self, input_ids, **kwargs)


class ElectraForSequenceClassification(ElectraPreTrainedModel):
    module_class = ElectraForSequenceClassificationModule


class ElectraForMultipleChoice(ElectraPreTrainedModel):
    module_class = ElectraForMultipleChoiceModule
    choices_axis = True


class ElectraForTokenClassification(ElectraPreTrainedModel):
    module_class = ElectraForTokenClassificationModule


class ElectraForQuestionAnswering(ElectraPreTrainedModel):
    module_class = ElectraForQuestionAnsweringModule
    label_names = ("start_positions", "end_positions")

    def _validate(self, inputs, label_names):
        """Both positions or neither; (B, 1) positions are read as (B,), as HF does."""
        start, end = inputs.get("start_positions"), inputs.get("end_positions")
        if (start is None) != (end is None):
            raise ValueError("pass both start_positions and end_positions, or neither")
        for name in label_names:
            value = inputs.get(name)
            if value is not None and jnp.ndim(value) == 2 and jnp.shape(value)[1] == 1:
                inputs[name] = jnp.reshape(value, (-1,))
        super()._validate(inputs, label_names)
