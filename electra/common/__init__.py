"""Framework-free core of `electra`: config, presets, outputs, weight names, checkpoint
files, tokenizers and the pretraining data pipeline. Imports no deep-learning framework."""

from electra.common.config import ElectraConfig
from electra.common.errors import CheckpointError
from electra.common.outputs import (
    CausalLMOutput,
    ElectraForPreTrainingOutput,
    ElectraModelOutput,
    ElectraPretrainerOutput,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from electra.common.presets import PRESETS, generator_config, preset_config

__all__ = [
    "CausalLMOutput",
    "CheckpointError",
    "ElectraConfig",
    "ElectraForPreTrainingOutput",
    "ElectraModelOutput",
    "ElectraPretrainerOutput",
    "MaskedLMOutput",
    "ModelOutput",
    "MultipleChoiceModelOutput",
    "PRESETS",
    "QuestionAnsweringModelOutput",
    "SequenceClassifierOutput",
    "TokenClassifierOutput",
    "generator_config",
    "preset_config",
]
