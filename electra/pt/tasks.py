"""The seven task models `ElectraFor*` (docs/reference.md section 3): a backbone `electra` plus a head.

Each forward checks its inputs and labels before computing anything, runs the backbone,
applies its head, and computes its loss (from `losses.py`) when labels are given.
"""

from __future__ import annotations

import torch
from torch import nn

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
from electra.pt import losses
from electra.pt.dropout import Dropout
from electra.pt.heads import (
    ElectraClassificationHead,
    ElectraDiscriminatorPredictions,
    ElectraGeneratorPredictions,
    ElectraSequenceSummary,
)
from electra.pt.model import ElectraModel, check_forward_inputs, check_label_values
from electra.pt.pretrained import ElectraPreTrainedModel


class _ElectraTaskModel(ElectraPreTrainedModel):
    """A backbone under `electra` (the canonical `electra.` key prefix) and a head."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)

    def _backbone(self, input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                  labels: dict[str, torch.Tensor | None], output_attentions, output_hidden_states, **decoder):
        """Check inputs and labels (before any computation), then run the backbone."""
        past = decoder.get("past_key_values")
        past_length = 0 if past is None else past[0][0].shape[2]
        check_forward_inputs(self.config, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, head_mask, past_length)
        B, L = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        for name, value in labels.items():
            if value is not None:
                expected = validation.label_shape(self.architecture, self.config, B, L, value.is_floating_point())
                validation.check_labels(name, tuple(value.shape), expected)
                check_label_values(self.architecture, self.config, name, value, attention_mask, length=L)
        return self.electra(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
            check_inputs=False, **decoder,
        )


class ElectraForPreTraining(_ElectraTaskModel):
    """Discriminator: one logit per token, > 0 meaning "this token was replaced"."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None) -> ElectraForPreTrainingOutput | tuple:
        """labels: (B, L) 1 = replaced, 0 = original. Returns logits (B, L)."""
        out = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                             {"labels": labels}, output_attentions, output_hidden_states)
        logits = self.discriminator_predictions(out.last_hidden_state)
        loss = None if labels is None else losses.replaced_token_detection_loss(logits, labels, attention_mask)
        output = ElectraForPreTrainingOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        return self._output(output, return_dict)


class _ElectraLMModel(_ElectraTaskModel):
    """Generator head and `generator_lm_head` (E -> V), its weight tied to the word embeddings."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = nn.Linear(config.embedding_size, config.vocab_size)
        self.post_init()

    def lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(..., H) hidden states -> (..., V) vocabulary logits (the pretrainer's generator calls it too)."""
        return self.generator_lm_head(self.generator_predictions(hidden_states))  # (B, L, V)


class ElectraForMaskedLM(_ElectraLMModel):
    """Generator: vocabulary logits at every position."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None) -> MaskedLMOutput | tuple:
        """labels: (B, L) token ids, -100 where no prediction is scored. Returns logits (B, L, V)."""
        out = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                             {"labels": labels}, output_attentions, output_hidden_states)
        logits = self.lm_logits(out.last_hidden_state)
        loss = None if labels is None else losses.masked_lm_loss(logits, labels)
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        return self._output(output, return_dict)


class ElectraForCausalLM(_ElectraLMModel):
    """Left-to-right language model (needs `config.is_decoder`); `generate` in generation.py."""

    def __init__(self, config: ElectraConfig):
        if not config.is_decoder:
            raise ValueError("ElectraForCausalLM needs config.is_decoder=True")
        super().__init__(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None, use_cache=None) -> CausalLMOutput | tuple:
        """labels: (B, L), the input ids themselves (shifted inside); -100 ignored.
        Returns logits (B, L, V) and, with `use_cache` (default `config.use_cache`
        without labels), `past_key_values` for the next call."""
        if use_cache is None:
            use_cache = self.config.use_cache and labels is None
        out = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                             {"labels": labels}, output_attentions, output_hidden_states,
                             encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
                             past_key_values=past_key_values, use_cache=use_cache)
        logits = self.lm_logits(out.last_hidden_state)
        loss = None if labels is None else losses.causal_lm_loss(logits, labels)
        output = CausalLMOutput(loss=loss, logits=logits, past_key_values=out.past_key_values, hidden_states=out.hidden_states,
                                attentions=out.attentions, cross_attentions=out.cross_attentions)
        return self._output(output, return_dict)

    def generate(self, input_ids: torch.Tensor, **kwargs) -> torch.Tensor:
        """Greedy or sampled continuation; see `electra.pt.generation.generate`."""
        from electra.pt.generation import generate

        return generate(self, input_ids, **kwargs)


class ElectraForSequenceClassification(_ElectraTaskModel):
    """Classification or regression from token 0 (`classifier.dense`, `classifier.out_proj`)."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.classifier = ElectraClassificationHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None) -> SequenceClassifierOutput | tuple:
        """labels: (B,) class ids or targets, or (B, num_labels) floats for multi-label.
        Returns logits (B, num_labels)."""
        out = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                             {"labels": labels}, output_attentions, output_hidden_states)
        logits = self.classifier(out.last_hidden_state)
        loss = None if labels is None else losses.sequence_classification_loss(logits, labels, self.config.problem_type)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        return self._output(output, return_dict)


