"""Framework-free core of `electra`: config, presets, outputs, weight names, checkpoint
files, tokenizers and the pretraining data pipeline. Imports no deep-learning framework."""

from electra.common.config import ElectraConfig, generator_config, preset_config
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
from electra.common.presets import PRESETS

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
