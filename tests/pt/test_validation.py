"""Bad inputs raise `ValueError` naming the argument, before any computation."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

import electra.pt as pt
from conftest import tiny_config
from electra.common import validation

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


# ------------------------------------------------------------------ label values


def with_hook(model):
    model.calls = []
    model.electra.embeddings.register_forward_hook(lambda *args: model.calls.append(1))
    return model.eval()


def padded_mask(*shape):
    mask = torch.ones(shape, dtype=torch.long)
    mask[1, ..., -2:] = 0
    return mask


def labels_at(shape, position, value, dtype=torch.long):
    labels = torch.zeros(shape, dtype=dtype)
    labels[position] = value
    return labels


BAD_LABELS = [  # architecture, config changes, the call's keyword arguments, the argument, its bad value
    ("ElectraForSequenceClassification", dict(id2label={0: "a", 1: "b"}), dict(labels=torch.tensor([5, 0])), "labels", 5),
    ("ElectraForSequenceClassification", {}, dict(labels=torch.tensor([-1, 0])), "labels", -1),
    ("ElectraForSequenceClassification", {}, dict(labels=torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 1.0]])), "labels", 2.0),
    ("ElectraForMultipleChoice", {}, dict(labels=torch.tensor([0, 3])), "labels", 3),
    ("ElectraForTokenClassification", {}, dict(labels=labels_at((B, L), (1, 2), 3)), "labels", 3),
    ("ElectraForMaskedLM", {}, dict(labels=labels_at((B, L), (0, 4), 99)), "labels", 99),
    ("ElectraForMaskedLM", {}, dict(labels=labels_at((B, L), (0, 4), -1)), "labels", -1),
    ("ElectraForCausalLM", dict(is_decoder=True), dict(labels=labels_at((B, L), (1, 0), 99)), "labels", 99),
    ("ElectraForQuestionAnswering", {}, dict(start_positions=torch.tensor([0, L + 1]), end_positions=torch.tensor([1, 2])), "start_positions", L + 1),
    ("ElectraForQuestionAnswering", {}, dict(start_positions=torch.tensor([0, 1]), end_positions=torch.tensor([-1, 2])), "end_positions", -1),
    ("ElectraForPreTraining", {}, dict(labels=labels_at((B, L), (1, 1), 2)), "labels", 2),
    ("ElectraForPreTraining", {}, dict(labels=labels_at((B, L), (0, 0), -1.0, torch.float)), "labels", -1.0),
]


@pytest.mark.parametrize("architecture, changes, kwargs, name, value", BAD_LABELS,
                         ids=[f"{i}-{c[0]}-{c[3]}" for i, c in enumerate(BAD_LABELS)])
def test_labels_out_of_range_raise_before_computing(architecture, changes, kwargs, name, value):
    config = tiny_config(**changes)
    model = with_hook(getattr(pt, architecture)(config))
    shape = (B, 3, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    labels = kwargs[name]
    rule = validation.label_range(architecture, config, name, length=L, num_choices=3, float_labels=labels.is_floating_point())
    with pytest.raises(ValueError, match=re.escape(rule.message(name, value))):
        model(ids(*shape), attention_mask=padded_mask(*shape), **kwargs)
    assert model.calls == []


def test_labels_at_the_limits_are_accepted():
    mlm = with_hook(pt.ElectraForMaskedLM(tiny_config()))
    labels = labels_at((B, L), (0, 1), 98)
    labels[1, :3] = validation.IGNORE_INDEX
    assert torch.isfinite(mlm(ids(B, L), labels=labels).loss)
    qa = pt.ElectraForQuestionAnswering(tiny_config()).eval()
    x = ids(B, L)
    out = qa(x, start_positions=torch.tensor([0, L]), end_positions=torch.tensor([L, 1]))  # L: outside the input, ignored
    expected = (F.cross_entropy(out.start_logits[:1], torch.tensor([0])) + F.cross_entropy(out.end_logits[1:], torch.tensor([1]))) / 2
    torch.testing.assert_close(out.loss, expected)
    regression = pt.ElectraForSequenceClassification(tiny_config(id2label={0: "a"}))
    assert torch.isfinite(regression(x, labels=torch.tensor([7.5, -3.0])).loss)


def test_replaced_token_labels_at_padding_are_not_checked():
    model = pt.ElectraForPreTraining(tiny_config()).eval()
    x, mask = ids(B, L), padded_mask(B, L)
    labels = labels_at((B, L), (1, L - 1), 0)
    reference = model(x, attention_mask=mask, labels=labels).loss
    labels[1, L - 1] = 7  # a padded position: the loss does not read it
    torch.testing.assert_close(model(x, attention_mask=mask, labels=labels).loss, reference)


def test_label_checks_stay_out_of_captured_programs():
    """torch.export and torch.compile(fullgraph=True) capture a forward with labels whole;
    the captured program does not check them (their values are not known while capturing)."""
    model = pt.ElectraForTokenClassification(tiny_config()).eval()
    x, mask = ids(B, L), padded_mask(B, L)
    labels = labels_at((B, L), (1, L - 1), validation.IGNORE_INDEX)
    eager = model(x, attention_mask=mask, labels=labels).loss
    program = torch.export.export(model, (x, mask), {"labels": labels}).module()
    torch.testing.assert_close(program(x, mask, labels=labels).loss, eager)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x, attention_mask=mask, labels=labels).loss, eager)
