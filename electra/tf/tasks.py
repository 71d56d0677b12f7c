"""The seven task models `ElectraFor*` (docs/reference.md section 3): a backbone `electra` plus a head.

Each `call` checks its inputs and labels before computing anything, runs the backbone,
applies its head, and computes its loss (from `losses.py`) when labels are given.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from electra.common import validation
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
from electra.tf import losses
from electra.tf.attention import dense
from electra.tf.dropout import Dropout
from electra.tf.heads import (
    ElectraClassificationHead,
    ElectraDiscriminatorPredictions,
    ElectraGeneratorPredictions,
    ElectraLMHead,
    ElectraSequenceSummary,
)
from electra.tf.model import ElectraModel, check_forward_inputs
from electra.tf.pretrained import ElectraPreTrainedModel


def _shape(t) -> tuple | None:
    return None if t is None else tuple(t.shape)


def check_label_values(rule: validation.LabelRange, name: str, labels: tf.Tensor, attention_mask=None) -> tf.Tensor:
    """Raise unless every value of `labels` obeys `rule` (`validation.label_range`).

    Eagerly a `ValueError` naming the first value outside the range; inside `tf.function`
    an assert with the same text (`InvalidArgumentError` at run time), which the returned
    labels carry as a control dependency, so the loss never reads unchecked labels. As for
    the input ids, XLA compiles the assert to nothing (see `model.py`).
    """
    outside = tf.boolean_mask(labels, rule.outside(labels, attention_mask))  # (number of bad values,)
    if tf.executing_eagerly():
        if tf.size(outside) > 0:
            raise ValueError(rule.message(name, outside[0].numpy().item()))
        return labels
    check = tf.debugging.Assert(tf.size(outside) == 0, [rule.message(name, ""), outside[:1]])
    with tf.control_dependencies([check]):
        return tf.identity(labels)


class _ElectraTaskModel(ElectraPreTrainedModel):
    """A backbone under `electra` (the canonical `electra.` key prefix) and a head."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.electra = ElectraModel(config, name="electra")

    def _backbone(self, input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                  labels: dict, output_attentions, output_hidden_states, training, **decoder):
        """Check inputs and labels (before any computation), then run the backbone.
        Returns the backbone's output and `labels` checked (see `check_label_values`)."""
        past = decoder.get("past_key_values")
        past_length = 0 if past is None else past[0][0].shape[2]
        ids = check_forward_inputs(self.config, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, head_mask, past_length)
        B, L = _shape(input_ids if input_ids is not None else inputs_embeds)[:2]
        checked = {}
        for name, value in labels.items():
            if value is not None:
                expected = validation.label_shape(self.architecture, self.config, B, L, value.dtype.is_floating)
                validation.check_labels(name, _shape(value), expected)
                value = self._check_label_values(name, value, attention_mask, length=L)
            checked[name] = value
        out = self.electra(
            ids["input_ids"], attention_mask, ids["token_type_ids"], ids["position_ids"], head_mask, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, check_inputs=False,
            training=training, **decoder,
        )
        return out, checked

    def _check_label_values(self, name, labels, attention_mask, length=None, num_choices=None):
        """`labels` checked against this head's rule (`validation.label_range`); unchanged
        where there is none (regression) or it needs a length or choice count unknown while tracing."""
        rule = validation.label_range(self.architecture, self.config, name, length=length, num_choices=num_choices,
                                      float_labels=labels.dtype.is_floating)
        if rule is None:
            return labels
        mask = attention_mask if rule.attended_only and _shape(attention_mask) == _shape(labels) else None
        return check_label_values(rule, name, labels, mask)


