"""Every head's loss, in one place (docs/reference.md section 3). Each returns a scalar.

Conventions shared with the TF and Flax backends:
- `-100` labels are ignored by the token-level cross-entropies (MLM, causal LM, token cls).
- Replaced-token detection averages BCE over positions with `attention_mask == 1` (all
  positions without a mask); with no such position the loss is 0, not NaN.
- Sequence classification: `config.problem_type` when set; otherwise inferred per call as
  HF does (num_labels == 1 -> regression, integer labels -> single-label, float labels ->
  multi-label), without writing the inferred type back into the config (HF does).
- Question answering clamps positions to [0, L] and ignores index L (outside the input); the
  public forward has already rejected positions outside [0, L] in eager calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from electra.common.validation import IGNORE_INDEX


def replaced_token_detection_loss(
    logits: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor | None, normalizer: int | None = None
) -> torch.Tensor:
    """BCE-with-logits of logits (B, L) against 0/1 labels (B, L), averaged over attended
    positions; with `normalizer`, summed over them and divided by it instead (a data-parallel
    shard's share of the global mean)."""
    per_token = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")  # (B, L)
    if attention_mask is None and normalizer is None:
        return per_token.mean()
    active = torch.ones_like(per_token) if attention_mask is None else (attention_mask == 1).to(per_token.dtype)
    total = (per_token * active).sum()
    return total / (active.sum().clamp(min=1.0) if normalizer is None else normalizer)


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, normalizer: int | None = None) -> torch.Tensor:
    """Cross-entropy of logits (B, L, V) against labels (B, L), -100 ignored, averaged over
    the labelled positions; with `normalizer`, summed and divided by it instead."""
    logits, labels = logits.flatten(0, -2).float(), labels.reshape(-1)
    if normalizer is None:
        return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum") / normalizer


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: logits[:, :-1] predict labels[:, 1:], -100 ignored."""
    return masked_lm_loss(logits[:, :-1], labels[:, 1:])


def problem_type_of(num_labels: int, problem_type: str | None, labels: torch.Tensor) -> str:
    """The configured problem type, or HF's inference from `num_labels` and the labels' dtype."""
    if problem_type is not None:
        return problem_type
    if num_labels == 1:
        return "regression"
    if labels.dtype in (torch.long, torch.int, torch.int16, torch.int8, torch.uint8):
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, problem_type: str | None) -> torch.Tensor:
    """Loss of logits (B, num_labels) by problem type: MSE, cross-entropy or multi-label BCE."""
    num_labels = logits.shape[-1]
    kind = problem_type_of(num_labels, problem_type, labels)
    logits = logits.float()
    if kind == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.reshape(-1), labels.reshape(-1).float())
        return F.mse_loss(logits, labels.float())
    if kind == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.reshape(-1).long())
    return F.binary_cross_entropy_with_logits(logits, labels.float())


def multiple_choice_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over choices: logits (B, C), labels (B,)."""
    return F.cross_entropy(logits.float(), labels.long())


def token_classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (B, L, num_labels) against labels (B, L), -100 ignored."""
    return masked_lm_loss(logits, labels)


def question_answering_loss(start_logits, end_logits, start_positions, end_positions) -> torch.Tensor:
    """Mean of start and end cross-entropies; positions clamped to [0, L], L ignored."""
    L = start_logits.shape[1]
    start = start_positions.reshape(-1).long().clamp(0, L)
    end = end_positions.reshape(-1).long().clamp(0, L)
    start_loss = F.cross_entropy(start_logits.float(), start, ignore_index=L)
    end_loss = F.cross_entropy(end_logits.float(), end, ignore_index=L)
    return (start_loss + end_loss) / 2
