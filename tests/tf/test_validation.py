"""Bad inputs raise `ValueError` naming the argument, before any computation, eagerly and
while `tf.function` traces; out-of-range ids raise under `tf.function` and give NaN (not
silently clamped values) under `jit_compile=True`."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf

import electra.tf as etf
from conftest import tiny_config
from electra.common import validation
from electra.tf.model import validate_inputs

B, L = 2, 5


@pytest.fixture
def model():
    m = etf.ElectraForSequenceClassification(tiny_config())
    m.build()
    calls = []
    embeddings_call = m.electra.embeddings.call

    def counting_call(*args, **kwargs):
        calls.append(1)
        return embeddings_call(*args, **kwargs)

    m.electra.embeddings.call = counting_call
    m.calls = calls
    return m


def ids(*shape, high=99):
    return np.random.default_rng(0).integers(1, high, shape).astype(np.int32)


CASES = [
    ("input_ids", dict(input_ids=np.array([[1, 99, 2]], np.int32))),
    ("input_ids", dict(input_ids=np.array([[1, -1, 2]], np.int32))),
    ("input_ids", dict(input_ids=ids(2, 3, 4))),
    ("token_type_ids", dict(input_ids=ids(B, L), token_type_ids=np.full((B, L), 3, np.int32))),
    ("position_ids", dict(input_ids=ids(B, L), position_ids=np.full((B, L), 64, np.int32))),
    ("max_position_embeddings", dict(input_ids=ids(1, 65))),
    ("attention_mask", dict(input_ids=ids(B, L), attention_mask=np.ones((B, L + 1), np.int32))),
    ("token_type_ids", dict(input_ids=ids(B, L), token_type_ids=np.zeros((B + 1, L), np.int32))),
    ("labels", dict(input_ids=ids(B, L), labels=np.array([0, 1, 2], np.int32))),
    ("head_mask", dict(input_ids=ids(B, L), head_mask=np.ones(3, np.float32))),
    ("inputs_embeds", dict(inputs_embeds=np.zeros((B, L, 7), np.float32))),
    ("both", dict(input_ids=ids(B, L), inputs_embeds=np.zeros((B, L, 24), np.float32))),
    ("neither", dict()),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_input_names_the_argument_before_computing(model, name, kwargs):
    with pytest.raises(ValueError, match=name):
        model(**kwargs)
    assert model.calls == []


SHAPE_CASES = [c for c in CASES if c[0] in ("max_position_embeddings", "attention_mask", "labels", "head_mask", "inputs_embeds")]


@pytest.mark.parametrize("name, kwargs", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_bad_shapes_raise_while_tf_function_traces(model, name, kwargs, jit_compile):
    with pytest.raises(ValueError, match=name):
        tf.function(lambda kw: model(**kw), jit_compile=jit_compile)(kwargs)


RANGE_CASES = [
    ("input_ids", dict(input_ids=np.array([[1, 99, 2], [3, 4, 5]], np.int32))),
    ("input_ids", dict(input_ids=np.array([[1, -1, 2], [3, 4, 5]], np.int32))),
    ("token_type_ids", dict(input_ids=ids(B, 3), token_type_ids=np.array([[0, 3, 0], [0, 0, 0]], np.int32))),
    ("position_ids", dict(input_ids=ids(B, 3), position_ids=np.array([[0, 1, 64], [0, 1, 2]], np.int32))),
]


@pytest.mark.parametrize("name, kwargs", RANGE_CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(RANGE_CASES)])
def test_out_of_range_ids_raise_under_tf_function(model, name, kwargs):
    step = tf.function(lambda kw: model(**kw).logits)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{name} must lie in"):
        step(kwargs)
    good = {k: np.clip(v, 0, 2) for k, v in kwargs.items()}
    assert np.isfinite(step(good).numpy()).all()


@pytest.mark.parametrize("name, kwargs", RANGE_CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(RANGE_CASES)])
def test_out_of_range_ids_give_nan_not_clamped_values_under_xla(model, name, kwargs):
    step = tf.function(lambda kw: model(**kw, labels=np.zeros(B, np.int32)), jit_compile=True)
    out = step(kwargs)
    assert np.isnan(out.logits.numpy()).all() and np.isnan(out.loss.numpy())
    good = {k: np.clip(v, 0, 2) for k, v in kwargs.items()}
    assert np.isfinite(step(good).logits.numpy()).all()
    # The error itself, ahead of the compiled step (e.g. in a tf.data pipeline):
    with pytest.raises(ValueError, match=name):
        validate_inputs(model.config, kwargs)
    dataset = tf.data.Dataset.from_tensors(kwargs).map(lambda f: validate_inputs(model.config, f))
    with pytest.raises(tf.errors.InvalidArgumentError, match=name):
        next(iter(dataset))


@pytest.mark.parametrize("architecture, labels", [
    ("ElectraForPreTraining", np.zeros((B, L + 1), np.float32)),
    ("ElectraForMaskedLM", np.zeros(B, np.int32)),
    ("ElectraForTokenClassification", np.zeros((B + 1, L), np.int32)),
])
def test_label_shapes_are_checked(architecture, labels):
    model = getattr(etf, architecture)(tiny_config())
    with pytest.raises(ValueError, match="labels"):
        model(ids(B, L), labels=labels)


def test_multiple_choice_and_question_answering_check_their_arguments():
    mc = etf.ElectraForMultipleChoice(tiny_config())
    with pytest.raises(ValueError, match="input_ids"):
        mc(ids(B, L))
    with pytest.raises(ValueError, match="attention_mask"):
        mc(ids(B, 3, L), attention_mask=np.ones((B, 2, L), np.int32))
    with pytest.raises(ValueError, match="labels"):
        mc(ids(B, 3, L), labels=np.zeros((B, 3), np.int32))
    qa = etf.ElectraForQuestionAnswering(tiny_config())
    with pytest.raises(ValueError, match="end_positions"):
        qa(ids(B, L), start_positions=np.zeros(B, np.int32))
    with pytest.raises(ValueError, match="start_positions"):
        qa(ids(B, L), start_positions=np.zeros(B + 1, np.int32), end_positions=np.zeros(B + 1, np.int32))


def test_decoder_arguments_are_checked():
    with pytest.raises(ValueError, match="is_decoder"):
        etf.ElectraForCausalLM(tiny_config())
    model = etf.ElectraForCausalLM(tiny_config(is_decoder=True))
    with pytest.raises(ValueError, match="add_cross_attention"):
        model(ids(B, L), encoder_hidden_states=np.zeros((B, 3, 32), np.float32))
    past = model(ids(B, 60)).past_key_values
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(ids(B, 5), past_key_values=past)
    with pytest.raises(ValueError, match="past_key_values"):
        etf.ElectraModel(tiny_config())(ids(B, 1), past_key_values=past)


def padded_mask(*shape):
    mask = np.ones(shape, np.int32)
    mask[1, ..., -2:] = 0
    return mask


def labels_at(shape, position, value, dtype=np.int32):
    labels = np.zeros(shape, dtype)
    labels[position] = value
    return labels


BAD_LABELS = [  # architecture, config changes, the call's keyword arguments, the argument, its bad value
    ("ElectraForSequenceClassification", dict(id2label={0: "a", 1: "b"}), dict(labels=np.array([5, 0], np.int32)), "labels", 5),
    ("ElectraForSequenceClassification", {}, dict(labels=np.array([-1, 0], np.int32)), "labels", -1),
    ("ElectraForSequenceClassification", {}, dict(labels=np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 1.0]], np.float32)), "labels", 2.0),
    ("ElectraForMultipleChoice", {}, dict(labels=np.array([0, 3], np.int32)), "labels", 3),
    ("ElectraForTokenClassification", {}, dict(labels=labels_at((B, L), (1, 2), 3)), "labels", 3),
    ("ElectraForMaskedLM", {}, dict(labels=labels_at((B, L), (0, 4), 99)), "labels", 99),
    ("ElectraForMaskedLM", {}, dict(labels=labels_at((B, L), (0, 4), -1)), "labels", -1),
    ("ElectraForCausalLM", dict(is_decoder=True), dict(labels=labels_at((B, L), (1, 0), 99)), "labels", 99),
    ("ElectraForQuestionAnswering", {},
     dict(start_positions=np.array([0, L + 1], np.int32), end_positions=np.array([1, 2], np.int32)), "start_positions", L + 1),
    ("ElectraForQuestionAnswering", {}, dict(start_positions=np.array([0, 1], np.int32), end_positions=np.array([-1, 2], np.int32)), "end_positions", -1),
    ("ElectraForPreTraining", {}, dict(labels=labels_at((B, L), (1, 1), 2)), "labels", 2),
    ("ElectraForPreTraining", {}, dict(labels=labels_at((B, L), (0, 0), -1.0, np.float32)), "labels", -1.0),
]


def label_model(architecture, changes):
    config = tiny_config(**changes)
    model = getattr(etf, architecture)(config)
    model.build()
    model.calls = []
    embeddings_call = model.electra.embeddings.call

    def counting_call(*args, **kwargs):
        model.calls.append(1)
        return embeddings_call(*args, **kwargs)

    model.electra.embeddings.call = counting_call
    shape = (B, 3, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    return model, {"input_ids": ids(*shape), "attention_mask": padded_mask(*shape)}


@pytest.mark.parametrize("architecture, changes, kwargs, name, value", BAD_LABELS,
                         ids=[f"{i}-{c[0]}-{c[3]}" for i, c in enumerate(BAD_LABELS)])
def test_labels_out_of_range_raise_before_computing(architecture, changes, kwargs, name, value):
    model, inputs = label_model(architecture, changes)
    labels = kwargs[name]
    rule = validation.label_range(architecture, model.config, name, length=L, num_choices=3, float_labels=labels.dtype.kind == "f")
    with pytest.raises(ValueError, match=re.escape(rule.message(name, value))):
        model(**inputs, **kwargs)
    assert model.calls == []


TRACED_LABELS = [BAD_LABELS[i] for i in (0, 2, 3, 6, 8, 11)]  # one of each kind of rule (tracing is slow)


@pytest.mark.parametrize("architecture, changes, kwargs, name, value", TRACED_LABELS,
                         ids=[f"{i}-{c[0]}-{c[3]}" for i, c in enumerate(TRACED_LABELS)])
def test_labels_out_of_range_raise_under_tf_function(architecture, changes, kwargs, name, value):
    model, inputs = label_model(architecture, changes)
    labels = kwargs[name]
    rule = validation.label_range(architecture, model.config, name, length=L, num_choices=3, float_labels=labels.dtype.kind == "f")
    step = tf.function(lambda kw: model(**kw).loss)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(rule.message(name, ""))):
        step({**inputs, **kwargs})
    good = {k: np.where(v == value, 0, v).astype(v.dtype) for k, v in kwargs.items()}
    assert np.isfinite(step({**inputs, **good}).numpy())


def test_labels_at_the_limits_are_accepted():
    mlm = etf.ElectraForMaskedLM(tiny_config())
    labels = labels_at((B, L), (0, 1), 98)
    labels[1, :3] = validation.IGNORE_INDEX
    assert np.isfinite(mlm(ids(B, L), labels=labels).loss.numpy())
    qa = etf.ElectraForQuestionAnswering(tiny_config())
    x = ids(B, L)
    out = qa(x, start_positions=np.array([0, L], np.int32), end_positions=np.array([L, 1], np.int32))  # L: outside the input, ignored
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits
    expected = (ce(labels=[0], logits=out.start_logits[:1]) + ce(labels=[1], logits=out.end_logits[1:])) / 2
    np.testing.assert_allclose(out.loss.numpy(), expected.numpy()[0], rtol=1e-6)
    regression = etf.ElectraForSequenceClassification(tiny_config(id2label={0: "a"}))
    assert np.isfinite(regression(x, labels=np.array([7.5, -3.0], np.float32)).loss.numpy())


def test_replaced_token_labels_at_padding_are_not_checked():
    model = etf.ElectraForPreTraining(tiny_config())
    x, mask = ids(B, L), padded_mask(B, L)
    labels = labels_at((B, L), (1, L - 1), 0)
    reference = model(x, attention_mask=mask, labels=labels).loss.numpy()
    labels[1, L - 1] = 7  # a padded position: the loss does not read it
    np.testing.assert_allclose(model(x, attention_mask=mask, labels=labels).loss.numpy(), reference)
    step = tf.function(lambda kw: model(**kw).loss)
    np.testing.assert_allclose(step({"input_ids": x, "attention_mask": mask, "labels": labels}).numpy(), reference, rtol=1e-6)
