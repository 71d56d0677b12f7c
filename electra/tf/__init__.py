"""ELECTRA in Keras 3 on the TensorFlow backend: the classes of HF
`transformers.models.electra` (4.57) on the common core (`electra.common`), mirroring
`electra.pt` (same files, class names and sub-layer names; canonical checkpoint keys).

Keras must run on TensorFlow: set `KERAS_BACKEND=tensorflow` before Keras is imported.
"""

import os

import keras

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"electra.tf needs Keras on the TensorFlow backend, but Keras is running on "
        f"{keras.backend.backend()!r} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}). "
        "Set the environment variable KERAS_BACKEND=tensorflow before importing keras "
        "(or in ~/.keras/keras.json), then restart Python."
    )

from electra.tf.model import ElectraModel, validate_inputs
from electra.tf.pretrained import ElectraPreTrainedModel
from electra.tf.tasks import (
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
    "validate_inputs",
]
