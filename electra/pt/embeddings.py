"""`ElectraEmbeddings`: word + token type (+ absolute position) embeddings, LayerNorm, dropout.

Matches HF `ElectraEmbeddings` (docs/reference.md section 2). Default `token_type_ids` are zeros
and default `position_ids` are `arange(past_length, past_length + L)`; neither is a
buffer, so `state_dict()` holds parameters only (canonical keys).
"""

from __future__ import annotations

import torch
from torch import nn

from electra.common.config import ElectraConfig
from electra.pt.dropout import Dropout


class ElectraEmbeddings(nn.Module):
    def __init__(self, config: ElectraConfig):
        super().__init__()
        E = config.embedding_size
        self.word_embeddings = nn.Embedding(config.vocab_size, E, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, E)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, E)
        self.LayerNorm = nn.LayerNorm(E, eps=config.layer_norm_eps)  # HF name, kept for checkpoints
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.absolute_positions = config.position_embedding_type == "absolute"

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        past_length: int = 0,
    ) -> torch.Tensor:
        """Args: `input_ids` (B, L) or `inputs_embeds` (B, L, E); `token_type_ids` and
        `position_ids` (B, L) or None. Returns (B, L, E)."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, L, E)
        L = inputs_embeds.shape[1]
        if token_type_ids is None:
            # Every row of the zero-type table is the same: add row 0 by broadcasting.
            embeddings = inputs_embeds + self.token_type_embeddings.weight[0]
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute_positions:
            if position_ids is None:
                embeddings = embeddings + self.position_embeddings.weight[past_length : past_length + L]  # (L, E)
            else:
                embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))
