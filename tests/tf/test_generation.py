"""generate: greedy and sampled decoding, cached == recomputed, filters, stopping."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import electra.tf as etf
from conftest import tiny_config
from electra.common.weights.random import random_state_dict
from electra.tf.generation import filter_logits


@pytest.fixture(scope="module")
def model():
    config = tiny_config(is_decoder=True, position_embedding_type="relative_key")
    m = etf.ElectraForCausalLM(config)
    m.load_canonical_state_dict(random_state_dict(config, "ElectraForCausalLM", seed=9))
    return m


PROMPT = np.array([[5, 17, 42], [8, 9, 10]], np.int32)


def test_greedy_cached_equals_recomputed_and_is_the_argmax(model):
    cached = model.generate(PROMPT, max_new_tokens=6).numpy()
    full = model.generate(PROMPT, max_new_tokens=6, use_cache=False).numpy()
    assert cached.shape == (2, 9) and np.array_equal(cached, full) and np.array_equal(cached[:, :3], PROMPT)
    logits = model(cached[:, :-1], use_cache=False).logits.numpy()
    assert np.array_equal(logits[:, 2:].argmax(-1), cached[:, 3:])


def test_sampling_cached_equals_recomputed(model):
    kwargs = dict(max_new_tokens=8, do_sample=True, temperature=0.8, top_k=20, top_p=0.9)
    cached = model.generate(PROMPT, generator=tf.random.Generator.from_seed(1), **kwargs).numpy()
    full = model.generate(PROMPT, generator=tf.random.Generator.from_seed(1), use_cache=False, **kwargs).numpy()
    assert np.array_equal(cached, full)
    other = model.generate(PROMPT, generator=tf.random.Generator.from_seed(2), **dict(kwargs, temperature=5.0, top_k=None, top_p=None))
    assert not np.array_equal(cached, other.numpy())


def test_filters():
    logits = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]]))
    top2 = filter_logits(logits, top_k=2).numpy()
    assert np.isinf(top2[0, 2:]).all() and np.isfinite(top2[0, :2]).all()
    assert np.isfinite(filter_logits(logits, top_p=0.7).numpy())[0].tolist() == [True, True, False, False]  # 0.5 < 0.7 <= 0.5 + 0.3
    assert np.isfinite(filter_logits(logits, top_p=0.01).numpy())[0].tolist() == [True, False, False, False]
    np.testing.assert_allclose(filter_logits(logits, temperature=2.0).numpy(), logits.numpy() / 2)


def test_eos_stops_and_pads(model):
    first = model.generate(PROMPT, max_new_tokens=1).numpy()[:, -1]
    out = model.generate(PROMPT, max_new_tokens=5, eos_token_id=int(first[0])).numpy()
    assert out[0, 3] == first[0] and np.all(out[0, 4:] == model.config.pad_token_id)


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.generate(PROMPT, max_new_tokens=62)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(PROMPT, do_sample=True, temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        model.generate(PROMPT, do_sample=True, top_p=1.5)
