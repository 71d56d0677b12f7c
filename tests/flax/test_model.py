"""electra.flax models: shapes, fused path == explicit path, masks, cache, jit, vmap, grad,
remat, dropout, bfloat16, a short optax loop, tied embeddings, initialisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import traverse_util

import electra.flax as ef
from conftest import tiny_config
from electra.common.weights.layouts import hf_flax_to_canonical
from electra.common.weights.names import ARCHITECTURES, expected_shapes
from helpers import B, L, build, ids_for, padding_mask

EXPECTED = {
    "ElectraModel": {"last_hidden_state": (B, L, 32)},
    "ElectraForPreTraining": {"logits": (B, L)},
    "ElectraForMaskedLM": {"logits": (B, L, 99)},
    "ElectraForCausalLM": {"logits": (B, L, 99)},
    "ElectraForSequenceClassification": {"logits": (B, 3)},
    "ElectraForMultipleChoice": {"logits": (B, 3)},
    "ElectraForTokenClassification": {"logits": (B, L, 3)},
    "ElectraForQuestionAnswering": {"start_logits": (B, L), "end_logits": (B, L)},
}


def close(a, b, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), atol=atol, rtol=0)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_shapes_and_canonical_keys(architecture):
    model = build(architecture)
    config = model.config
    shapes = {k: v.shape for k, v in model.canonical_state_dict().items()}
    assert shapes == expected_shapes(config, architecture)
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(model.params))
    ids = ids_for(architecture, config)
    rows = 2 * 3 if architecture == "ElectraForMultipleChoice" else B
    out = model(ids)
    for name, shape in EXPECTED[architecture].items():
        assert getattr(out, name).shape == shape
    assert out.hidden_states is None and out.attentions is None
    out = model(ids, output_attentions=True, output_hidden_states=True)
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    assert all(h.shape == (rows, L, 32) for h in out.hidden_states)
    assert len(out.attentions) == config.num_hidden_layers
    assert all(a.shape == (rows, 4, L, L) for a in out.attentions)
    close(out.attentions[0].sum(-1), np.ones((rows, 4, L)))


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key", "relative_key_query"])
def test_relative_positions_add_distance_tables(position_embedding_type):
    model = build("ElectraModel", position_embedding_type=position_embedding_type)
    has_table = "distance_embedding" in model.params["encoder"]["layer"]["0"]["attention"]["self"]
    assert has_table == (position_embedding_type != "absolute")
    out = model(ids_for("ElectraModel", model.config)).last_hidden_state
    assert out.shape == (B, L, 32) and np.isfinite(np.asarray(out)).all()


def test_inputs_embeds_and_default_ids_equal_explicit_ones():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    base = model(ids).last_hidden_state
    embeds = model.params["embeddings"]["word_embeddings"]["embedding"][ids]  # (B, L, E)
    close(model(inputs_embeds=embeds).last_hidden_state, base)
    close(model(ids, token_type_ids=np.zeros_like(ids)).last_hidden_state, base)
    close(model(ids, position_ids=np.broadcast_to(np.arange(L), (B, L))).last_hidden_state, base)
    assert not np.allclose(model(ids, token_type_ids=np.ones_like(ids)).last_hidden_state, base, atol=1e-3)


@pytest.mark.parametrize("is_decoder", [False, True])
def test_fused_path_equals_explicit_path(is_decoder):
    model = build("ElectraModel", is_decoder=is_decoder)
    ids = ids_for("ElectraModel", model.config)
    mask = padding_mask()
    fast = model(ids, attention_mask=mask, use_cache=False)
    explicit = model(ids, attention_mask=mask, output_attentions=True, use_cache=False)
    ones = model(ids, attention_mask=mask, head_mask=np.ones(4, np.float32), use_cache=False)
    close(fast.last_hidden_state, explicit.last_hidden_state)
    close(fast.last_hidden_state, ones.last_hidden_state)
    probs = np.asarray(explicit.attentions[0])
    assert np.all(probs[1, :, :, -3:] == 0)  # padded keys get no weight
    if is_decoder:
        assert np.all(np.triu(probs[0], 1) == 0)  # no attention to later positions


def test_padding_does_not_change_unpadded_positions_and_masked_rows_stay_finite():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    padded = model(ids, attention_mask=padding_mask()).last_hidden_state
    alone = model(ids[1:, :-3]).last_hidden_state
    close(padded[1:, :-3], alone)
    for output_attentions in (False, True):
        out = model(ids, attention_mask=np.zeros((B, L), np.int32), output_attentions=output_attentions)
        assert np.isfinite(np.asarray(out.last_hidden_state)).all()


def test_head_mask_zeroes_heads():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    head_mask = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]], np.float32)
    out = model(ids, head_mask=head_mask, output_attentions=True)
    assert np.all(np.asarray(out.attentions[0][:, 1]) == 0) and np.all(np.asarray(out.attentions[1][:, 3]) == 0)
    assert np.all(np.asarray(out.attentions[0][:, 0]) > 0)
    same_for_all = model(ids, head_mask=np.array([1.0, 0.0, 1.0, 1.0], np.float32), output_attentions=True)
    assert np.all(np.asarray(same_for_all.attentions[1][:, 1]) == 0)


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
def test_cache_steps_equal_full_forward(position_embedding_type):
    model = build("ElectraForCausalLM", position_embedding_type=position_embedding_type)
    ids = ids_for("ElectraForCausalLM", model.config)
    full = model(ids, use_cache=False).logits
    out = model(ids[:, :3])
    steps = [out.logits]
    for t in range(3, L):
        out = model(ids[:, t : t + 1], past_key_values=out.past_key_values)
        steps.append(out.logits)
    close(jnp.concatenate(steps, axis=1), full)
    k, v = out.past_key_values[0]
    assert k.shape == v.shape == (B, 4, L, 8)


def test_fixed_size_cache_with_cache_index_equals_full_forward_under_jit():
    model = build("ElectraForCausalLM", position_embedding_type="relative_key")
    ids = ids_for("ElectraForCausalLM", model.config)
    full = model(ids, use_cache=False).logits
    T = L + 2  # two unused slots at the end, hidden by the causal mask
    shape = (B, 4, T, 8)
    cache = tuple((jnp.zeros(shape), jnp.zeros(shape)) for _ in range(2))
    mask = np.ones((B, T), np.int32)

    @jax.jit
    def step(params, token, cache, index):
        out = model.module.apply({"params": params}, token, attention_mask=mask, past_key_values=cache,
                                 cache_index=index, use_cache=True)
        return out.logits, out.past_key_values

    logits = []
    for t in range(L):
        out, cache = step(model.params, ids[:, t : t + 1], cache, jnp.int32(t))
        logits.append(out)
    close(jnp.concatenate(logits, axis=1), full)
    assert step._cache_size() == 1  # every step has the same shapes: one compilation


def test_cross_attention_cache_is_reused():
    model = build("ElectraForCausalLM", add_cross_attention=True)
    ids = ids_for("ElectraForCausalLM", model.config)
    encoder = np.random.default_rng(1).normal(size=(B, 5, 32)).astype(np.float32)
    full = model(ids, encoder_hidden_states=encoder, use_cache=False, output_attentions=True)
    first = model(ids[:, :-1], encoder_hidden_states=encoder)
    step = model(ids[:, -1:], encoder_hidden_states=encoder, past_key_values=first.past_key_values)
    assert [len(entry) for entry in step.past_key_values] == [4, 4]
    assert step.past_key_values[0][2] is first.past_key_values[0][2]  # computed once
    close(step.logits[:, 0], full.logits[:, -1])
    assert len(full.cross_attentions) == 2 and full.cross_attentions[0].shape == (B, 4, L, 5)


@pytest.mark.parametrize("architecture", ["ElectraForPreTraining", "ElectraForMultipleChoice", "ElectraForCausalLM"])
def test_jit_equals_no_jit(architecture):
    model = build(architecture)
    ids = ids_for(architecture, model.config)
    mask = padding_mask(ids.shape)
    eager = model(ids, attention_mask=mask, output_hidden_states=True)
    jitted = jax.jit(lambda params, ids, mask: model(ids, attention_mask=mask, params=params, output_hidden_states=True))
    out = jitted(model.params, ids, mask)
    assert type(out) is type(eager)  # outputs are pytrees
    close(out.logits, eager.logits)
    for a, b in zip(out.hidden_states, eager.hidden_states):
        close(a, b)


def _loss_and_grads(model, ids, rng):
    def loss_fn(params):
        return model(ids, labels=ids % 2, params=params, train=True, dropout_rng=rng).loss

    return jax.value_and_grad(loss_fn)(model.params)


def test_remat_gives_the_same_gradients():
    changes = dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    plain = build("ElectraForPreTraining", **changes)
    remat = build("ElectraForPreTraining", model_kwargs=dict(gradient_checkpointing=True), **changes)
    ids = ids_for("ElectraForPreTraining", plain.config)
    loss_a, grads_a = _loss_and_grads(plain, ids, jax.random.key(3))
    loss_b, grads_b = _loss_and_grads(remat, ids, jax.random.key(3))
    close(loss_a, loss_b, atol=1e-6)
    a, b = hf_flax_to_canonical(grads_a), hf_flax_to_canonical(grads_b)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(np.asarray(b[key]), np.asarray(a[key]), atol=1e-6, rtol=1e-5, err_msg=key)


def test_dropout_follows_dropout_rng():
    model = build("ElectraForPreTraining", hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    ids = ids_for("ElectraForPreTraining", model.config)
    with pytest.raises(ValueError, match="dropout_rng"):
        model(ids, train=True)
    eval_logits = model(ids).logits
    a = model(ids, train=True, dropout_rng=jax.random.key(0)).logits
    again = model(ids, train=True, dropout_rng=jax.random.key(0)).logits
    other = model(ids, train=True, dropout_rng=jax.random.key(1)).logits
    close(a, again, atol=0)
    assert not np.allclose(a, other, atol=1e-4) and not np.allclose(a, eval_logits, atol=1e-4)
    close(model(ids, dropout_rng=jax.random.key(1)).logits, eval_logits, atol=0)  # train=False: no dropout


def test_vmap_and_grad_with_explicit_params():
    model = build("ElectraForSequenceClassification")
    ids = ids_for("ElectraForSequenceClassification", model.config)
    batched = model(ids).logits  # (B, 3)
    per_example = jax.vmap(lambda x: model(x[None], params=model.params).logits[0])(jnp.asarray(ids))
    close(per_example, batched)
    # Gradient with respect to the params of a loss, and a finite-difference check of one bias.
    labels = np.array([0, 2])
    loss_fn = lambda params: model(ids, labels=labels, params=params).loss  # noqa: E731
    grads = jax.grad(loss_fn)(model.params)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(model.params)
    bias = model.params["classifier"]["out_proj"]["bias"]
    eps = 1e-2
    shifted = jax.tree_util.tree_map(lambda x: x, model.params)
    shifted["classifier"]["out_proj"]["bias"] = bias.at[1].add(eps)
    numeric = (loss_fn(shifted) - loss_fn(model.params)) / eps
    assert float(grads["classifier"]["out_proj"]["bias"][1]) == pytest.approx(float(numeric), abs=2e-3)


def test_bfloat16_compute_keeps_float32_params_and_stays_close():
    reference = build("ElectraForPreTraining")
    half = build("ElectraForPreTraining", model_kwargs=dict(dtype=jnp.bfloat16))
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(half.params))
    ids = ids_for("ElectraForPreTraining", reference.config)
    mask = padding_mask()
    mask[0] = 0  # a fully masked row
    for output_attentions in (False, True):
        out = half(ids, attention_mask=mask, labels=ids % 2, output_attentions=output_attentions)
        assert out.logits.dtype == jnp.bfloat16
        assert np.isfinite(np.asarray(out.logits, np.float32)).all() and np.isfinite(float(out.loss))
        assert out.loss.dtype == jnp.float32
    expected = reference(ids, attention_mask=mask).logits
    close(np.asarray(out.logits, np.float32)[1, :4], expected[1, :4], atol=0.1)
    grads = jax.grad(lambda p: half(ids, attention_mask=mask, labels=ids % 2, params=p).loss)(half.params)
    assert all(g.dtype == jnp.float32 and np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grads))


def test_a_short_optax_loop_lowers_the_loss():
    model = build("ElectraForMaskedLM", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    ids = ids_for("ElectraForMaskedLM", model.config)
    labels = np.where(np.arange(L) % 2 == 0, ids, -100)
    optimizer = optax.adamw(3e-3)

    @jax.jit
    def step(params, opt_state, rng):
        loss, grads = jax.value_and_grad(
            lambda p: model(ids, labels=labels, params=p, train=True, dropout_rng=rng).loss
        )(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params, opt_state = model.params, optimizer.init(model.params)
    losses = []
    for i in range(30):
        params, opt_state, loss = step(params, opt_state, jax.random.key(i))
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    assert float(model(ids, labels=labels, params=params).loss) < float(model(ids, labels=labels).loss)


@pytest.mark.parametrize("architecture", ["ElectraForMaskedLM", "ElectraForCausalLM"])
def test_generator_head_is_tied_to_the_word_table(architecture):
    model = build(architecture)
    assert set(model.params["generator_lm_head"]) == {"bias"}  # no weight of its own
    state = model.canonical_state_dict()
    np.testing.assert_array_equal(state["generator_lm_head.weight"], state["electra.embeddings.word_embeddings.weight"])
    ids = ids_for(architecture, model.config)
    params = jax.tree_util.tree_map(lambda x: x, model.params)
    table = params["electra"]["embeddings"]["word_embeddings"]["embedding"]
    params["electra"]["embeddings"]["word_embeddings"]["embedding"] = table.at[3].set(7.0)
    # Changing row 3 of the table changes the logit of token 3 at every position.
    before, after = model(ids).logits, model(ids[:, :1], params=params).logits
    assert not np.allclose(before[:, 0, 3], after[:, 0, 3])
    grads = jax.grad(lambda p: model(ids, labels=ids, params=p).loss)(model.params)
    assert np.abs(np.asarray(grads["electra"]["embeddings"]["word_embeddings"]["embedding"])).sum() > 0


def test_untied_generator_head_when_config_says_so():
    model = build("ElectraForMaskedLM", tie_word_embeddings=False)
    assert set(model.params["generator_lm_head"]) == {"kernel", "bias"}
    state = model.canonical_state_dict()
    assert not np.array_equal(state["generator_lm_head.weight"], state["electra.embeddings.word_embeddings.weight"])


def test_initialisation_follows_hf():
    model = ef.ElectraForMaskedLM(tiny_config(vocab_size=500, pad_token_id=3), seed=0)
    word = np.asarray(model.params["electra"]["embeddings"]["word_embeddings"]["embedding"])
    assert np.all(word[3] == 0)
    assert abs(word.std() - 0.02) < 0.002
    layer = model.params["electra"]["encoder"]["layer"]["0"]
    assert np.all(np.asarray(layer["attention"]["self"]["query"]["bias"]) == 0)
    assert np.all(np.asarray(layer["output"]["LayerNorm"]["scale"]) == 1)
    assert np.all(np.asarray(layer["output"]["LayerNorm"]["bias"]) == 0)
    other = ef.ElectraForMaskedLM(tiny_config(vocab_size=500, pad_token_id=3), seed=1)
    assert not np.allclose(word, other.params["electra"]["embeddings"]["word_embeddings"]["embedding"])


@pytest.mark.parametrize("architecture, changes", [
    ("ElectraForMultipleChoice", {}),
    ("ElectraForCausalLM", {"is_decoder": True, "add_cross_attention": True}),
])
def test_initialisation_equals_flax_init_on_real_inputs(architecture, changes):
    """`lazy_init` (initialisers only) gives the values `module.init` gives after a forward pass."""
    import flax.linen as nn

    model = ef.MODEL_CLASSES[architecture](tiny_config(**changes), seed=4)
    inputs = {k: jnp.zeros(v.shape, v.dtype) for k, v in model._dummy_inputs().items()}
    reference = nn.unbox(model.module.init({"params": jax.random.key(4)}, **inputs)["params"])
    table = reference["electra"]["embeddings"]["word_embeddings"]["embedding"]
    reference["electra"]["embeddings"]["word_embeddings"]["embedding"] = table.at[model.config.pad_token_id].set(0)
    assert jax.tree_util.tree_structure(model.params) == jax.tree_util.tree_structure(reference)
    for got, want in zip(jax.tree_util.tree_leaves(model.params), jax.tree_util.tree_leaves(reference)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


# Each class's tuple with labels, as HF's PyTorch models order it (HF's Flax heads take no labels).
TUPLE_FIELDS = {
    "ElectraModel": ("last_hidden_state", "hidden_states"),
    "ElectraForPreTraining": ("loss", "logits", "hidden_states"),
    "ElectraForMaskedLM": ("loss", "logits", "hidden_states"),
    "ElectraForCausalLM": ("loss", "logits", "past_key_values", "hidden_states"),
    "ElectraForSequenceClassification": ("loss", "logits", "hidden_states"),
    "ElectraForMultipleChoice": ("loss", "logits", "hidden_states"),
    "ElectraForTokenClassification": ("loss", "logits", "hidden_states"),
    "ElectraForQuestionAnswering": ("loss", "start_logits", "end_logits", "hidden_states"),
}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_return_dict_false_gives_the_tuple_of_set_fields(architecture):
    model = build(architecture)
    ids = ids_for(architecture, model.config)
    labels = {}
    if architecture == "ElectraForQuestionAnswering":
        labels = dict(start_positions=np.array([1, 2]), end_positions=np.array([3, 4]))
    elif architecture in ("ElectraForSequenceClassification", "ElectraForMultipleChoice"):
        labels = dict(labels=np.array([0, 2]))
    elif architecture != "ElectraModel":
        labels = dict(labels=ids % 2)
    kwargs = dict(attention_mask=padding_mask(ids.shape), output_hidden_states=True)
    if architecture == "ElectraForCausalLM":
        kwargs["use_cache"] = True  # with labels the cache is off by default
    out = model(ids, **labels, **kwargs)
    tuple_out = model(ids, **labels, **kwargs, return_dict=False)
    assert type(tuple_out) is tuple
    expected = tuple(getattr(out, name) for name in TUPLE_FIELDS[architecture])
    assert jax.tree_util.tree_structure(tuple_out) == jax.tree_util.tree_structure(expected)
    for got, want in zip(jax.tree_util.tree_leaves(tuple_out), jax.tree_util.tree_leaves(expected)):
        close(got, want)
    no_labels = model(ids, return_dict=False)  # HF Flax's own case: the logits first
    assert len(no_labels) == (2 if architecture in ("ElectraForQuestionAnswering", "ElectraForCausalLM") else 1)
    model.config.return_dict = False  # as in electra.pt: the config's default when return_dict is not given
    assert type(model(ids)) is tuple and type(model(ids, return_dict=True)) is not tuple


def test_params_cast_to_bf16_fp16_and_back_as_hf_does():
    model = build("ElectraForSequenceClassification")
    ids, mask = ids_for("ElectraForSequenceClassification", model.config), padding_mask()
    half = model.to_bf16(model.params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree_util.tree_leaves(half))
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(model.params))  # a new tree
    logits = model(ids, attention_mask=mask, params=half).logits
    assert logits.dtype == jnp.float32  # the compute dtype is the model's
    close(logits, model(ids, attention_mask=mask).logits, atol=0.05)
    back = model.to_fp32(half)
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(back))
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b, np.float32)), back, half)
    assert all(x.dtype == jnp.float16 for x in jax.tree_util.tree_leaves(model.to_fp16(model.params)))
    # HF's docstring example: keep the LayerNorm parameters in float32.
    mask_tree = traverse_util.unflatten_dict({path: "LayerNorm" not in path for path in traverse_util.flatten_dict(model.params)})
    mixed = traverse_util.flatten_dict(model.to_bf16(model.params, mask_tree))
    assert {path for path, x in mixed.items() if x.dtype == jnp.float32} == \
        {path for path in mixed if "LayerNorm" in path} != set()
    assert all(x.dtype == jnp.bfloat16 for path, x in mixed.items() if "LayerNorm" not in path)
    # Non-float leaves are left alone.
    tree = {"w": jnp.ones(2), "step": jnp.ones(2, jnp.int32)}
    assert model.to_bf16(tree)["step"].dtype == jnp.int32
