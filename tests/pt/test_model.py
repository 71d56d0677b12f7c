"""electra.pt models: shapes, fast path == explicit path, masks, cache, checkpointing,
autocast, torch.compile, tied embeddings, initialisation."""

from __future__ import annotations

import copy

import pytest
import torch

import electra.pt as pt
from conftest import tiny_config
from electra.common.weights.names import ARCHITECTURES, expected_shapes
from tests.pt.helpers import B, L, build, ids_for

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


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_shapes_and_state_dict_keys(architecture):
    model = build(architecture)
    config = model.config
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(config, architecture)
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
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(rows, 4, L))


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
    torch.testing.assert_close(model(inputs_embeds=embeds).last_hidden_state, base)
    torch.testing.assert_close(model(ids, token_type_ids=torch.zeros_like(ids)).last_hidden_state, base)
    torch.testing.assert_close(model(ids, position_ids=torch.arange(L).expand(B, L)).last_hidden_state, base)
    assert not torch.allclose(model(ids, token_type_ids=torch.ones_like(ids)).last_hidden_state, base)


@pytest.mark.parametrize("is_decoder", [False, True])
def test_sdpa_path_equals_explicit_path(is_decoder):
    model = build("ElectraModel", is_decoder=is_decoder)
    ids = ids_for("ElectraModel", model.config)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, -3:] = 0
    fast = model(ids, attention_mask=mask, use_cache=False)
    explicit = model(ids, attention_mask=mask, output_attentions=True, use_cache=False)
    ones = model(ids, attention_mask=mask, head_mask=torch.ones(4), use_cache=False)  # explicit through head_mask
    torch.testing.assert_close(fast.last_hidden_state, explicit.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast.last_hidden_state, ones.last_hidden_state, atol=1e-5, rtol=0)
    probs = explicit.attentions[0]
    assert torch.all(probs[1, :, :, -3:] == 0)  # padded keys get no weight
    if is_decoder:
        assert torch.all(probs[0].triu(1) == 0)  # no attention to later positions


def test_padding_does_not_change_unpadded_positions_and_masked_rows_stay_finite():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, -3:] = 0
    padded = model(ids, attention_mask=mask).last_hidden_state
    alone = model(ids[1:, :-3]).last_hidden_state
    torch.testing.assert_close(padded[1:, :-3], alone, atol=1e-5, rtol=0)
    for output_attentions in (False, True):
        out = model(ids, attention_mask=torch.zeros(B, L, dtype=torch.long), output_attentions=output_attentions)
        assert torch.isfinite(out.last_hidden_state).all()


def test_head_mask_zeroes_heads():
    model = build("ElectraModel")
    ids = ids_for("ElectraModel", model.config)
    head_mask = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    out = model(ids, head_mask=head_mask, output_attentions=True)
    assert torch.all(out.attentions[0][:, 1] == 0) and torch.all(out.attentions[1][:, 3] == 0)
    assert torch.all(out.attentions[0][:, 0] > 0)
    same_for_all = model(ids, head_mask=torch.tensor([1.0, 0.0, 1.0, 1.0]), output_attentions=True)
    assert torch.all(same_for_all.attentions[1][:, 1] == 0)


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
def test_cache_steps_equal_full_forward(position_embedding_type):
    model = build("ElectraForCausalLM", position_embedding_type=position_embedding_type)
    ids = ids_for("ElectraForCausalLM", model.config)
    with torch.no_grad():
        full = model(ids, use_cache=False).logits
        out = model(ids[:, :3])
        steps = [out.logits]
        for t in range(3, L):
            out = model(ids[:, t : t + 1], past_key_values=out.past_key_values)
            steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    k, v = out.past_key_values[0]
    assert k.shape == v.shape == (B, 4, L, 8)


