"""`generate` for `ElectraForCausalLM`: greedy decoding or sampling (temperature, top-k,
top-p), with the key/value cache (each step feeds only the new token) or without it
(each step recomputes the whole sequence; the same tokens, slower).
"""

from __future__ import annotations

import tensorflow as tf

from electra.common import validation


def filter_logits(logits: tf.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> tf.Tensor:
    """Scale logits (B, V) by 1/temperature and set those outside the top-k tokens and
    outside the smallest set of tokens whose probability reaches top_p to -inf."""
    logits = logits / temperature
    minus_inf = tf.fill(tf.shape(logits), float("-inf"))
    if top_k is not None and top_k < logits.shape[-1]:
        kth = tf.math.top_k(logits, top_k).values[:, -1:]  # (B, 1)
        logits = tf.where(logits < kth, minus_inf, logits)
    if top_p is not None and top_p < 1.0:
        order = tf.argsort(logits, axis=-1, direction="DESCENDING")
        sorted_logits = tf.gather(logits, order, batch_dims=1)
        probs = tf.nn.softmax(sorted_logits, axis=-1)
        before = tf.cumsum(probs, axis=-1) - probs  # probability of the tokens ranked above
        sorted_logits = tf.where(before >= top_p, minus_inf, sorted_logits)
        # Undo the sort: the inverse permutation of `order` is its argsort.
        logits = tf.gather(sorted_logits, tf.argsort(order, axis=-1), batch_dims=1)
    return logits


def _check(model, input_ids, max_new_tokens, temperature, top_k, top_p) -> None:
    validation.check_generate_args(model.config, tuple(input_ids.shape), max_new_tokens, temperature, top_k, top_p)


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
    generator: tf.random.Generator | None = None,
) -> tf.Tensor:
    """Continue `input_ids` (B, L) by up to `max_new_tokens` tokens.

    Args:
        do_sample: sample from the filtered distribution; otherwise take the argmax.
        temperature, top_k, top_p: sampling filters (see `filter_logits`).
        eos_token_id: a finished sequence is padded with `config.pad_token_id`; decoding
            stops early when every sequence has finished.
        attention_mask: (B, L) padding mask of the prompt; new tokens are attended.
        use_cache: feed one token per step with the key/value cache.
        generator: a `tf.random.Generator` for reproducible sampling.
    Returns:
        (B, L + new) int32 token ids.
    """
    input_ids = tf.cast(tf.convert_to_tensor(input_ids), tf.int32)
    _check(model, input_ids, max_new_tokens, temperature, top_k, top_p)
    generator = generator or tf.random.get_global_generator()
    B = input_ids.shape[0]
    tokens = input_ids
    mask = None if attention_mask is None else tf.cast(attention_mask, tf.int32)
    finished = tf.zeros((B,), tf.bool)
    past = None
    for _ in range(max_new_tokens):
        if use_cache:
            step_ids = tokens if past is None else tokens[:, -1:]
            out = model(step_ids, attention_mask=mask, past_key_values=past, use_cache=True)
            past = out.past_key_values
        else:
            out = model(tokens, attention_mask=mask, use_cache=False)
        logits = tf.cast(out.logits[:, -1], tf.float32)  # (B, V)
        if do_sample:
            filtered = filter_logits(logits, temperature, top_k, top_p)
            seed = generator.make_seeds(1)[:, 0]
            next_ids = tf.cast(tf.random.stateless_categorical(filtered, 1, seed=seed)[:, 0], tf.int32)
        else:
            next_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if eos_token_id is not None:
            next_ids = tf.where(finished, model.config.pad_token_id, next_ids)
            finished = finished | (next_ids == eos_token_id)
        tokens = tf.concat([tokens, next_ids[:, None]], axis=1)
        if mask is not None:
            mask = tf.concat([mask, tf.ones((B, 1), mask.dtype)], axis=1)
        if eos_token_id is not None and bool(tf.reduce_all(finished)):
            break
    return tokens
