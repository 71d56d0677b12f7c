"""The transformer stack: `ElectraIntermediate`, `ElectraOutput`, `ElectraLayer`, `ElectraEncoder`.

Post-LayerNorm BERT layers as in HF `ElectraLayer` / `ElectraEncoder` (docs/reference.md section 2):
self-attention, optional cross-attention (decoders with `add_cross_attention`), then the
feed-forward block. Masks arrive already additive and broadcastable (built once per
forward in `model.py`); the cache format is described in `attention.py`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from electra.common.config import ElectraConfig
from electra.pt.activations import get_activation
from electra.pt.attention import ElectraAttention
from electra.pt.dropout import Dropout


class ElectraIntermediate(nn.Module):
    """Feed-forward expansion H -> I with `config.hidden_act`."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = get_activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states))  # (B, L, I)


class ElectraOutput(nn.Module):
    """Feed-forward contraction I -> H, dropout, residual and LayerNorm."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # HF name, kept for checkpoints
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)  # (B, L, H)


class ElectraLayer(nn.Module):
    """Self-attention, optional cross-attention, feed-forward."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.attention = ElectraAttention(config, relative=config.position_embedding_type != "absolute")
        if config.add_cross_attention:
            # HF builds cross-attention with absolute positions whatever the config says.
            self.crossattention = ElectraAttention(config, relative=False)
        self.intermediate = ElectraIntermediate(config)
        self.output = ElectraOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        past_key_value: tuple[torch.Tensor, ...] | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, tuple[torch.Tensor, ...]]:
        """Returns (hidden_states (B, L, H), self probabilities, cross probabilities, cache entry)."""
        self_past = past_key_value[:2] if past_key_value is not None else None
        hidden_states, self_probs, present = self.attention(
            hidden_states, attention_mask, head_mask, None, self_past, output_attentions
        )
        cross_probs = None
        if encoder_hidden_states is not None:
            if not hasattr(self, "crossattention"):
                raise ValueError("encoder_hidden_states needs a model built with config.add_cross_attention=True")
            cross_past = past_key_value[2:] if past_key_value is not None and len(past_key_value) == 4 else None
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, encoder_attention_mask, head_mask, encoder_hidden_states, cross_past, output_attentions
            )
            present = present + cross_present
        hidden_states = self.output(self.intermediate(hidden_states), hidden_states)
        return hidden_states, self_probs, cross_probs, present


class ElectraEncoder(nn.Module):
    """`num_hidden_layers` `ElectraLayer`s; optional gradient checkpointing per layer."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.layer = nn.ModuleList([ElectraLayer(config) for _ in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        past_key_values: tuple | None = None,
        use_cache: bool = False,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple | None, tuple | None, tuple | None, tuple | None]:
        """Args: `head_mask` (num_layers, N) or None. Returns (last hidden state, cache,
        hidden states, self-attention probabilities, cross-attention probabilities);
        the last four are None unless asked for."""
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_self = () if output_attentions else None
        all_cross = () if output_attentions and encoder_hidden_states is not None else None
        cache = () if use_cache else None
        checkpointing = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for i, layer in enumerate(self.layer):
            args = (
                hidden_states,
                attention_mask,
                None if head_mask is None else head_mask[i],
                encoder_hidden_states,
                encoder_attention_mask,
                None if past_key_values is None else past_key_values[i],
                output_attentions,
            )
            if checkpointing:
                hidden_states, self_probs, cross_probs, present = checkpoint(layer, *args, use_reentrant=False)
            else:
                hidden_states, self_probs, cross_probs, present = layer(*args)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden_states,)
            if output_attentions:
                all_self = all_self + (self_probs,)
                if all_cross is not None:
                    all_cross = all_cross + (cross_probs,)
            if use_cache:
                cache = cache + (present,)
        return hidden_states, cache, all_hidden, all_self, all_cross
