"""Float64 reference values computed with `math`, shared by the backends' activation tests."""

from __future__ import annotations

import math

import numpy as np

# float32 points covering GELU's range, signed zeros, tiny and saturating inputs.
GELU_GRID = np.concatenate([np.linspace(-12.0, 12.0, 24_001), [0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0]]).astype(np.float32)


def gelu64(x: float) -> float:
    """Exact GELU, x * Phi(x), in float64."""
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def gelu64_grad(x: float) -> float:
    """d/dx of `gelu64`: Phi(x) + x * phi(x)."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))) + x * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
