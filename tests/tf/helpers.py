"""Shared builders of the electra.tf tests: seeded tiny models and inputs."""

from __future__ import annotations

import numpy as np

import electra.tf as etf
from conftest import tiny_config
from electra.common.weights.random import random_state_dict

B, L = 2, 7


def build(architecture, seed=0, **changes):
    """A tiny `architecture` with seeded canonical weights (decoder config for the causal LM)."""
    if architecture == "ElectraForCausalLM":
        changes.setdefault("is_decoder", True)
    config = tiny_config(**changes)
    model = getattr(etf, architecture)(config)
    model.load_canonical_state_dict(random_state_dict(config, architecture, seed=seed))
    return model


def ids_for(architecture, config, seed=0):
    """int32 ids in [1, vocab) of shape (B, L), or (B, 3, L) for multiple choice."""
    shape = (B, 3, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    return np.random.default_rng(seed).integers(1, config.vocab_size, shape).astype(np.int32)
