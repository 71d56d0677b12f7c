"""`generate` for `ElectraForCausalLM`: greedy decoding or sampling (temperature, top-k,
top-p), with the key/value cache (each step feeds only the new token) or without it
(each step recomputes the whole sequence; the same tokens, slower).
"""

from __future__ import annotations

import torch

from electra.common import validation


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Scale logits (B, V) by 1/temperature and set those outside the top-k tokens and
    outside the smallest set of tokens whose probability reaches top_p to -inf."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above
        sorted_logits = sorted_logits.masked_fill(before >= top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def _check(model, input_ids, max_new_tokens, temperature, top_k, top_p) -> None:
    validation.check_generate_args(model.config, tuple(input_ids.shape), max_new_tokens, temperature, top_k, top_p)


@torch.no_grad()
def generate(
    model,
    input_ids: torch.Tensor,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | None = None,
    attention_mask: torch.Tensor | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue `input_ids` (B, L) by up to `max_new_tokens` tokens.

    Args:
        do_sample: sample from the filtered distribution; otherwise take the argmax.
        temperature, top_k, top_p: sampling filters (see `filter_logits`).
        eos_token_id: a finished sequence is padded with `config.pad_token_id`; decoding
            stops early when every sequence has finished.
        attention_mask: (B, L) padding mask of the prompt; new tokens are attended.
        use_cache: feed one token per step with the key/value cache.
        generator: a `torch.Generator` for reproducible sampling.
    Returns:
        (B, L + new) token ids.
    """
    _check(model, input_ids, max_new_tokens, temperature, top_k, top_p)
    B = input_ids.shape[0]
    tokens = input_ids
    mask = attention_mask
    finished = torch.zeros(B, dtype=torch.bool, device=input_ids.device)
    past = None
    for _ in range(max_new_tokens):
        if use_cache:
            step_ids = tokens if past is None else tokens[:, -1:]
            out = model(step_ids, attention_mask=mask, past_key_values=past, use_cache=True, return_dict=True)
            past = out.past_key_values
        else:
            out = model(tokens, attention_mask=mask, use_cache=False, return_dict=True)
        logits = out.logits[:, -1].float()  # (B, V)
        if do_sample:
            probs = torch.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)
            next_ids = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            next_ids = logits.argmax(dim=-1)
        if eos_token_id is not None:
            next_ids = next_ids.masked_fill(finished, model.config.pad_token_id)
            finished = finished | (next_ids == eos_token_id)
        tokens = torch.cat([tokens, next_ids[:, None]], dim=1)
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(B, 1)], dim=1)
        if eos_token_id is not None and bool(finished.all()):
            break
    return tokens