def test_cross_attention_cache_is_reused():
    model = build("ElectraForCausalLM", add_cross_attention=True)
    ids = ids_for("ElectraForCausalLM", model.config)
    encoder = torch.randn(B, 5, 32)
    with torch.no_grad():
        full = model(ids, encoder_hidden_states=encoder, use_cache=False, output_attentions=True)
        first = model(ids[:, :-1], encoder_hidden_states=encoder)
        step = model(ids[:, -1:], encoder_hidden_states=encoder, past_key_values=first.past_key_values)
    assert [len(entry) for entry in step.past_key_values] == [4, 4]
    assert step.past_key_values[0][2] is first.past_key_values[0][2]  # computed once
    torch.testing.assert_close(step.logits[:, 0], full.logits[:, -1], atol=1e-5, rtol=0)
    assert len(full.cross_attentions) == 2 and full.cross_attentions[0].shape == (B, 4, L, 5)


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for checkpointing in (False, True):
        model = build("ElectraForPreTraining", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        ids = ids_for("ElectraForPreTraining", model.config)
        torch.manual_seed(0)
        loss = model(ids, labels=(ids % 2)).loss
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_gives_finite_outputs_and_losses(dtype):
    model = build("ElectraForPreTraining")
    ids = ids_for("ElectraForPreTraining", model.config)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, 2:] = 0
    mask[0] = 0  # a fully masked row
    reference = model(ids, attention_mask=mask).logits
    with torch.autocast("cpu", dtype=dtype):
        for output_attentions in (False, True):
            out = model(ids, attention_mask=mask, labels=ids % 2, output_attentions=output_attentions)
            assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)
    torch.testing.assert_close(out.logits.float()[1, :2], reference[1, :2], atol=0.1, rtol=0.05)


def test_torch_compile_equals_eager():
    model = build("ElectraForPreTraining")
    ids = ids_for("ElectraForPreTraining", model.config)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, -2:] = 0
    eager = model(ids, attention_mask=mask, labels=ids % 2)
    compiled = torch.compile(model)(ids, attention_mask=mask, labels=ids % 2)
    torch.testing.assert_close(compiled.logits, eager.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(compiled.loss, eager.loss, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("architecture", ["ElectraForMaskedLM", "ElectraForCausalLM"])
def test_generator_head_stays_tied(architecture, tmp_path):
    model = build(architecture)
    tied = lambda m: m.generator_lm_head.weight is m.electra.embeddings.word_embeddings.weight  # noqa: E731
    assert tied(model)
    assert tied(copy.deepcopy(model))
    assert tied(model.to(torch.float64)) and model.generator_lm_head.weight.dtype == torch.float64
    model = model.float()
    model.save_pretrained(tmp_path)
    assert tied(type(model).from_pretrained(tmp_path))
    old_bias = model.generator_lm_head.bias.detach().clone()
    model.resize_token_embeddings(120)
    assert tied(model) and model.config.vocab_size == 120
    assert model.generator_lm_head.bias.shape == (120,)
    torch.testing.assert_close(model.generator_lm_head.bias[:99], old_bias)
    assert model(torch.tensor([[119, 5]])).logits.shape == (1, 2, 120)
    with torch.no_grad():
        model.electra.embeddings.word_embeddings.weight[3].fill_(7.0)
    assert torch.all(model.generator_lm_head.weight[3] == 7.0)


def test_untied_generator_head_when_config_says_so():
    model = build("ElectraForMaskedLM", tie_word_embeddings=False)
    assert model.generator_lm_head.weight is not model.electra.embeddings.word_embeddings.weight


def test_initialisation_follows_hf():
    torch.manual_seed(0)
    model = pt.ElectraForMaskedLM(tiny_config(vocab_size=500, pad_token_id=3))
    word = model.electra.embeddings.word_embeddings.weight
    assert torch.all(word[3] == 0)
    assert abs(word.std().item() - 0.02) < 0.002
    layer = model.electra.encoder.layer[0]
    assert torch.all(layer.attention.self.query.bias == 0)
    assert torch.all(layer.output.LayerNorm.weight == 1) and torch.all(layer.output.LayerNorm.bias == 0)
    assert not any(name.endswith("position_ids") for name in model.state_dict())
