"""Bad inputs raise `ValueError` naming the argument, before any computation, eagerly and
while `tf.function` traces; out-of-range ids raise under `tf.function` and give NaN (not
silently clamped values) under `jit_compile=True`."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import electra.tf as etf
from conftest import tiny_config
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
