"""Typed outputs of every model, shared by the three backends (docs/reference.md section 4).

Field names and order follow HF's output classes (`BaseModelOutputWithPastAndCrossAttentions`,
`ElectraForPreTrainingOutput`, `MaskedLMOutput`, ...). Fields not asked for stay None.
Access by attribute (`out.logits`) or by key (`out["logits"]`); `to_tuple()` gives the
non-None fields in order, as HF's `return_dict=False` does.

The classes are plain dataclasses holding whatever array type the backend produces. They
take part in each framework's tree utilities: `tf.nest` (and so `tf.function`) through the
`__tf_flatten__` protocol defined here, JAX through `electra.flax` registering them as
pytrees. No framework is imported by this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class ModelOutput:
    """Base of every output: a dataclass that also reads like a mapping of its non-None fields."""

    def keys(self) -> list[str]:
        fields = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]
        return fields + list(self.__dict__.get("_added", ()))

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]

    def to_tuple(self) -> tuple:
        return tuple(self.values())

    def to_dict(self) -> dict[str, Any]:
        return dict(self.items())

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(f"{type(self).__name__} has no field {key!r} set; set fields: {self.keys()}")
            return self.__dict__["_added"][key] if key in self.__dict__.get("_added", ()) else getattr(self, key)
        return self.to_tuple()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        """Set a field by name, as HF's dict-based outputs allow. Another key (transformers'
        fill-mask pipeline adds `input_ids`) is kept beside the fields, read by key only; it
        takes no part in equality or in the frameworks' tree utilities."""
        if key in {f.name for f in dataclasses.fields(self)}:
            setattr(self, key, value)
        else:
            self.__dict__.setdefault("_added", {})[key] = value

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    # tf.nest custom-nest protocol: every field is a component (None fields stay None).
    def __tf_flatten__(self) -> tuple[tuple[str, ...], tuple]:
        names = tuple(f.name for f in dataclasses.fields(self))
        return names, tuple(getattr(self, n) for n in names)

    @classmethod
    def __tf_unflatten__(cls, metadata: tuple[str, ...], components: tuple) -> ModelOutput:
        return cls(**dict(zip(metadata, components)))


@dataclass
class ElectraModelOutput(ModelOutput):
    """Bare model: `last_hidden_state` (B, L, H); `hidden_states` layers+1 x (B, L, H);
    `attentions` and `cross_attentions` layers x (B, N, L, L_kv); `past_key_values` per layer."""

    last_hidden_state: Any = None
    past_key_values: Any = None
    hidden_states: Any = None
    attentions: Any = None
    cross_attentions: Any = None


@dataclass
class ElectraForPreTrainingOutput(ModelOutput):
    """Replaced-token detection: `logits` (B, L), one per token, > 0 means "replaced"."""

    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class MaskedLMOutput(ModelOutput):
    """Masked language model: `logits` (B, L, V)."""

    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class CausalLMOutput(ModelOutput):
    """Causal language model: `logits` (B, L, V) and the key/value cache."""

    loss: Any = None
    logits: Any = None
    past_key_values: Any = None
    hidden_states: Any = None
    attentions: Any = None
    cross_attentions: Any = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    """Sequence classification or regression: `logits` (B, num_labels)."""

    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    """Multiple choice: `logits` (B, C)."""

    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    """Token classification: `logits` (B, L, num_labels)."""

    loss: Any = None
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    """Extractive question answering: `start_logits`, `end_logits` (B, L)."""

    loss: Any = None
    start_logits: Any = None
    end_logits: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclass
class ElectraPretrainerOutput(ModelOutput):
    """One replaced-token-detection pretraining step (generator + discriminator).

    `loss` = generator_weight x `generator_loss` + discriminator_weight x `discriminator_loss`;
    `generator_logits` (B, K, V) at the K prediction slots of each row: slot k of row b is
    the row's k-th chosen position, `prediction_positions[b, k]`, where
    `prediction_mask[b, k]` is True (the row's unused slots are False and count for
    nothing; `generator_logits[prediction_mask]` is (M, V) over the M chosen positions in
    row-major order); `discriminator_logits` (B, L), `replaced` (B, L) the
    discriminator's labels (1 where the sampled token differs from the original),
    `sampled_ids` (B, L) the discriminator's input; the metrics are scalars, the ratios
    (`recipe.metric_ratios`) of `metric_counts` (7,) float32, the counts named by
    `electra.common.pretraining.recipe.METRIC_COUNTS` over this batch (a data-parallel
    trainer sums them over its workers, then divides).
    """

    loss: Any = None
    generator_loss: Any = None
    discriminator_loss: Any = None
    generator_accuracy: Any = None
    discriminator_accuracy: Any = None
    discriminator_precision: Any = None
    discriminator_recall: Any = None
    generator_logits: Any = None
    discriminator_logits: Any = None
    sampled_ids: Any = None
    replaced: Any = None
    metric_counts: Any = None
    prediction_positions: Any = None
    prediction_mask: Any = None


ALL_OUTPUTS = (
    ElectraModelOutput,
    ElectraForPreTrainingOutput,
    MaskedLMOutput,
    CausalLMOutput,
    SequenceClassifierOutput,
    MultipleChoiceModelOutput,
    TokenClassifierOutput,
    QuestionAnsweringModelOutput,
    ElectraPretrainerOutput,
)
