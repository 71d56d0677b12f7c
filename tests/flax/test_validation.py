"""Bad inputs raise `ValueError` naming the argument, before any computation; value ranges
are checked whenever the inputs are concrete, and through `checkify` inside a user's jit."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import electra.flax as ef
from conftest import tiny_config

B, L = 2, 5


class _Spy:
    """Stands in for `model.module` and records every `apply`."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def apply(self, *args, **kwargs):
        self.calls.append(1)
        return self.module.apply(*args, **kwargs)


@pytest.fixture(scope="module")
def base_model():
    return ef.ElectraForSequenceClassification(tiny_config())


@pytest.fixture
def model(base_model, monkeypatch):
    spy = _Spy(base_model.module)
    monkeypatch.setattr(base_model, "module", spy)
    base_model.calls = spy.calls
    return base_model


def ids(*shape, high=99):
    return np.random.default_rng(0).integers(1, high, shape).astype(np.int32)


CASES = [
    ("input_ids", dict(input_ids=np.array([[1, 99, 2]]))),
    ("input_ids", dict(input_ids=np.array([[1, -1, 2]]))),
    ("input_ids", dict(input_ids=ids(2, 3, 4))),
    ("input_ids", dict(input_ids=ids(B, L).astype(np.float32))),
    ("token_type_ids", dict(input_ids=ids(B, L), token_type_ids=np.full((B, L), 3))),
    ("position_ids", dict(input_ids=ids(B, L), position_ids=np.full((B, L), 64))),
    ("max_position_embeddings", dict(input_ids=ids(1, 65))),
    ("attention_mask", dict(input_ids=ids(B, L), attention_mask=np.ones((B, L + 1)))),
    ("token_type_ids", dict(input_ids=ids(B, L), token_type_ids=np.zeros((B + 1, L), np.int32))),
    ("labels", dict(input_ids=ids(B, L), labels=np.array([0, 1, 2]))),
    ("head_mask", dict(input_ids=ids(B, L), head_mask=np.ones(3))),
    ("inputs_embeds", dict(inputs_embeds=np.zeros((B, L, 7)))),
    ("both", dict(input_ids=ids(B, L), inputs_embeds=np.zeros((B, L, 24)))),
    ("neither", dict()),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_input_names_the_argument_before_computing(model, name, kwargs):
    with pytest.raises(ValueError, match=name):
        model(**kwargs)
    assert model.calls == []


def test_shape_checks_also_run_under_jit(model):
    with pytest.raises(ValueError, match="token_type_ids"):
        jax.jit(lambda x, t: model(x, token_type_ids=t).logits)(ids(B, L), np.zeros((B, L + 1), np.int32))


@pytest.mark.parametrize("architecture, labels", [
    ("ElectraForPreTraining", np.zeros((B, L + 1))),
    ("ElectraForMaskedLM", np.zeros(B, np.int32)),
    ("ElectraForTokenClassification", np.zeros((B + 1, L), np.int32)),
])
def test_label_shapes_are_checked(architecture, labels):
    model = ef.MODEL_CLASSES[architecture](tiny_config())
    with pytest.raises(ValueError, match="labels"):
        model(ids(B, L), labels=labels)


def test_multiple_choice_and_question_answering_check_their_arguments():
    mc = ef.ElectraForMultipleChoice(tiny_config())
    with pytest.raises(ValueError, match="input_ids"):
        mc(ids(B, L))
    with pytest.raises(ValueError, match="attention_mask"):
        mc(ids(B, 3, L), attention_mask=np.ones((B, 2, L)))
    with pytest.raises(ValueError, match="labels"):
        mc(ids(B, 3, L), labels=np.zeros((B, 3), np.int32))
    qa = ef.ElectraForQuestionAnswering(tiny_config())
    with pytest.raises(ValueError, match="end_positions"):
        qa(ids(B, L), start_positions=np.zeros(B, np.int32))
    with pytest.raises(ValueError, match="start_positions"):
        qa(ids(B, L), start_positions=np.zeros(B + 1, np.int32), end_positions=np.zeros(B + 1, np.int32))


def test_decoder_arguments_are_checked():
    with pytest.raises(ValueError, match="is_decoder"):
        ef.ElectraForCausalLM(tiny_config())
    model = ef.ElectraForCausalLM(tiny_config(is_decoder=True))
    with pytest.raises(ValueError, match="add_cross_attention"):
        model(ids(B, L), encoder_hidden_states=np.zeros((B, 3, 32), np.float32))
    past = model(ids(B, 60)).past_key_values
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(ids(B, 5), past_key_values=past)
    with pytest.raises(ValueError, match="past_key_values"):
        ef.ElectraModel(tiny_config())(ids(B, 1), past_key_values=past)


def test_out_of_range_ids_inside_jit_are_caught_by_checkify(base_model):
    model = base_model

    def logits(params, input_ids, token_type_ids):
        model.check_ranges(input_ids, token_type_ids)
        return model(input_ids, token_type_ids=token_type_ids, params=params).logits

    checked = jax.jit(checkify.checkify(logits))
    good_ids, types = ids(B, L), np.zeros((B, L), np.int32)
    err, out = checked(model.params, good_ids, types)
    err.throw()  # no error
    np.testing.assert_allclose(np.asarray(out), np.asarray(model(good_ids, token_type_ids=types).logits), atol=1e-6)
    bad = good_ids.copy()
    bad[0, 1] = 99
    err, _ = checked(model.params, bad, types)
    with pytest.raises(checkify.JaxRuntimeError, match=r"input_ids must lie in \[0, vocab_size=99\), got values in \[\d+, 99\]"):
        err.throw()
    err, _ = checked(model.params, good_ids, np.full((B, L), 5, np.int32))
    with pytest.raises(checkify.JaxRuntimeError, match="token_type_ids"):
        err.throw()
    # Without checkify, a jitted call trusts its ids (JAX clamps the gather): no error.
    jax.jit(lambda p, x: model(x, params=p).logits)(model.params, jnp.asarray(bad))


# ----------------------------------------------------------------------------- label values
@pytest.fixture(scope="module")
def models():
    """One tiny model per (architecture, config changes), built on first use."""
    cache = {}

    def get(architecture, **changes):
        key = (architecture, repr(sorted(changes.items())))
        if key not in cache:
            if architecture == "ElectraForCausalLM":
                changes = dict(changes, is_decoder=True)
            cache[key] = ef.MODEL_CLASSES[architecture](tiny_config(**changes))
        return cache[key]

    return get


def _padded_mask():
    mask = np.ones((B, L), np.int32)
    mask[1, -2:] = 0
    return mask


def _with(shape, value, fill=0, dtype=np.int32):
    """An array of `fill` with `value` at the last position of the first row."""
    array = np.full(shape, fill, dtype)
    array[(0,) * (len(shape) - 1) + (-1,)] = value
    return array


# (architecture, config changes, label keywords, the bad argument, the expected message)
BAD_LABELS = [
    ("ElectraForSequenceClassification", {}, dict(labels=_with((B,), 5)), "labels",
     r"labels must lie in [0, num_labels=3), or -100 (ignored), got 5"),
    ("ElectraForSequenceClassification", {}, dict(labels=_with((B, 3), 1.5, dtype=np.float32)), "labels",
     r"labels must lie in [0, 1] (multi-label targets), got 1.5"),
    ("ElectraForMultipleChoice", {}, dict(labels=_with((B,), 3)), "labels",
     r"labels must lie in [0, num_choices=3), or -100 (ignored), got 3"),
    ("ElectraForTokenClassification", {}, dict(labels=_with((B, L), -1)), "labels",
     r"labels must lie in [0, num_labels=3), or -100 (ignored), got -1"),
    ("ElectraForMaskedLM", {}, dict(labels=_with((B, L), 99)), "labels",
     r"labels must lie in [0, vocab_size=99), or -100 (ignored), got 99"),
    ("ElectraForCausalLM", {}, dict(labels=_with((B, L), -3)), "labels",
     r"labels must lie in [0, vocab_size=99), or -100 (ignored), got -3"),
    ("ElectraForQuestionAnswering", {}, dict(start_positions=_with((B,), L + 1), end_positions=np.zeros(B, np.int32)),
     "start_positions", rf"start_positions must lie in [0, {L}] ({L} = the sequence length: outside the input, ignored), got {L + 1}"),
    ("ElectraForQuestionAnswering", {}, dict(start_positions=np.zeros(B, np.int32), end_positions=_with((B,), -100)),
     "end_positions", rf"end_positions must lie in [0, {L}] ({L} = the sequence length: outside the input, ignored), got -100"),
    ("ElectraForPreTraining", {}, dict(labels=_with((B, L), 2)), "labels",
     r"labels must lie in [0, 1] (1 = replaced) at attended positions, got 2"),
]
# Values at the edge of each rule, all allowed.
GOOD_LABELS = [
    ("ElectraForSequenceClassification", {}, dict(labels=np.array([2, -100], np.int32))),
    ("ElectraForSequenceClassification", {}, dict(labels=np.ones((B, 3), np.float32))),
    ("ElectraForSequenceClassification", dict(id2label={0: "score"}), dict(labels=np.array([7.5, -3.0], np.float32))),
    ("ElectraForMultipleChoice", {}, dict(labels=np.array([2, -100], np.int32))),
    ("ElectraForTokenClassification", {}, dict(labels=_with((B, L), -100, fill=2))),
    ("ElectraForMaskedLM", {}, dict(labels=_with((B, L), -100, fill=98))),
    ("ElectraForCausalLM", {}, dict(labels=_with((B, L), 98, fill=-100))),
    ("ElectraForQuestionAnswering", {}, dict(start_positions=np.array([0, L], np.int32), end_positions=np.array([L, 0], np.int32))),
    ("ElectraForPreTraining", {}, dict(labels=_with((B, L), 1))),
]


def _checked_under_jit(model, inputs):
    """The checkify error of `model.check_ranges(**inputs)` inside a jitted function (the
    forward pass is left out: the id-range test above shows the checks beside one)."""
    checked = jax.jit(checkify.checkify(lambda inputs: model.check_ranges(**inputs)))
    err, _ = checked(inputs)
    return err


def _inputs(architecture, **labels):
    shape = (B, 3, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    return dict(input_ids=ids(*shape), **labels)


@pytest.mark.parametrize("architecture, changes, labels, name, message", BAD_LABELS,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(BAD_LABELS)])
def test_out_of_range_labels_name_the_argument_and_the_range(models, architecture, changes, labels, name, message):
    model = models(architecture, **changes)
    with pytest.raises(ValueError, match=re.escape(message) + "$"):
        model(**_inputs(architecture, **labels))
    err = _checked_under_jit(model, _inputs(architecture, **labels))
    with pytest.raises(checkify.JaxRuntimeError, match=re.escape(message)):
        err.throw()


@pytest.mark.parametrize("architecture, changes, labels", GOOD_LABELS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(GOOD_LABELS)])
def test_labels_at_the_edges_of_their_range_are_accepted(models, architecture, changes, labels):
    model = models(architecture, **changes)
    inputs = _inputs(architecture, **labels)
    assert np.isfinite(float(model(**inputs).loss))
    _checked_under_jit(model, inputs).throw()


def test_replaced_token_labels_are_checked_at_attended_positions_only(models):
    model = models("ElectraForPreTraining")
    mask = _padded_mask()
    labels = np.where(mask == 1, 1, 7).astype(np.int32)  # padding holds anything
    model(ids(B, L), attention_mask=mask, labels=labels)
    labels[1, 0] = 7
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\] \(1 = replaced\) at attended positions, got 7"):
        model(ids(B, L), attention_mask=mask, labels=labels)

    def loss(params, input_ids, mask, labels):
        model.check_ranges(input_ids, attention_mask=mask, labels=labels)
        return model(input_ids, attention_mask=mask, labels=labels, params=params).loss

    checked = jax.jit(checkify.checkify(loss))
    err, _ = checked(model.params, ids(B, L), mask, np.where(mask == 1, 0, 7).astype(np.int32))
    err.throw()
    err, _ = checked(model.params, ids(B, L), mask, labels)
    with pytest.raises(checkify.JaxRuntimeError, match="got 7"):
        err.throw()


def test_label_checks_need_the_input_shape(models):
    with pytest.raises(ValueError, match="input_ids or inputs_embeds"):
        models("ElectraForQuestionAnswering").check_ranges(start_positions=np.zeros(B, np.int32))
