"""electra.pt against HF `transformers` 4.57 PyTorch ELECTRA, from the same seeded weights.

Each case builds the HF class and ours with identical canonical weights and compares
logits, hidden states, attentions and loss (1e-5). The file-format tests save with HF
(`model.safetensors`, `pytorch_model.bin`) and load with ours, and the reverse.
"""

from __future__ import annotations

import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

import electra.pt as ours  # noqa: E402
from conftest import tiny_config  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

ATOL = 1e-5
B, L = 2, 9


def hf_model(config, architecture, state):
    hf_config = transformers.ElectraConfig.from_dict(config.to_dict())
    model = getattr(transformers, architecture)(hf_config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model.eval()


def our_model(config, architecture, state):
    model = getattr(ours, architecture)(config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model.eval()


def inputs_for(architecture, config, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (B, 3, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    ids = torch.randint(1, config.vocab_size, shape, generator=g)
    mask = torch.ones(shape, dtype=torch.long)
    mask[1, ..., -3:] = 0  # padding in the second example
    types = torch.randint(0, config.type_vocab_size, shape, generator=g)
    kwargs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types)
    if architecture in ("ElectraForPreTraining",):
        kwargs["labels"] = torch.randint(0, 2, (B, L), generator=g)
    elif architecture in ("ElectraForMaskedLM", "ElectraForCausalLM"):
        labels = torch.randint(0, config.vocab_size, (B, L), generator=g)
        labels[0, :2] = -100
        kwargs["labels"] = labels
    elif architecture == "ElectraForTokenClassification":
        labels = torch.randint(0, config.num_labels, (B, L), generator=g)
        labels[1, -3:] = -100
        kwargs["labels"] = labels
    elif architecture == "ElectraForSequenceClassification":
        kwargs["labels"] = torch.randint(0, config.num_labels, (B,), generator=g)
    elif architecture == "ElectraForMultipleChoice":
        kwargs["labels"] = torch.randint(0, 3, (B,), generator=g)
    elif architecture == "ElectraForQuestionAnswering":
        kwargs["start_positions"] = torch.tensor([1, L])  # the second is L, outside the input: ignored
        kwargs["end_positions"] = torch.tensor([3, 5])
    return kwargs


def assert_same(theirs, mine):
    """Every field HF returns that ours has too: tensors, tuples of tensors, scalars."""
    compared = 0
    for name in ("loss", "logits", "start_logits", "end_logits", "last_hidden_state", "hidden_states", "attentions", "cross_attentions"):
        a, b = getattr(theirs, name, None), getattr(mine, name, None)
        if a is None:
            assert b is None, name
            continue
        a = a if isinstance(a, tuple) else (a,)
        b = b if isinstance(b, tuple) else (b,)
        assert len(a) == len(b), name
        for x, y in zip(a, b):
            assert x.shape == y.shape, name
            torch.testing.assert_close(y, x, atol=ATOL, rtol=0, msg=name)
            compared += 1
    assert compared >= 3


ARCHITECTURES = [
    "ElectraModel",
    "ElectraForPreTraining",
    "ElectraForMaskedLM",
    "ElectraForCausalLM",
    "ElectraForSequenceClassification",
    "ElectraForMultipleChoice",
    "ElectraForTokenClassification",
    "ElectraForQuestionAnswering",
]


def config_for(architecture, **changes):
    if architecture == "ElectraForCausalLM":
        changes.setdefault("is_decoder", True)
    if architecture == "ElectraForQuestionAnswering":
        changes.setdefault("id2label", {0: "start", 1: "end"})  # HF sizes qa_outputs by num_labels
    return tiny_config(**changes)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_class_matches_hf(architecture):
    config = config_for(architecture)
    state = random_state_dict(config, architecture, seed=1)
    kwargs = inputs_for(architecture, config)
    with torch.no_grad():
        theirs = hf_model(config, architecture, state)(**kwargs, output_attentions=True, output_hidden_states=True, use_cache=False) \
            if architecture == "ElectraForCausalLM" else \
            hf_model(config, architecture, state)(**kwargs, output_attentions=True, output_hidden_states=True)
        mine = our_model(config, architecture, state)(**kwargs, output_attentions=True, output_hidden_states=True)
        fast = our_model(config, architecture, state)(**kwargs)  # the SDPA path
    assert_same(theirs, mine)
    for name in ("logits", "start_logits", "last_hidden_state", "loss"):
        if getattr(theirs, name, None) is not None:
            torch.testing.assert_close(getattr(fast, name), getattr(theirs, name), atol=ATOL, rtol=0)


@pytest.mark.parametrize("position_embedding_type", ["relative_key", "relative_key_query"])
@pytest.mark.parametrize("architecture", ["ElectraModel", "ElectraForPreTraining"])
def test_relative_positions_match_hf(position_embedding_type, architecture):
    config = tiny_config(position_embedding_type=position_embedding_type)
    state = random_state_dict(config, architecture, seed=2)
    kwargs = inputs_for(architecture, config)
    with torch.no_grad():
        theirs = hf_model(config, architecture, state)(**kwargs, output_attentions=True, output_hidden_states=True)
        mine = our_model(config, architecture, state)(**kwargs, output_attentions=True, output_hidden_states=True)
    assert_same(theirs, mine)


def test_head_mask_and_inputs_embeds_match_hf():
    config = tiny_config()
    state = random_state_dict(config, "ElectraForPreTraining", seed=3)
    kwargs = inputs_for("ElectraForPreTraining", config)
    embeds = torch.randn(B, L, config.embedding_size, generator=torch.Generator().manual_seed(0))
    kwargs.update(input_ids=None, inputs_embeds=embeds, head_mask=torch.tensor([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]]))
    with torch.no_grad():
        theirs = hf_model(config, "ElectraForPreTraining", state)(**kwargs, output_attentions=True)
        mine = our_model(config, "ElectraForPreTraining", state)(**kwargs, output_attentions=True)
    assert_same(theirs, mine)


def _hf_cache(legacy):
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    self_cache, cross_cache = DynamicCache(), DynamicCache()
    for i, entry in enumerate(legacy):
        self_cache.update(entry[0], entry[1], i)
        if len(entry) == 4:
            cross_cache.update(entry[2], entry[3], i)
    cache = EncoderDecoderCache(self_cache, cross_cache)
    for i in range(len(legacy)):
        cache.is_updated[i] = len(legacy[i]) == 4
    return cache


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
def test_decoder_with_cross_attention_and_cache_matches_hf(position_embedding_type):
    config = tiny_config(is_decoder=True, add_cross_attention=True, position_embedding_type=position_embedding_type)
    state = random_state_dict(config, "ElectraForCausalLM", seed=4)
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(1, config.vocab_size, (B, L), generator=g)
    encoder_states = torch.randn(B, 5, config.hidden_size, generator=g)
    encoder_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, :2] = 0  # left padding
    hf, mine = hf_model(config, "ElectraForCausalLM", state), our_model(config, "ElectraForCausalLM", state)
    common = dict(encoder_hidden_states=encoder_states, encoder_attention_mask=encoder_mask, output_attentions=True, output_hidden_states=True)
    with torch.no_grad():
        theirs = hf(ids, attention_mask=mask, labels=ids, use_cache=False, **common)
        full = mine(ids, attention_mask=mask, labels=ids, use_cache=False, **common)
        assert_same(theirs, full)
        # Prefix with the cache, then one step, against HF's step with the same cache.
        prefix = mine(ids[:, :-1], attention_mask=mask[:, :-1], use_cache=True, **common)
        step = mine(ids[:, -1:], attention_mask=mask, past_key_values=prefix.past_key_values, **common)
        their_step = hf(ids[:, -1:], attention_mask=mask, past_key_values=_hf_cache(prefix.past_key_values), use_cache=True, **common)
    assert_same(their_step, step)
    torch.testing.assert_close(step.logits[:, 0], full.logits[:, -1], atol=ATOL, rtol=0)
    assert len(step.past_key_values[0]) == 4 and step.past_key_values[0][0].shape == (B, config.num_attention_heads, L, config.head_dim)


# ------------------------------------------------------------------ files, both directions
checkpoint = pytest.importorskip("electra.common.weights.checkpoint")


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "pytorch_model.bin"])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_hf_saved_files_load_into_ours(tmp_path, architecture, safe):
    config = config_for(architecture)
    state = random_state_dict(config, architecture, seed=6)
    hf = hf_model(config, architecture, state)
    hf.save_pretrained(tmp_path, safe_serialization=safe)
    mine = getattr(ours, architecture).from_pretrained(tmp_path)
    kwargs = inputs_for(architecture, config)
    extra = {"use_cache": False} if architecture == "ElectraForCausalLM" else {}
    with torch.no_grad():
        assert_same(hf(**kwargs, output_hidden_states=True, output_attentions=True, **extra),
                    mine(**kwargs, output_hidden_states=True, output_attentions=True, **extra))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_our_saved_files_load_into_hf(tmp_path, architecture):
    config = config_for(architecture)
    state = random_state_dict(config, architecture, seed=7)
    mine = our_model(config, architecture, state)
    mine.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = getattr(transformers, architecture).from_pretrained(tmp_path).eval()
    kwargs = inputs_for(architecture, config)
    extra = {"use_cache": False} if architecture == "ElectraForCausalLM" else {}
    with torch.no_grad():
        assert_same(hf(**kwargs, output_hidden_states=True, output_attentions=True, **extra),
                    mine(**kwargs, output_hidden_states=True, output_attentions=True, **extra))
    if architecture in ("ElectraForMaskedLM", "ElectraForCausalLM"):
        assert hf.generator_lm_head.weight.data_ptr() == hf.electra.embeddings.word_embeddings.weight.data_ptr()
