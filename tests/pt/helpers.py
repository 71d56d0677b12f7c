"""Shared builders of the electra.pt tests: seeded tiny models and inputs (as
tests/tf/helpers.py and tests/flax/helpers.py are for the other backends)."""

from __future__ import annotations

import torch

import electra.pt as pt
from conftest import tiny_config
from electra.common.weights.random import random_state_dict

B, L = 2, 7


def build(architecture, seed=0, **changes):
    """A tiny `architecture` in eval mode with seeded canonical weights (decoder config for
    the causal LM)."""
    if architecture == "ElectraForCausalLM":
        changes.setdefault("is_decoder", True)
    config = tiny_config(**changes)
    model = getattr(pt, architecture)(config)
    state = random_state_dict(config, architecture, seed=seed)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return model.eval()


def ids_for(architecture, config, seed=0):
    """int64 ids in [1, vocab) of shape (B, L), or (B, 3, L) for multiple choice."""
    g = torch.Generator().manual_seed(seed)
    shape = (B, 3, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    return torch.randint(1, config.vocab_size, shape, generator=g)