@keras.saving.register_keras_serializable(package="electra")
class ElectraForPreTraining(_ElectraTaskModel):
    """Discriminator: one logit per token, > 0 meaning "this token was replaced"."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config, name="discriminator_predictions")

    def build(self, input_shape=None):
        self.electra.build()
        self.discriminator_predictions.build()
        self.built = True

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False, training=False) -> ElectraForPreTrainingOutput:
        """labels: (B, L) 1 = replaced, 0 = original. Returns logits (B, L)."""
        out, checked = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                                      {"labels": labels}, output_attentions, output_hidden_states, training)
        labels = checked["labels"]
        logits = self.discriminator_predictions(out.last_hidden_state)
        loss = None if labels is None else losses.replaced_token_detection_loss(logits, labels, attention_mask)
        return ElectraForPreTrainingOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class _ElectraLMModel(_ElectraTaskModel):
    """Generator head and `generator_lm_head` (E -> V), its weight tied to the word embeddings."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.generator_predictions = ElectraGeneratorPredictions(config, name="generator_predictions")
        self.generator_lm_head = ElectraLMHead(config, name="generator_lm_head")

    def build(self, input_shape=None):
        self.electra.build()
        self.generator_predictions.build()
        self.generator_lm_head.build()
        self.built = True

    def lm_logits(self, hidden_states):
        """(..., H) hidden states -> (..., V) vocabulary logits (the pretrainer's generator calls it too)."""
        word_embeddings = self.electra.embeddings.word_embeddings.embeddings
        return self.generator_lm_head(self.generator_predictions(hidden_states), word_embeddings)  # (B, L, V)


@keras.saving.register_keras_serializable(package="electra")
class ElectraForMaskedLM(_ElectraLMModel):
    """Generator: vocabulary logits at every position."""

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False, training=False) -> MaskedLMOutput:
        """labels: (B, L) token ids, -100 where no prediction is scored. Returns logits (B, L, V)."""
        out, checked = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                                      {"labels": labels}, output_attentions, output_hidden_states, training)
        labels = checked["labels"]
        logits = self.lm_logits(out.last_hidden_state)
        loss = None if labels is None else losses.masked_lm_loss(logits, labels)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


@keras.saving.register_keras_serializable(package="electra")
class ElectraForCausalLM(_ElectraLMModel):
    """Left-to-right language model (needs `config.is_decoder`); `generate` in generation.py."""

    def __init__(self, config: ElectraConfig, **kwargs):
        if not config.is_decoder:
            raise ValueError("ElectraForCausalLM needs config.is_decoder=True")
        super().__init__(config, **kwargs)

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
             encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None, use_cache=None,
             training=False) -> CausalLMOutput:
        """labels: (B, L), the input ids themselves (shifted inside); -100 ignored.
        Returns logits (B, L, V) and, with `use_cache` (default `config.use_cache`
        without labels), `past_key_values` for the next call."""
        if use_cache is None:
            use_cache = self.config.use_cache and labels is None
        out, checked = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                                      {"labels": labels}, output_attentions, output_hidden_states, training,
                                      encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
                                      past_key_values=past_key_values, use_cache=use_cache)
        labels = checked["labels"]
        logits = self.lm_logits(out.last_hidden_state)
        loss = None if labels is None else losses.causal_lm_loss(logits, labels)
        return CausalLMOutput(loss=loss, logits=logits, past_key_values=out.past_key_values, hidden_states=out.hidden_states,
                              attentions=out.attentions, cross_attentions=out.cross_attentions)

    def generate(self, input_ids, **kwargs) -> tf.Tensor:
        """Greedy or sampled continuation; see `electra.tf.generation.generate`."""
        from electra.tf.generation import generate

        return generate(self, input_ids, **kwargs)


