"""generate: greedy and sampled decoding, cached == recomputed, filters, stopping."""

from __future__ import annotations

import pytest
import torch

import electra.pt as pt
from conftest import tiny_config
from electra.common.weights.random import random_state_dict
from electra.pt.generation import filter_logits


@pytest.fixture(scope="module")
def model():
    config = tiny_config(is_decoder=True, position_embedding_type="relative_key")
    m = pt.ElectraForCausalLM(config)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in random_state_dict(config, "ElectraForCausalLM", seed=9).items()})
    return m.eval()


PROMPT = torch.tensor([[5, 17, 42], [8, 9, 10]])


def test_greedy_cached_equals_recomputed_and_is_the_argmax(model):
    cached = model.generate(PROMPT, max_new_tokens=6)
    full = model.generate(PROMPT, max_new_tokens=6, use_cache=False)
    assert cached.shape == (2, 9) and torch.equal(cached, full) and torch.equal(cached[:, :3], PROMPT)
    with torch.no_grad():
        logits = model(cached[:, :-1], use_cache=False).logits
    assert torch.equal(logits[:, 2:].argmax(-1), cached[:, 3:])


def test_sampling_cached_equals_recomputed(model):
    kwargs = dict(max_new_tokens=8, do_sample=True, temperature=0.8, top_k=20, top_p=0.9)
    cached = model.generate(PROMPT, generator=torch.Generator().manual_seed(1), **kwargs)
    full = model.generate(PROMPT, generator=torch.Generator().manual_seed(1), use_cache=False, **kwargs)
    assert torch.equal(cached, full)
    other = model.generate(PROMPT, generator=torch.Generator().manual_seed(2), **dict(kwargs, temperature=5.0, top_k=None, top_p=None))
    assert not torch.equal(cached, other)


def test_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all() and torch.isfinite(filter_logits(logits, top_k=2)[0, :2]).all()
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))[0].tolist()
    assert kept == [True, True, False, False]  # 0.5 < 0.7 <= 0.5 + 0.3
    assert torch.isfinite(filter_logits(logits, top_p=0.01))[0].tolist() == [True, False, False, False]
    torch.testing.assert_close(filter_logits(logits, temperature=2.0), logits / 2)


def test_eos_stops_and_pads(model):
    first = model.generate(PROMPT, max_new_tokens=1)[:, -1]
    out = model.generate(PROMPT, max_new_tokens=5, eos_token_id=int(first[0]))
    assert out[0, 3] == first[0] and torch.all(out[0, 4:] == model.config.pad_token_id)


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.generate(PROMPT, max_new_tokens=62)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(PROMPT, do_sample=True, temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(PROMPT, do_sample=True, top_p=1.5)
