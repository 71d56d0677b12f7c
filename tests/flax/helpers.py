"""Shared builders of the electra.flax tests: seeded tiny models and inputs.

tests/flax is deliberately not a package (a package named `flax` on the path would shadow
the real library), so pytest imports these files under their own names (`helpers`,
`test_model`, ...) with tests/flax on `sys.path`.
"""

from __future__ import annotations

import numpy as np

import electra.flax as ef
from conftest import tiny_config
from electra.common.weights.random import random_state_dict

B, L = 2, 7


def build(architecture, seed=0, model_kwargs=None, **changes):
    """A tiny `architecture` with seeded canonical weights (decoder config for the causal LM)."""
    if architecture == "ElectraForCausalLM":
        changes.setdefault("is_decoder", True)
    config = tiny_config(**changes)
    model = ef.MODEL_CLASSES[architecture](config, **(model_kwargs or {}))
    model.load_canonical_state_dict(random_state_dict(config, architecture, seed=seed))
    return model


def ids_for(architecture, config, seed=0):
    """int32 ids in [1, vocab) of shape (B, L), or (B, 3, L) for multiple choice."""
    shape = (B, 3, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    return np.random.default_rng(seed).integers(1, config.vocab_size, shape).astype(np.int32)


def padding_mask(shape=(B, L), padded=3):
    """Ones, with the last `padded` positions of the second example masked."""
    mask = np.ones(shape, np.int32)
    mask[1, ..., -padded:] = 0
    return mask
