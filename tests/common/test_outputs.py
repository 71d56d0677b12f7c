"""Output dataclasses: HF 4.57's field names in HF's order, mapping access, the tf.nest protocol."""

from __future__ import annotations

import dataclasses

import pytest

from electra.common import outputs

HF_CLASSES = {
    "ElectraModelOutput": "modeling_outputs.BaseModelOutputWithPastAndCrossAttentions",
    "ElectraForPreTrainingOutput": "models.electra.modeling_electra.ElectraForPreTrainingOutput",
    "MaskedLMOutput": "modeling_outputs.MaskedLMOutput",
    "CausalLMOutput": "modeling_outputs.CausalLMOutputWithCrossAttentions",
    "SequenceClassifierOutput": "modeling_outputs.SequenceClassifierOutput",
    "MultipleChoiceModelOutput": "modeling_outputs.MultipleChoiceModelOutput",
    "TokenClassifierOutput": "modeling_outputs.TokenClassifierOutput",
    "QuestionAnsweringModelOutput": "modeling_outputs.QuestionAnsweringModelOutput",
}


@pytest.mark.parametrize("name", HF_CLASSES)
def test_fields_are_hfs(name):
    pytest.importorskip("torch")
    import importlib

    module_name, class_name = HF_CLASSES[name].rsplit(".", 1)
    hf = getattr(importlib.import_module(f"transformers.{module_name}"), class_name)
    ours = getattr(outputs, name)
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(hf)]
    assert all(value is None for value in dataclasses.asdict(ours()).values())


def test_mapping_access():
    out = outputs.QuestionAnsweringModelOutput(start_logits=[1], end_logits=[2], attentions=(3,))
    assert out.keys() == ["start_logits", "end_logits", "attentions"] == list(out)
    assert out.to_tuple() == ([1], [2], (3,)) and out[1] == [2] and out["end_logits"] == [2]
    assert len(out) == 3 and "loss" not in out and "attentions" in out
    assert out.to_dict() == {"start_logits": [1], "end_logits": [2], "attentions": (3,)}
    with pytest.raises(KeyError, match="has no field 'loss' set; set fields: \\['start_logits'"):
        out["loss"]


def test_tf_nest_protocol_round_trips():
    out = outputs.MaskedLMOutput(loss=1.0, logits=[2.0])
    names, components = out.__tf_flatten__()
    assert names == ("loss", "logits", "hidden_states", "attentions") and components == (1.0, [2.0], None, None)
    assert outputs.MaskedLMOutput.__tf_unflatten__(names, components) == out
