"""electra.tf models: shapes, canonical keys, masks, head mask, cache, cross-attention,
mixed precision, XLA == eager, tied embeddings, initialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import electra.tf as etf
from conftest import tiny_config
from electra.common.weights.names import ARCHITECTURES, expected_shapes, tied_keys
from tests.tf.helpers import B, L, build, ids_for

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
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=0)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_shapes_canonical_keys_and_param_count(architecture):
    model = build(architecture)
    config = model.config
    shapes = expected_shapes(config, architecture)
    assert {k: v.shape for k, v in model.canonical_state_dict().items()} == shapes
    untied = [k for k in shapes if k not in tied_keys(config, architecture)]
    assert model.count_params() == sum(int(np.prod(shapes[k])) for k in untied)
    ids = ids_for(architecture, config)
    rows = 2 * 3 if architecture == "ElectraForMultipleChoice" else B
    out = model(ids)
    for name, shape in EXPECTED[architecture].items():
        assert tuple(getattr(out, name).shape) == shape
    assert out.hidden_states is None and out.attentions is None
    out = model(ids, output_attentions=True, output_hidden_states=True)
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    assert all(h.shape == (rows, L, 32) for h in out.hidden_states)
    assert len(out.attentions) == config.num_hidden_layers
    assert all(a.shape == (rows, 4, L, L) for a in out.attentions)
    close(tf.reduce_sum(out.attentions[0], -1), np.ones((rows, 4, L)))


def test_builds_on_first_call_and_counts_parameters():
    config = tiny_config()
    model = etf.ElectraModel(config)
    assert not model.built
    model(np.ones((1, 3), np.int32))
    assert model.built and model.count_params() == config.num_parameters()


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key", "relative_key_query"])
def test_relative_positions_add_distance_tables(position_embedding_type):
    model = build("ElectraModel", position_embedding_type=position_embedding_type)
    has_table = hasattr(model.encoder.layer[0].attention.self, "distance_embedding")
    assert has_table == (position_embedding_type != "absolute")
    assert model(ids_for("ElectraModel", model.config)).last_hidden_state.shape == (B, L, 32)


def test_inputs_embeds_and_default_ids_equal_explicit_ones():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    base = model(ids).last_hidden_state
    embeds = model.embeddings.word_embeddings(ids)
    close(model(inputs_embeds=embeds).last_hidden_state, base)
    close(model(ids, token_type_ids=np.zeros_like(ids)).last_hidden_state, base)
    close(model(ids, position_ids=np.broadcast_to(np.arange(L), (B, L))).last_hidden_state, base)
    assert not np.allclose(model(ids, token_type_ids=np.ones_like(ids)).last_hidden_state, base)


@pytest.mark.parametrize("is_decoder", [False, True])
def test_padded_keys_and_later_positions_get_no_weight(is_decoder):
    model = build("ElectraModel", is_decoder=is_decoder)
    ids = ids_for("ElectraModel", model.config)
    mask = np.ones((B, L), np.int32)
    mask[1, -3:] = 0
    probs = model(ids, attention_mask=mask, output_attentions=True, use_cache=False).attentions[0].numpy()
    assert np.all(probs[1, :, :, -3:] == 0)
    if is_decoder:
        assert np.all(np.triu(probs[0], 1) == 0)


def test_padding_does_not_change_unpadded_positions_and_masked_rows_stay_finite():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    mask = np.ones((B, L), np.int32)
    mask[1, -3:] = 0
    padded = model(ids, attention_mask=mask).last_hidden_state
    alone = model(ids[1:, :-3]).last_hidden_state
    close(padded[1:, :-3], alone)
    out = model(ids, attention_mask=np.zeros((B, L), np.int32), output_attentions=True)
    assert np.isfinite(out.last_hidden_state.numpy()).all()


def test_head_mask_zeroes_heads():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    head_mask = np.array([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]], np.float32)
    out = model(ids, head_mask=head_mask, output_attentions=True)
    assert np.all(out.attentions[0].numpy()[:, 1] == 0) and np.all(out.attentions[1].numpy()[:, 3] == 0)
    assert np.all(out.attentions[0].numpy()[:, 0] > 0)
    same_for_all = model(ids, head_mask=np.array([1.0, 0.0, 1.0, 1.0], np.float32), output_attentions=True)
    assert np.all(same_for_all.attentions[1].numpy()[:, 1] == 0)


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
    close(tf.concat(steps, axis=1), full)
    k, v = out.past_key_values[0]
    assert k.shape == v.shape == (B, 4, L, 8)


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


def test_dropout_only_in_training_and_classifier_dropout_is_used():
    model = build("ElectraForSequenceClassification", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.5)
    ids = ids_for("ElectraForSequenceClassification", model.config)
    close(model(ids).logits, model(ids, training=False).logits, atol=0)
    assert not np.allclose(model(ids, training=True).logits, model(ids).logits)
    quiet = build("ElectraForSequenceClassification", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    close(quiet(ids, training=True).logits, quiet(ids).logits)


def test_mixed_bfloat16_gives_finite_outputs_close_to_float32():
    reference = build("ElectraForPreTraining")
    ids = ids_for("ElectraForPreTraining", reference.config)
    mask = np.ones((B, L), np.int32)
    mask[1, 2:] = 0
    expected = reference(ids, attention_mask=mask).logits.numpy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build("ElectraForPreTraining")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    out = model(ids, attention_mask=mask, labels=ids % 2, output_attentions=True)
    assert out.logits.dtype == tf.bfloat16 and model.electra.embeddings.word_embeddings.embeddings.dtype == "float32"
    assert np.isfinite(tf.cast(out.logits, tf.float32).numpy()).all() and np.isfinite(out.loss.numpy())
    close(tf.cast(out.logits, tf.float32), expected, atol=0.15)


def test_tf_function_and_xla_equal_eager():
    model = build("ElectraForPreTraining", position_embedding_type="relative_key")
    ids = ids_for("ElectraForPreTraining", model.config)
    mask = np.ones((B, L), np.int32)
    mask[1, -2:] = 0
    eager = model(ids, attention_mask=mask, labels=ids % 2)
    for jit_compile in (False, True):
        step = tf.function(lambda i, m, y: model(i, attention_mask=m, labels=y), jit_compile=jit_compile)
        compiled = step(ids, mask, ids % 2)
        close(compiled.logits, eager.logits)
        close(compiled.loss, eager.loss)


@pytest.mark.parametrize("architecture", ["ElectraForMaskedLM", "ElectraForCausalLM"])
def test_generator_head_reads_the_word_embeddings(architecture):
    model = build(architecture)
    head_vars = [v.name for v in model.generator_lm_head.weights]
    assert head_vars == ["bias"]  # the table is the embeddings' own, not a copy
    ids = ids_for(architecture, model.config)
    table = model.electra.embeddings.word_embeddings.embeddings
    table.assign(tf.tensor_scatter_nd_update(table, [[3]], tf.fill((1, 24), 7.0)))
    state = model.canonical_state_dict()
    assert np.all(state["generator_lm_head.weight"][3] == 7.0)
    hidden = model.generator_predictions(model.electra(ids).last_hidden_state)
    close(model(ids).logits[..., 3], tf.reduce_sum(hidden * 7.0, -1) + model.generator_lm_head.bias[3], atol=1e-4)


def test_untied_generator_head_when_config_says_so():
    model = build("ElectraForMaskedLM", tie_word_embeddings=False)
    assert sorted(v.name for v in model.generator_lm_head.weights) == ["bias", "kernel"]
    state = model.canonical_state_dict()
    assert not np.array_equal(state["generator_lm_head.weight"], state["electra.embeddings.word_embeddings.weight"])


def test_initialisation_follows_hf():
    keras.utils.set_random_seed(0)
    model = etf.ElectraForMaskedLM(tiny_config(vocab_size=500, pad_token_id=3))
    model.build()
    state = model.canonical_state_dict()
    word = state["electra.embeddings.word_embeddings.weight"]
    assert np.all(word[3] == 0)
    assert abs(word.std() - 0.02) < 0.002
    assert np.all(state["electra.encoder.layer.0.attention.self.query.bias"] == 0)
    assert np.all(state["electra.encoder.layer.0.output.LayerNorm.weight"] == 1)
    assert np.all(state["electra.encoder.layer.0.output.LayerNorm.bias"] == 0)