@keras.saving.register_keras_serializable(package="electra")
class ElectraForSequenceClassification(_ElectraTaskModel):
    """Classification or regression from token 0 (`classifier.dense`, `classifier.out_proj`)."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.classifier = ElectraClassificationHead(config, name="classifier")

    def build(self, input_shape=None):
        self.electra.build()
        self.classifier.build()
        self.built = True

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False, training=False) -> SequenceClassifierOutput:
        """labels: (B,) class ids or targets, or (B, num_labels) floats for multi-label.
        Returns logits (B, num_labels)."""
        out, checked = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                                      {"labels": labels}, output_attentions, output_hidden_states, training)
        labels = checked["labels"]
        logits = self.classifier(out.last_hidden_state, training=training)
        loss = None if labels is None else losses.sequence_classification_loss(logits, labels, self.config.problem_type)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


@keras.saving.register_keras_serializable(package="electra")
class ElectraForMultipleChoice(_ElectraTaskModel):
    """One score per choice: inputs (B, C, L) are run as (B*C, L) sequences."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.sequence_summary = ElectraSequenceSummary(config, name="sequence_summary")
        self.classifier = dense(1, config, "classifier")

    def build(self, input_shape=None):
        self.electra.build()
        self.sequence_summary.build()
        self.classifier.build((None, self.config.hidden_size))
        self.built = True

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False,
             cls_index=None, training=False) -> MultipleChoiceModelOutput:
        """Args: input_ids (B, C, L) or inputs_embeds (B, C, L, E); the other inputs (B, C, L);
        labels (B,) the right choice; cls_index (B, C) token read by summary_type "cls_index".
        Returns logits (B, C)."""
        given = input_ids if input_ids is not None else inputs_embeds
        rank = 3 if input_ids is not None else 4
        if given is not None and len(given.shape) != rank:
            name = "input_ids" if input_ids is not None else "inputs_embeds"
            raise ValueError(f"{name} must have shape (batch, choices, length{', embedding_size' if rank == 4 else ''}), got shape {tuple(given.shape)}")
        B, C = (tuple(given.shape[:2])) if given is not None else (None, None)
        L = given.shape[2] if given is not None else None
        flat = {}
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids), ("position_ids", position_ids)):
            if t is not None:
                validation.check_labels(name, _shape(t), (B, C, L))
                t = tf.reshape(t, (-1, tf.shape(t)[-1]))
            flat[name] = t
        if labels is not None:
            validation.check_labels("labels", _shape(labels), (B,))
            labels = self._check_label_values("labels", labels, None, num_choices=C)
        if input_ids is not None:
            input_ids = tf.reshape(input_ids, (-1, tf.shape(input_ids)[-1]))  # (B*C, L)
        if inputs_embeds is not None:
            inputs_embeds = tf.reshape(inputs_embeds, (-1, tf.shape(inputs_embeds)[-2], inputs_embeds.shape[-1]))
        out, _ = self._backbone(input_ids, flat["attention_mask"], flat["token_type_ids"], flat["position_ids"], head_mask,
                                inputs_embeds, {}, output_attentions, output_hidden_states, training)
        summary = self.sequence_summary(out.last_hidden_state, None if cls_index is None else tf.reshape(cls_index, (-1,)), training=training)
        logits = tf.reshape(self.classifier(summary), (-1, C if C is not None else tf.shape(given)[1]))  # (B, C)
        loss = None if labels is None else losses.multiple_choice_loss(logits, labels)
        return MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


@keras.saving.register_keras_serializable(package="electra")
class ElectraForTokenClassification(_ElectraTaskModel):
    """One label per token: dropout -> `classifier` (H -> num_labels)."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.dropout = Dropout(config.classifier_dropout_prob)
        self.classifier = dense(config.num_labels, config, "classifier")

    def build(self, input_shape=None):
        self.electra.build()
        self.classifier.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False, training=False) -> TokenClassifierOutput:
        """labels: (B, L) label ids, -100 ignored. Returns logits (B, L, num_labels)."""
        out, checked = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                                      {"labels": labels}, output_attentions, output_hidden_states, training)
        labels = checked["labels"]
        logits = self.classifier(self.dropout(out.last_hidden_state, training=training))
        loss = None if labels is None else losses.token_classification_loss(logits, labels)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


@keras.saving.register_keras_serializable(package="electra")
class ElectraForQuestionAnswering(_ElectraTaskModel):
    """Extractive QA: `qa_outputs` (H -> 2) gives start and end logits per token."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.qa_outputs = dense(2, config, "qa_outputs")

    def build(self, input_shape=None):
        self.electra.build()
        self.qa_outputs.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=False,
             output_hidden_states=False, training=False) -> QuestionAnsweringModelOutput:
        """start_positions, end_positions: (B,) token indices (out-of-range ones are ignored).
        Returns start_logits and end_logits (B, L)."""
        if start_positions is not None and len(start_positions.shape) == 2 and start_positions.shape[1] == 1:
            start_positions = tf.squeeze(start_positions, -1)
        if end_positions is not None and len(end_positions.shape) == 2 and end_positions.shape[1] == 1:
            end_positions = tf.squeeze(end_positions, -1)
        if (start_positions is None) != (end_positions is None):
            raise ValueError("pass both start_positions and end_positions, or neither")
        out, checked = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                                      {"start_positions": start_positions, "end_positions": end_positions},
                                      output_attentions, output_hidden_states, training)
        start_positions, end_positions = checked["start_positions"], checked["end_positions"]
        start_logits, end_logits = tf.unstack(self.qa_outputs(out.last_hidden_state), axis=-1)  # 2 x (B, L)
        loss = None
        if start_positions is not None:
            loss = losses.question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                            hidden_states=out.hidden_states, attentions=out.attentions)
