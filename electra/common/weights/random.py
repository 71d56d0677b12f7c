"""Seeded random weights in the canonical layout, for tests and parity checks.

The same seed gives the same `dict[str, np.ndarray]` on every machine, so the three
backends and the reference implementation can be loaded with identical parameters.
"""

from __future__ import annotations

import numpy as np

from electra.common.config import ElectraConfig
from electra.common.weights.names import expected_shapes, tied_keys


def random_state_dict(config: ElectraConfig, architecture: str = "ElectraModel", seed: int = 0, scale: float = 0.2) -> dict[str, np.ndarray]:
    """Every canonical key of `architecture`, float32, drawn from `seed`.

    LayerNorm scales are drawn around 1 and everything else around 0 with standard
    deviation `scale`, large enough that outputs differ visibly between positions, so a
    parity test compares meaningful numbers. Tied keys equal their source.
    """
    rng = np.random.default_rng(seed)
    shapes = expected_shapes(config, architecture)
    tied = tied_keys(config, architecture)
    state: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        if key in tied:
            continue
        values = rng.normal(0.0, scale, size=shape)
        if "LayerNorm.weight" in key:
            values += 1.0
        state[key] = values.astype(np.float32)
    for key, source in tied.items():
        state[key] = state[source]
    return state
