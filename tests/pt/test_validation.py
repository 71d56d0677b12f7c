"""Bad inputs raise `ValueError` naming the argument, before any computation."""

from __future__ import annotations

import pytest
import torch

import electra.pt as pt
from conftest import tiny_config

B, L = 2, 5


@pytest.fixture
def model():
    m = pt.ElectraForSequenceClassification(tiny_config()).eval()
    calls = []
    m.electra.embeddings.register_forward_hook(lambda *args: calls.append(1))
    m.calls = calls
    return m


def ids(*shape, high=99):
    return torch.randint(1, high, shape)


CASES = [
    ("input_ids", dict(input_ids=torch.tensor([[1, 99, 2]]))),
    ("input_ids", dict(input_ids=torch.tensor([[1, -1, 2]]))),
    ("input_ids", dict(input_ids=ids(2, 3, 4))),
    ("token_type_ids", dict(input_ids=ids(B, L), token_type_ids=torch.full((B, L), 3))),
    ("position_ids", dict(input_ids=ids(B, L), position_ids=torch.full((B, L), 64))),
    ("max_position_embeddings", dict(input_ids=ids(1, 65))),
    ("attention_mask", dict(input_ids=ids(B, L), attention_mask=torch.ones(B, L + 1))),
    ("token_type_ids", dict(input_ids=ids(B, L), token_type_ids=torch.zeros(B + 1, L, dtype=torch.long))),
    ("labels", dict(input_ids=ids(B, L), labels=torch.tensor([0, 1, 2]))),
    ("head_mask", dict(input_ids=ids(B, L), head_mask=torch.ones(3))),
    ("inputs_embeds", dict(inputs_embeds=torch.zeros(B, L, 7))),
    ("both", dict(input_ids=ids(B, L), inputs_embeds=torch.zeros(B, L, 24))),
    ("neither", dict()),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_input_names_the_argument_before_computing(model, name, kwargs):
    with pytest.raises(ValueError, match=name):
        model(**kwargs)
    assert model.calls == []


@pytest.mark.parametrize("architecture, labels", [
    ("ElectraForPreTraining", torch.zeros(B, L + 1)),
    ("ElectraForMaskedLM", torch.zeros(B, dtype=torch.long)),
    ("ElectraForTokenClassification", torch.zeros(B + 1, L, dtype=torch.long)),
])
def test_label_shapes_are_checked(architecture, labels):
    model = getattr(pt, architecture)(tiny_config())
    with pytest.raises(ValueError, match="labels"):
        model(ids(B, L), labels=labels)


def test_multiple_choice_and_question_answering_check_their_arguments():
    mc = pt.ElectraForMultipleChoice(tiny_config())
    with pytest.raises(ValueError, match="input_ids"):
        mc(ids(B, L))
    with pytest.raises(ValueError, match="attention_mask"):
        mc(ids(B, 3, L), attention_mask=torch.ones(B, 2, L))
    with pytest.raises(ValueError, match="labels"):
        mc(ids(B, 3, L), labels=torch.zeros(B, 3, dtype=torch.long))
    qa = pt.ElectraForQuestionAnswering(tiny_config())
    with pytest.raises(ValueError, match="end_positions"):
        qa(ids(B, L), start_positions=torch.zeros(B, dtype=torch.long))
    with pytest.raises(ValueError, match="start_positions"):
        qa(ids(B, L), start_positions=torch.zeros(B + 1, dtype=torch.long), end_positions=torch.zeros(B + 1, dtype=torch.long))


def test_decoder_arguments_are_checked():
    with pytest.raises(ValueError, match="is_decoder"):
        pt.ElectraForCausalLM(tiny_config())
    model = pt.ElectraForCausalLM(tiny_config(is_decoder=True)).eval()
    with pytest.raises(ValueError, match="add_cross_attention"):
        model(ids(B, L), encoder_hidden_states=torch.zeros(B, 3, 32))
    past = model(ids(B, 60)).past_key_values
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(ids(B, 5), past_key_values=past)
    with pytest.raises(ValueError, match="past_key_values"):
        pt.ElectraModel(tiny_config())(ids(B, 1), past_key_values=past)
