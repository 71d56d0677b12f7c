"""`ElectraModel`: embeddings -> optional `embeddings_project` -> encoder (no pooler).

Matches HF `ElectraModel` (docs/reference.md sections 2 and 4). The public forward checks its
inputs before computing anything (`ValueError` naming the argument); the value-range
checks (token ids, token types, positions, labels) read the data on the host, so they run
in eager calls only (`reads_values`): a program captured by `torch.compile`,
`torch.export`, `torch.jit.trace` or a CUDA graph trusts its inputs. Nothing else in the
forward branches on tensor values, so a captured program is the eager computation.
"""

from __future__ import annotations

import torch
from torch import nn

from electra.common import validation
from electra.common.config import ElectraConfig
from electra.common.outputs import ElectraModelOutput
from electra.pt.embeddings import ElectraEmbeddings
from electra.pt.encoder import ElectraEncoder
from electra.pt.pretrained import ElectraPreTrainedModel


def reads_values() -> bool:
    """Whether the forward may read tensor values on the host: not while a program is
    captured (compile, export, jit.trace: the read would fix the program to the example;
    CUDA graph capture: the read fails)."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    return not (torch.cuda.is_available() and torch.cuda.is_current_stream_capturing())


def _min_max(x: torch.Tensor) -> tuple[int, int]:
    low, high = torch.aminmax(x)
    return int(low), int(high)


def check_forward_inputs(config: ElectraConfig, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, head_mask,
                         past_length: int = 0) -> None:
    """Shape and range checks of a forward call (`ValueError` naming the argument)."""
    shape = lambda t: None if t is None else tuple(t.shape)  # noqa: E731
    validation.check_inputs(
        config,
        input_ids=shape(input_ids),
        inputs_embeds=shape(inputs_embeds),
        attention_mask=shape(attention_mask),
        token_type_ids=shape(token_type_ids),
        position_ids=shape(position_ids),
        past_length=past_length,
    )
    validation.check_head_mask(config, shape(head_mask))
    if not reads_values():
        return
    validation.check_token_ranges(
        config,
        ids=None if input_ids is None else _min_max(input_ids),
        types=None if token_type_ids is None else _min_max(token_type_ids),
        positions=None if position_ids is None else _min_max(position_ids),
    )


def check_label_values(architecture: str, config: ElectraConfig, name: str, labels: torch.Tensor | None,
                       attention_mask: torch.Tensor | None = None, length: int | None = None, num_choices: int | None = None) -> None:
    """Raise `ValueError` (naming `name`, the allowed values and the first value outside
    them) unless every label lies in its head's range (`validation.label_range`); eager
    calls only (`reads_values`)."""
    if labels is None or not reads_values():
        return
    rule = validation.label_range(architecture, config, name, length=length, num_choices=num_choices,
                                  float_labels=labels.is_floating_point())
    if rule is None:
        return
    bad = rule.outside(labels, attention_mask)
    if bool(bad.any()):
        raise ValueError(rule.message(name, labels[bad][0].item()))


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype attention scores are computed in (the autocast dtype under autocast)."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """1 = attend, 0 = masked -> 0 / finfo(dtype).min, same shape (finite, so a fully
    masked row gives a uniform softmax rather than NaN)."""
    return (1.0 - mask.to(dtype)) * torch.finfo(dtype).min


def self_attention_mask(attention_mask, B: int, L: int, past_length: int, causal: bool, dtype, device) -> torch.Tensor | None:
    """Additive mask (B or 1, 1, L or 1, past_length + L), or None for an encoder without a mask.

    Decoders combine the padding mask with a causal mask: query i (absolute position
    past_length + i) sees keys 0..past_length + i.
    """
    if not causal:
        # A given mask is always applied, all ones or not: testing it would read it on the host.
        if attention_mask is None:
            return None
        return additive_mask(attention_mask[:, None, None, :], dtype)  # (B, 1, 1, L_kv)
    keys = torch.arange(past_length + L, device=device)
    queries = torch.arange(past_length, past_length + L, device=device)
    allowed = (keys[None, :] <= queries[:, None])[None, None]  # (1, 1, L, L_kv)
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, None, :].bool()  # (B, 1, L, L_kv)
    return additive_mask(allowed, dtype)


class ElectraModel(ElectraPreTrainedModel):
    """The bare ELECTRA network: returns hidden states, no head."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.embeddings = ElectraEmbeddings(config)
        if config.has_embeddings_project:
            self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)
        self.encoder = ElectraEncoder(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        past_key_values: tuple | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        check_inputs: bool = True,
    ) -> ElectraModelOutput | tuple:
        """Args:
            input_ids: (B, L) token ids, or `inputs_embeds` (B, L, E) instead.
            attention_mask: (B, L_past + L), 1 = attend, 0 = padding.
            token_type_ids, position_ids: (B, L); default zeros and L_past + arange(L).
            head_mask: (N,) or (num_layers, N), multiplies the attention probabilities.
            encoder_hidden_states: (B, L_enc, H), cross-attention input (decoders).
            encoder_attention_mask: (B, L_enc).
            past_key_values: cache from a previous call (format in `attention.py`).
            use_cache: return the cache; default `config.use_cache` for decoders, else False.
            output_attentions, output_hidden_states: default `config.output_attentions`,
                `config.output_hidden_states` (HF's, False unless set).
            return_dict: False for HF's tuple (the set fields in order); default
                `config.use_return_dict`.
            check_inputs: False when a head class has already checked them.
        Returns:
            `ElectraModelOutput`: `last_hidden_state` (B, L, H) and what was asked for.
        """
        config = self.config
        past_length = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        if check_inputs:
            check_forward_inputs(config, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, head_mask, past_length)
            if encoder_hidden_states is not None:
                B = (input_ids if input_ids is not None else inputs_embeds).shape[0]
                validation.check_labels("encoder_hidden_states", tuple(encoder_hidden_states.shape), (B, None, config.hidden_size))
                if encoder_attention_mask is not None:
                    validation.check_labels("encoder_attention_mask", tuple(encoder_attention_mask.shape), encoder_hidden_states.shape[:2])
        if use_cache is None:
            use_cache = config.use_cache and config.is_decoder
        if output_attentions is None:
            output_attentions = config.output_attentions
        if output_hidden_states is None:
            output_hidden_states = config.output_hidden_states
        if past_key_values is not None and not config.is_decoder:
            raise ValueError("past_key_values needs a decoder (config.is_decoder=True)")

        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, past_length)
        if hasattr(self, "embeddings_project"):
            hidden_states = self.embeddings_project(hidden_states)  # (B, L, H)
        B, L, _ = hidden_states.shape
        dtype, device = compute_dtype(hidden_states), hidden_states.device
        mask = self_attention_mask(attention_mask, B, L, past_length, config.is_decoder, dtype, device)
        encoder_mask = None
        if encoder_hidden_states is not None and encoder_attention_mask is not None:
            encoder_mask = additive_mask(encoder_attention_mask[:, None, None, :], dtype)  # (B, 1, 1, L_enc)
        if head_mask is not None:
            head_mask = head_mask.to(dtype).expand(config.num_hidden_layers, config.num_attention_heads)

        last, cache, hidden, attentions, cross = self.encoder(
            hidden_states, mask, head_mask, encoder_hidden_states, encoder_mask,
            past_key_values, use_cache, output_attentions, output_hidden_states,
        )
        output = ElectraModelOutput(
            last_hidden_state=last, past_key_values=cache, hidden_states=hidden, attentions=attentions, cross_attentions=cross
        )
        return self._output(output, return_dict)
