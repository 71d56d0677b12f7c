"""Counter-based Gumbel noise: the same numbers in every backend, on any device, however the
batch is split.

The generator's sample at prediction slot k of global row b is
argmax_v(logits[b, k, v] / T + noise[b, k, v]), and the noise is a pure function of a step's
key and of (b, k, v), computed on the device in one elementwise expression:

    r = mix32(k0 ^ b)                      per row
    p = mix32(((r + k) mod 2^32) ^ k1)     per prediction slot
    h = mix32((p + v) mod 2^32)            per vocabulary entry
    u = (h >> 8) * 2^-24                   uniform on [0, 1) in steps of 2^-24 (exact in float32)
    noise = -log(-log(u + 1e-9) + 1e-9)    `recipe.gumbel`

`mix32` is a two-round xor-shift-multiply integer hash (the multipliers 0x21f0aaad and
0x735a2d97, found by C. Wellons' hash prospector; a low-bias avalanche). (k0, k1) are two
32-bit words of `recipe.step_seed(seed, step, stream)` (`noise_key`); b counts rows of the
whole (global) batch, k counts a row's chosen positions in increasing position order, v the
vocabulary. So a row draws the same noise on worker 0 or 1 of a data-parallel run, in any
micro-batch of `--grad-accum`, at any number of prediction slots K, and in pt, tf and flax.

Both multipliers are below 2^31, so the product of a 32-bit value and a multiplier stays
below 2^63: PyTorch and TensorFlow compute in int64 and keep the low 32 bits (`wrap`); JAX
computes in uint32, whose products wrap by themselves. The integer part is therefore
identical everywhere; the two logs are each library's float32 `log`, which may differ in the
last bit, so the noise agrees to about 1e-6 and a sample differs only where two candidates'
scores tie to within that (never seen in the tests).

It replaces three backend-specific draws (a `torch.Generator` per row after a host
round-trip, TensorFlow's stateless Philox over the chosen positions, JAX's threefry over
the batch), which gave each backend its own samples.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from electra.common.pretraining import recipe

MASK32 = 0xFFFFFFFF
MULTIPLIERS = (0x21F0AAAD, 0x735A2D97)  # both < 2^31: int64 products of 32-bit values are exact
SHIFTS = (16, 15, 15)


@dataclass(frozen=True)
class IntOps:
    """An array library's integer operations for `gumbel_noise`.

    xor, shift_right: elementwise; wrap: reduce to 32 bits (x mod 2^32; the identity for
    uint32 arrays); to_float32: exact conversion of a value below 2^24; log: float32 log.
    """

    xor: Callable
    shift_right: Callable
    wrap: Callable
    to_float32: Callable
    log: Callable


NUMPY = IntOps(operator.xor, operator.rshift, lambda x: x & MASK32, lambda x: np.asarray(x).astype(np.float32), np.log)


def noise_key(seed: int, step: int, stream: str = "gumbel") -> tuple[int, int]:
    """(k0, k1): the two 32-bit words of `recipe.step_seed(seed, step, stream)`."""
    value = recipe.step_seed(seed, step, stream)
    return (value >> 32) & MASK32, value & MASK32


def mix32(x, ops: IntOps):
    """The two-round integer hash of 32-bit values (held in int64, or uint32 with `wrap` the identity)."""
    x = ops.xor(x, ops.shift_right(x, SHIFTS[0]))
    x = ops.wrap(x * MULTIPLIERS[0])
    x = ops.xor(x, ops.shift_right(x, SHIFTS[1]))
    x = ops.wrap(x * MULTIPLIERS[1])
    return ops.xor(x, ops.shift_right(x, SHIFTS[2]))


def gumbel_noise(k0, k1, rows, slots, vocab, ops: IntOps):
    """Gumbel(0, 1) noise of (rows, slots, vocab), broadcast.

    Args:
        k0, k1: the key's words (scalars of the integer type, below 2^32).
        rows: global row indices, shaped (R, 1, 1); slots: slot indices (1, K, 1) or (K, 1);
            vocab: vocabulary indices (V,). All of one integer type: int64, or uint32 in JAX.
        ops: the array library's `IntOps`.
    Returns:
        float32 noise (R, K, V).
    """
    row_hash = mix32(ops.xor(rows, k0), ops)
    slot_hash = mix32(ops.xor(ops.wrap(row_hash + slots), k1), ops)
    bits = mix32(ops.wrap(slot_hash + vocab), ops)
    uniform = ops.to_float32(ops.shift_right(bits, 8)) * np.float32(2.0**-24)
    return recipe.gumbel(uniform, ops.log)


def reference_noise(key: tuple[int, int], rows, K: int, V: int) -> np.ndarray:
    """`gumbel_noise` in NumPy (int64) for the global rows `rows`: (len(rows), K, V) float32."""
    rows = np.asarray(rows, np.int64).reshape(-1, 1, 1)
    return gumbel_noise(np.int64(key[0]), np.int64(key[1]), rows, np.arange(K, dtype=np.int64)[:, None],
                        np.arange(V, dtype=np.int64), NUMPY).astype(np.float32)
