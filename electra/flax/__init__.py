"""`electra.flax`: ELECTRA in Flax (linen) for JAX users, mirroring `electra.pt`.

Each model object holds `config`, `module` and `params` (HF Flax's parameter tree) and is
called with explicit `params`, `dropout_rng` and `train`, inside `jax.jit`, `jax.grad` and
`jax.vmap`. The shared output dataclasses (`electra.common.outputs`) are registered here as
JAX pytrees (every field a data field; None fields are empty subtrees), and by name for
`jax.export` serialisation, so an exported call returns them after `deserialize`.
"""

from __future__ import annotations

import dataclasses

import jax
from jax import export

from electra.common.outputs import ALL_OUTPUTS

for _cls in ALL_OUTPUTS:
    jax.tree_util.register_dataclass(_cls, data_fields=[f.name for f in dataclasses.fields(_cls)], meta_fields=[])
    export.register_pytree_node_serialization(  # no meta fields: nothing to write beside the name
        _cls, serialized_name=f"electra.{_cls.__name__}", serialize_auxdata=lambda _: b"", deserialize_auxdata=lambda _: (),
    )

from electra.flax.model import ElectraModel, ElectraModelModule  # noqa: E402
from electra.flax.pretrained import ElectraPreTrainedModel  # noqa: E402
from electra.flax.tasks import (  # noqa: E402
    ElectraForCausalLM,
    ElectraForCausalLMModule,
    ElectraForMaskedLM,
    ElectraForMaskedLMModule,
    ElectraForMultipleChoice,
    ElectraForMultipleChoiceModule,
    ElectraForPreTraining,
    ElectraForPreTrainingModule,
    ElectraForQuestionAnswering,
    ElectraForQuestionAnsweringModule,
    ElectraForSequenceClassification,
    ElectraForSequenceClassificationModule,
    ElectraForTokenClassification,
    ElectraForTokenClassificationModule,
)

# HF-style names for people migrating from `transformers` (aliases only).
FlaxElectraModel = ElectraModel
FlaxElectraForPreTraining = ElectraForPreTraining
FlaxElectraForMaskedLM = ElectraForMaskedLM
FlaxElectraForCausalLM = ElectraForCausalLM
FlaxElectraForSequenceClassification = ElectraForSequenceClassification
FlaxElectraForMultipleChoice = ElectraForMultipleChoice
FlaxElectraForTokenClassification = ElectraForTokenClassification
FlaxElectraForQuestionAnswering = ElectraForQuestionAnswering

MODEL_CLASSES = {
    cls.architecture: cls
    for cls in (
        ElectraModel, ElectraForPreTraining, ElectraForMaskedLM, ElectraForCausalLM,
        ElectraForSequenceClassification, ElectraForMultipleChoice, ElectraForTokenClassification,
        ElectraForQuestionAnswering,
    )
}

__all__ = [
    "ElectraForCausalLM", "ElectraForCausalLMModule", "ElectraForMaskedLM", "ElectraForMaskedLMModule",
    "ElectraForMultipleChoice", "ElectraForMultipleChoiceModule", "ElectraForPreTraining",
    "ElectraForPreTrainingModule", "ElectraForQuestionAnswering", "ElectraForQuestionAnsweringModule",
    "ElectraForSequenceClassification", "ElectraForSequenceClassificationModule",
    "ElectraForTokenClassification", "ElectraForTokenClassificationModule", "ElectraModel",
    "ElectraModelModule", "ElectraPreTrainedModel", "MODEL_CLASSES",
    "FlaxElectraModel", "FlaxElectraForPreTraining", "FlaxElectraForMaskedLM", "FlaxElectraForCausalLM",
    "FlaxElectraForSequenceClassification", "FlaxElectraForMultipleChoice",
    "FlaxElectraForTokenClassification", "FlaxElectraForQuestionAnswering",
]
