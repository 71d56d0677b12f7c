"""Activation functions by `config.hidden_act` name (`electra.common.config.ACTIVATIONS`).

Each entry matches HF's `ACT2FN` entry of the same name: "gelu" is the exact erf form,
"gelu_new" and "gelu_pytorch_tanh" the tanh approximation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

# erf(x) ~ x * P(x^2) / Q(x^2) on [-3.8325, 3.8325], +-1 beyond: the float32 rational
# approximation of XLA's CPU erf (and Eigen's), highest-degree coefficient first.
_ERF_CLAMP = 3.832506856900711
_ERF_P = (2.2905065861350646e-04, 3.4082910107109506e-03, 5.0955695062380861e-02, 1.8520832239976145e-01,
          1.1283791435190840e+00)
_ERF_Q = (-1.1791602954361697e-07, 2.3547966471313185e-05, 1.0179625278914885e-03, 1.4070470171167667e-02,
          1.1098505178285362e-01, 4.9746925110067538e-01, 1.0)


@jax.custom_jvp
def erf(x: jax.Array) -> jax.Array:
    """erf in plain arithmetic (no `chlo.erf`, which `jax.export` writes as a composite op
    that TensorFlow's `XlaCallModule`, and so `jax2tf`, cannot read). Float32 values equal
    XLA's CPU `erf` bit for bit (within 2.9e-7 of the float64 value); bfloat16 and float16
    are computed in float32, float64 uses `jax.lax.erf`. The derivative is the exact
    2/sqrt(pi) exp(-x^2), as `jax.lax.erf`'s."""
    if x.dtype == jnp.float64:
        return jax.lax.erf(x)
    x32 = jnp.clip(x.astype(jnp.float32), -_ERF_CLAMP, _ERF_CLAMP)
    x2 = x32 * x32
    p, q = _ERF_P[0], _ERF_Q[0]
    for c in _ERF_P[1:]:
        p = p * x2 + c
    for c in _ERF_Q[1:]:
        q = q * x2 + c
    return (x32 * p / q).astype(x.dtype)


@erf.defjvp
def _erf_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return erf(x), (2 / math.sqrt(math.pi)) * jnp.exp(-x * x) * t


def gelu(x: jax.Array) -> jax.Array:
    """Exact GELU written as PyTorch computes it, `x / 2 * (1 + erf(x / sqrt(2)))`, with the
    `erf` above (the same float32 values as `jax.lax.erf` on CPU, and it exports to TF).

    `jax.nn.gelu(approximate=False)` uses `erfc(-x / sqrt(2))` instead, which XLA's CPU
    backend expands into two branches with an `exp` (about 2.3 times slower on a
    (1024, 1024) array, 1.4 times in the gradient; the small model's train step is 5%
    faster with this form). Within 1.1e-6 of the float64 value on [-12, 12], gradient
    within 1e-6 (tests/flax/test_activations.py)."""
    return 0.5 * x * (1.0 + erf(x * math.sqrt(0.5)))


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu": gelu,
    "gelu_new": partial(jax.nn.gelu, approximate=True),
    "gelu_pytorch_tanh": partial(jax.nn.gelu, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation called `name`; `ValueError` listing the known names otherwise."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