class ElectraForMultipleChoice(_ElectraTaskModel):
    """One score per choice: inputs (B, C, L) are run as (B*C, L) sequences."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.sequence_summary = ElectraSequenceSummary(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cls_index=None) -> MultipleChoiceModelOutput | tuple:
        """Args: input_ids (B, C, L) or inputs_embeds (B, C, L, E); the other inputs (B, C, L);
        labels (B,) the right choice; cls_index (B, C) token read by summary_type "cls_index".
        Returns logits (B, C)."""
        given = input_ids if input_ids is not None else inputs_embeds
        rank = 3 if input_ids is not None else 4
        if given is not None and given.dim() != rank:
            name = "input_ids" if input_ids is not None else "inputs_embeds"
            raise ValueError(f"{name} must have shape (batch, choices, length{', embedding_size' if rank == 4 else ''}), got shape {tuple(given.shape)}")
        B, C = (given.shape[:2]) if given is not None else (None, None)
        flat = {}
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids), ("position_ids", position_ids)):
            if t is not None:
                validation.check_labels(name, tuple(t.shape), (B, C, given.shape[2] if given is not None else None))
                t = t.reshape(-1, t.shape[-1])
            flat[name] = t
        if labels is not None:
            validation.check_labels("labels", tuple(labels.shape), (B,))
            check_label_values(self.architecture, self.config, "labels", labels, num_choices=C)
        input_ids = None if input_ids is None else input_ids.reshape(-1, input_ids.shape[-1])  # (B*C, L)
        inputs_embeds = None if inputs_embeds is None else inputs_embeds.reshape(-1, *inputs_embeds.shape[-2:])
        out = self._backbone(input_ids, flat["attention_mask"], flat["token_type_ids"], flat["position_ids"], head_mask,
                             inputs_embeds, {}, output_attentions, output_hidden_states)
        summary = self.sequence_summary(out.last_hidden_state, None if cls_index is None else cls_index.reshape(-1))
        logits = self.classifier(summary).view(-1, C)  # (B, C)
        loss = None if labels is None else losses.multiple_choice_loss(logits, labels)
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        return self._output(output, return_dict)


class ElectraForTokenClassification(_ElectraTaskModel):
    """One label per token: dropout -> `classifier` (H -> num_labels)."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.dropout = Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None) -> TokenClassifierOutput | tuple:
        """labels: (B, L) label ids, -100 ignored. Returns logits (B, L, num_labels)."""
        out = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                             {"labels": labels}, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = None if labels is None else losses.token_classification_loss(logits, labels)
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)
        return self._output(output, return_dict)


class ElectraForQuestionAnswering(_ElectraTaskModel):
    """Extractive QA: `qa_outputs` (H -> 2) gives start and end logits per token."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None) -> QuestionAnsweringModelOutput | tuple:
        """start_positions, end_positions: (B,) token indices in [0, L]; L (outside the input) is
        ignored, values outside [0, L] raise `ValueError` (HF clamps them into [0, L]).
        Returns start_logits and end_logits (B, L)."""
        if start_positions is not None and start_positions.dim() == 2 and start_positions.shape[1] == 1:
            start_positions = start_positions.squeeze(-1)
        if end_positions is not None and end_positions.dim() == 2 and end_positions.shape[1] == 1:
            end_positions = end_positions.squeeze(-1)
        if (start_positions is None) != (end_positions is None):
            raise ValueError("pass both start_positions and end_positions, or neither")
        out = self._backbone(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                             {"start_positions": start_positions, "end_positions": end_positions},
                             output_attentions, output_hidden_states)
        start_logits, end_logits = self.qa_outputs(out.last_hidden_state).unbind(-1)  # 2 x (B, L)
        loss = None
        if start_positions is not None:
            loss = losses.question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=out.hidden_states, attentions=out.attentions)
        return self._output(output, return_dict)
