"""Head blocks on top of the backbone's hidden states (HF classes of the same names).

`ElectraDiscriminatorPredictions` (replaced-token detection), `ElectraGeneratorPredictions`
(masked / causal LM, before the tied `generator_lm_head`), `ElectraClassificationHead`
(sequence classification, token 0), `ElectraSequenceSummary` (multiple choice).
"""

from __future__ import annotations

import torch
from torch import nn

from electra.common.config import ElectraConfig
from electra.pt.activations import get_activation
from electra.pt.dropout import Dropout


class ElectraDiscriminatorPredictions(nn.Module):
    """H -> H -> `hidden_act` -> 1: one "replaced" logit per token."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = get_activation(config.hidden_act)
        self.dense_prediction = nn.Linear(config.hidden_size, 1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense_prediction(self.activation(self.dense(hidden_states))).squeeze(-1)  # (B, L)


class ElectraGeneratorPredictions(nn.Module):
    """H -> E -> gelu -> LayerNorm (HF always uses gelu here, whatever `hidden_act`)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.activation = get_activation("gelu")
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)  # HF name, kept for checkpoints
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.activation(self.dense(hidden_states)))  # (B, L, E)


class ElectraClassificationHead(nn.Module):
    """Token 0 -> dropout -> dense -> gelu -> dropout -> `out_proj` (num_labels)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = get_activation("gelu")
        self.dropout = Dropout(config.classifier_dropout_prob)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden_states[:, 0])  # (B, H)
        x = self.dropout(self.activation(self.dense(x)))
        return self.out_proj(x)  # (B, num_labels)


class ElectraSequenceSummary(nn.Module):
    """One vector per sequence (HF `ElectraSequenceSummary`): pick by `summary_type`
    ("first", "last", "mean", "cls_index"), then optional `summary` projection (H -> H),
    `summary_activation` and dropout (`summary_last_dropout`)."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.summary_type = config.summary_type
        self.summary = nn.Linear(config.hidden_size, config.hidden_size) if config.summary_use_proj else nn.Identity()
        self.activation = get_activation(config.summary_activation) if config.summary_activation else nn.Identity()
        self.last_dropout = Dropout(config.summary_last_dropout)

    def forward(self, hidden_states: torch.Tensor, cls_index: torch.Tensor | None = None) -> torch.Tensor:
        """Args: hidden_states (B, L, H); cls_index (B,) token to read for "cls_index"
        (default: the last token, as HF). Returns (B, H)."""
        if self.summary_type == "first":
            output = hidden_states[:, 0]
        elif self.summary_type == "last":
            output = hidden_states[:, -1]
        elif self.summary_type == "mean":
            output = hidden_states.mean(dim=1)
        elif cls_index is None:  # "cls_index" without indices
            output = hidden_states[:, -1]
        else:
            index = cls_index.view(-1, 1, 1).expand(-1, 1, hidden_states.shape[-1])
            output = hidden_states.gather(1, index).squeeze(1)
        return self.last_dropout(self.activation(self.summary(output)))
