"""Multi-head attention: `ElectraSelfAttention`, `ElectraSelfOutput`, `ElectraAttention`.

Matches HF `ElectraSelfAttention` / `ElectraAttention` (docs/reference.md section 2), including
relative position scores, the decoder key/value cache and cross-attention.

Two paths give the same numbers (to float rounding):
- fused: `F.scaled_dot_product_attention`, used whenever the probabilities are not needed
  (no `output_attentions`, no `head_mask`, absolute positions) and, on CPU, without
  attention dropout (PyTorch's CPU SDPA with dropout is an unfused, slower kernel);
- explicit: scores, softmax, dropout, head mask, weighted sum, as HF writes it.
Self-attention without a cache runs the query, key and value projections as one matmul
over the concatenated canonical weights (the three parameters stay separate).

Cache format (shared by the three backends, HF's legacy tuples): `past_key_values` is a
tuple with one entry per layer; an entry is `(key, value)` for self-attention, or
`(key, value, cross_key, cross_value)` when the layer has cross-attention, each tensor
(B, N, L_kv, D). Self-attention entries grow by the new positions at every call; the
cross-attention entries are computed from `encoder_hidden_states` once and reused.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from electra.common.config import ElectraConfig
from electra.pt.dropout import Dropout

KeyValue = tuple[torch.Tensor, torch.Tensor]


class ElectraSelfAttention(nn.Module):
    """q, k, v projections and scaled dot-product attention over N heads of width D."""

    def __init__(self, config: ElectraConfig, relative: bool):
        super().__init__()
        H = config.hidden_size
        self.num_heads = config.num_attention_heads  # N
        self.head_dim = config.head_dim  # D
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)
        self.dropout = Dropout(config.attention_probs_dropout_prob)
        self.position_embedding_type = config.position_embedding_type if relative else "absolute"
        if relative:
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = nn.Embedding(2 * config.max_position_embeddings - 1, self.head_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, L, _ = x.shape
        return x.view(B, L, self.num_heads, self.head_dim).transpose(1, 2)  # (B, N, L, D)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        past_key_value: KeyValue | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, KeyValue]:
        """Args:
            hidden_states: (B, L, H) queries (and keys/values for self-attention).
            attention_mask: additive, broadcastable to (B, N, L, L_kv), or None.
            head_mask: (N,) multiplier of the probabilities, or None.
            encoder_hidden_states: (B, L_enc, H) keys/values for cross-attention, or None.
            past_key_value: cached (key, value) (B, N, L_past, D): for self-attention the
                new keys are appended; for cross-attention they are used as they are.
        Returns:
            context (B, L, H), probabilities (B, N, L, L_kv) or None, and (key, value) to cache.
        """
        B, L, H = hidden_states.shape
        cross = encoder_hidden_states is not None
        if cross and past_key_value is not None:
            q = self._heads(self.query(hidden_states))
            k, v = past_key_value
        elif cross:
            q = self._heads(self.query(hidden_states))
            k = self._heads(self.key(encoder_hidden_states))
            v = self._heads(self.value(encoder_hidden_states))
        else:
            weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])  # (3H, H)
            bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])
            qkv = F.linear(hidden_states, weight, bias).view(B, L, 3, self.num_heads, self.head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, N, L, D)
            if past_key_value is not None:
                k = torch.cat([past_key_value[0], k], dim=2)  # (B, N, L_past + L, D)
                v = torch.cat([past_key_value[1], v], dim=2)

        dropout = self.dropout.p if self.training else 0.0
        # On CPU, SDPA with dropout falls back to an unfused kernel that is slower than ours.
        cpu_dropout = dropout > 0 and q.device.type == "cpu"
        explicit = output_attentions or head_mask is not None or self.position_embedding_type != "absolute" or cpu_dropout
        if explicit:
            context, probs = self._explicit(q, k, v, attention_mask, head_mask)
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=dropout)
            probs = None
        context = context.transpose(1, 2).reshape(B, L, H)  # (B, L, H)
        return context, probs, (k, v)

    def _explicit(self, q, k, v, attention_mask, head_mask):
        scores = q @ k.transpose(-1, -2)  # (B, N, L, L_kv)
        if self.position_embedding_type != "absolute":
            scores = scores + self._relative_scores(q, k)
        scores = scores / math.sqrt(self.head_dim)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.dropout(torch.softmax(scores, dim=-1))
        if head_mask is not None:
            probs = probs * head_mask.view(1, -1, 1, 1)
        return probs @ v, probs  # (B, N, L, D)

    def _relative_scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Shaw et al. relative-position terms (HF `relative_key` / `relative_key_query`)."""
        L, L_kv = q.shape[2], k.shape[2]
        # Queries are the last L of the L_kv positions (L_kv - L of them are cached).
        query_pos = torch.arange(L_kv - L, L_kv, device=q.device).view(-1, 1)
        key_pos = torch.arange(L_kv, device=q.device).view(1, -1)
        distance = self.distance_embedding(query_pos - key_pos + self.max_position_embeddings - 1).to(q.dtype)  # (L, L_kv, D)
        scores = torch.einsum("bhld,lrd->bhlr", q, distance)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + torch.einsum("bhrd,lrd->bhlr", k, distance)
        return scores


class ElectraSelfOutput(nn.Module):
    """Output projection, dropout, residual and LayerNorm after attention."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # HF name, kept for checkpoints
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class ElectraAttention(nn.Module):
    """`self` attention block followed by its `output` block (HF `ElectraAttention`)."""

    def __init__(self, config: ElectraConfig, relative: bool):
        super().__init__()
        self.self = ElectraSelfAttention(config, relative)
        self.output = ElectraSelfOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        past_key_value: KeyValue | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, KeyValue]:
        context, probs, present = self.self(
            hidden_states, attention_mask, head_mask, encoder_hidden_states, past_key_value, output_attentions
        )
        return self.output(context, hidden_states), probs, present
