"""ELECTRA in PyTorch: the classes of HF `transformers.models.electra` (4.57) on the common
core (`electra.common`). Module and parameter names are the canonical checkpoint keys."""

from electra.pt.model import ElectraModel
from electra.pt.pretrained import ElectraPreTrainedModel
from electra.pt.tasks import (
    ElectraForCausalLM,
    ElectraForMaskedLM,
    ElectraForMultipleChoice,
    ElectraForPreTraining,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
)

__all__ = [
    "ElectraForCausalLM",
    "ElectraForMaskedLM",
    "ElectraForMultipleChoice",
    "ElectraForPreTraining",
    "ElectraForQuestionAnswering",
    "ElectraForSequenceClassification",
    "ElectraForTokenClassification",
    "ElectraModel",
    "ElectraPreTrainedModel",
]
