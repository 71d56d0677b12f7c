"""electra.flax models through `jax.export` and `jax2tf` with symbolic batch and length.

Each function is exported once for every (B, L) and called at a batch and length that no
tracing saw (B=3, L=5, the eager tests use B=2, L=7), padding mask included; the results
must equal the eager model's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export
from jax.experimental import checkify

from electra.common.weights.names import ARCHITECTURES
from helpers import build

B, L = 3, 5  # not the helpers' (2, 7): the exported functions were traced for any (B, L)


def symbolic_inputs(architecture: str):
    """Abstract (b, l) int32 specs (multiple choice: (b, c, l)) and concrete ones at (3, 5)."""
    multiple_choice = architecture == "ElectraForMultipleChoice"
    dims = export.symbolic_shape("b, c, l" if multiple_choice else "b, l")
    shape = (B, 2, L) if multiple_choice else (B, L)
    ids = np.random.default_rng(1).integers(1, 99, shape).astype(np.int32)
    mask = np.ones(shape, np.int32)
    mask[1, ..., -2:] = 0
    return jax.ShapeDtypeStruct(dims, jnp.int32), ids, mask


def forward(model, return_dict=True):
    """The call being exported: the output dataclass, or the tuple `return_dict=False` gives."""
    return lambda params, ids, mask: model(ids, attention_mask=mask, params=params, return_dict=return_dict)


def assert_trees_close(got, expected, atol):
    got_leaves, expected_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)
    assert len(got_leaves) == len(expected_leaves) > 0
    for a, b in zip(got_leaves, expected_leaves):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=0)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_exported_model_equals_eager_at_a_new_batch_and_length(architecture):
    model = build(architecture)
    spec, ids, mask = symbolic_inputs(architecture)
    exported = export.export(jax.jit(forward(model)))(model.params, spec, spec)
    restored = export.deserialize(exported.serialize())
    got = restored.call(model.params, ids, mask)
    eager = forward(model)(model.params, ids, mask)
    assert type(got) is type(eager)  # the output class survives serialisation
    assert_trees_close(got, jax.jit(forward(model))(model.params, ids, mask), atol=0)  # the same program
    assert_trees_close(got, eager, atol=1e-5)  # eager: unfused float32 ops


def test_gradient_and_vmap_export_with_symbolic_shapes():
    model = build("ElectraForTokenClassification")
    spec, ids, mask = symbolic_inputs("ElectraForTokenClassification")

    def loss(params, ids, mask):
        return model(ids, attention_mask=mask, labels=ids % 3, params=params).loss

    grads = export.export(jax.jit(jax.grad(loss)))(model.params, spec, spec).call(model.params, ids, mask)
    assert_trees_close(grads, jax.jit(jax.grad(loss))(model.params, ids, mask), atol=1e-6)

    def per_example(params, ids, mask):  # (b, l) -> (b, l, num_labels), one example at a time
        return jax.vmap(lambda x, m: model(x[None], attention_mask=m[None], params=params).logits[0])(ids, mask)

    got = export.export(jax.jit(per_example))(model.params, spec, spec).call(model.params, ids, mask)
    assert_trees_close(got, model(ids, attention_mask=mask).logits, atol=1e-5)


def test_checkify_range_checks_with_symbolic_shapes():
    model = build("ElectraForQuestionAnswering")
    spec, ids, _ = symbolic_inputs("ElectraForQuestionAnswering")
    positions = jax.ShapeDtypeStruct(spec.shape[:1], jnp.int32)

    def loss(params, ids, start, end):
        model.check_ranges(ids, start_positions=start, end_positions=end)
        return model(ids, start_positions=start, end_positions=end, params=params).loss

    checked = jax.jit(checkify.checkify(loss))
    checked.lower(model.params, spec, positions, positions)  # traces with symbolic (b, l)
    start = np.zeros(B, np.int32)
    err, value = checked(model.params, ids, start, np.array([L, 1, 2], np.int32))  # L: outside the input, allowed
    err.throw()
    assert np.isfinite(float(value))
    err, _ = checked(model.params, ids, start, np.array([1, L + 1, 2], np.int32))
    with pytest.raises(checkify.JaxRuntimeError, match=rf"end_positions must lie in \[0, {L}\]"):
        err.throw()


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_jax2tf_model_equals_eager_at_a_new_batch_and_length(tf, architecture):
    from jax.experimental import jax2tf

    model = build(architecture)
    _, ids, mask = symbolic_inputs(architecture)
    dims = "(b, c, l)" if architecture == "ElectraForMultipleChoice" else "(b, l)"
    converted = jax2tf.convert(lambda ids, mask: forward(model, return_dict=False)(model.params, ids, mask),
                               polymorphic_shapes=[dims, dims])
    spec = tf.TensorSpec([None] * ids.ndim, tf.int32)
    function = tf.function(converted, autograph=False, input_signature=[spec, spec])
    got = function(tf.constant(ids), tf.constant(mask))
    expected = forward(model, return_dict=False)(model.params, ids, mask)
    assert_trees_close(tf.nest.map_structure(lambda t: t.numpy(), got), expected, atol=1e-5)


def test_jax2tf_saved_model_round_trip(tf, tmp_path):
    from jax.experimental import jax2tf

    model = build("ElectraForSequenceClassification")
    _, ids, mask = symbolic_inputs("ElectraForSequenceClassification")
    module = tf.Module()
    module.params = tf.nest.map_structure(tf.Variable, model.params)  # weights as variables, not constants
    converted = jax2tf.convert(lambda params, ids, mask: model(ids, attention_mask=mask, params=params).logits,
                               polymorphic_shapes=[None, "(b, l)", "(b, l)"], with_gradient=False)
    spec = tf.TensorSpec([None, None], tf.int32)
    module.logits = tf.function(lambda ids, mask: converted(module.params, ids, mask), autograph=False,
                                input_signature=[spec, spec])
    tf.saved_model.save(module, str(tmp_path))
    restored = tf.saved_model.load(str(tmp_path))
    got = restored.logits(tf.constant(ids), tf.constant(mask)).numpy()
    np.testing.assert_allclose(got, np.asarray(model(ids, attention_mask=mask).logits), atol=1e-5, rtol=0)
