"""`generate` for `ElectraForCausalLM`: greedy decoding or sampling (temperature, top-k,
top-p), with the key/value cache (each step feeds only the new token) or without it
(each step recomputes the whole sequence; the same tokens, slower). Mirrors
`electra.pt.generation`.

The cache is the fixed-size form of `attention.py`: one (B, N, L + max_new_tokens, D)
buffer per layer for keys and values, written at `cache_index`, so the prompt and every
later step each compile once (two compilations per model and prompt shape).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from electra.common import validation


def filter_logits(logits: jax.Array, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> jax.Array:
    """Scale logits (B, V) by 1/temperature and set those outside the top-k tokens and
    outside the smallest set of tokens whose probability reaches top_p to -inf."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]  # (B, 1)
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p is not None and top_p < 1.0:
        order = jnp.argsort(-logits, axis=-1)
        sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
        probs = jax.nn.softmax(sorted_logits, axis=-1)
        before = jnp.cumsum(probs, axis=-1) - probs  # probability of the tokens ranked above
        sorted_logits = jnp.where(before >= top_p, -jnp.inf, sorted_logits)
        logits = jnp.full_like(logits, -jnp.inf).at[jnp.arange(logits.shape[0])[:, None], order].set(sorted_logits)
    return logits


def _check(model, input_ids, max_new_tokens, temperature, top_k, top_p) -> None:
    validation.check_generate_args(model.config, tuple(input_ids.shape), max_new_tokens, temperature, top_k, top_p)
    validation.check_token_ranges(model.config, ids=(int(input_ids.min()), int(input_ids.max())))


def _cached_step_fn(model):
    """One jitted decoding call (prompt or single token) writing at `cache_index`; built once per model."""
    if getattr(model, "_cached_step", None) is None:
        def step(params, ids, mask, cache, index):
            out = model.module.apply({"params": params}, ids, attention_mask=mask, past_key_values=cache,
                                     cache_index=index, use_cache=True)
            return out.logits[:, -1].astype(jnp.float32), out.past_key_values

        model._cached_step = jax.jit(step)
    return model._cached_step


def generate(
    model,
    input_ids,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | None = None,
    attention_mask=None,
    use_cache: bool = True,
    rng: jax.Array | None = None,
    params: dict | None = None,
) -> jax.Array:
    """Continue `input_ids` (B, L) by up to `max_new_tokens` tokens.

    Args:
        do_sample: sample from the filtered distribution; otherwise take the argmax.
        temperature, top_k, top_p: sampling filters (see `filter_logits`).
        eos_token_id: a finished sequence is padded with `config.pad_token_id`; decoding
            stops early when every sequence has finished.
        attention_mask: (B, L) padding mask of the prompt; new tokens are attended.
        use_cache: feed one token per step with the fixed-size key/value cache.
        rng: a `jax.random` key for sampling (default `jax.random.key(0)`).
        params: default `model.params`.
    Returns:
        (B, L + new) token ids.
    """
    input_ids = jnp.asarray(input_ids)
    _check(model, input_ids, max_new_tokens, temperature, top_k, top_p)
    params = model.params if params is None else params
    rng = jax.random.key(0) if rng is None else rng
    config = model.config
    B, L = input_ids.shape
    prompt_mask = jnp.ones((B, L), jnp.int32) if attention_mask is None else jnp.asarray(attention_mask, jnp.int32)
    tokens = input_ids
    finished = jnp.zeros((B,), bool)
    if use_cache:
        T = L + max_new_tokens
        mask = jnp.concatenate([prompt_mask, jnp.ones((B, T - L), jnp.int32)], axis=1)  # (B, T)
        shape = (B, config.num_attention_heads, T, config.head_dim)
        cache = tuple((jnp.zeros(shape, model.dtype), jnp.zeros(shape, model.dtype)) for _ in range(config.num_hidden_layers))
        step = _cached_step_fn(model)
    for i in range(max_new_tokens):
        if use_cache:
            step_ids = tokens if i == 0 else tokens[:, -1:]
            logits, cache = step(params, step_ids, mask, cache, jnp.asarray(0 if i == 0 else L + i - 1, jnp.int32))
        else:
            mask = jnp.concatenate([prompt_mask, jnp.ones((B, i), jnp.int32)], axis=1)
            logits = model(tokens, attention_mask=mask, params=params, use_cache=False).logits[:, -1].astype(jnp.float32)
        if do_sample:
            rng, key = jax.random.split(rng)
            next_ids = jax.random.categorical(key, filter_logits(logits, temperature, top_k, top_p), axis=-1)
        else:
            next_ids = jnp.argmax(logits, axis=-1)
        next_ids = next_ids.astype(tokens.dtype)
        if eos_token_id is not None:
            next_ids = jnp.where(finished, config.pad_token_id, next_ids)
            finished = finished | (next_ids == eos_token_id)
        tokens = jnp.concatenate([tokens, next_ids[:, None]], axis=1)
        if eos_token_id is not None and bool(np.asarray(finished).all()):
            break
    return tokens
