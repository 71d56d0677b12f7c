"""JAX's threefry keys with random bits computed in one fused kernel.

On CPU, JAX lowers the threefry2x32 hash as a rolled loop (5 iterations of 4 rounds, to keep
compile times short), and XLA materialises the four uint32 state arrays between iterations:
memory-bound, about 90 ms for the (8, 24, 30522) Gumbel noise of a small-preset pretraining
step on 2 cores, and as much again for its dropout masks. The same 20 rounds written out
straight (`_threefry2x32`) fuse with their consumer (the uniform conversion, the dropout
comparison, the Gumbel logs) into one elementwise loop.

`FAST_THREEFRY` is a JAX PRNG implementation with threefry's key shape, seeding, `split` and
`fold_in` (JAX's own functions) and a `random_bits` that gives **the same bits** as
`jax.random.bits` with a threefry key (in JAX's default `jax_threefry_partitionable` mode;
otherwise it hands over to JAX's function), so every draw -- `jax.random.uniform`,
`bernoulli`, Flax's `nn.Dropout`, our `Dropout` and `uniform` -- is unchanged, only faster.
`fast_key(key)` re-types a threefry key (a typed key or raw `uint32[2]` key data) without
changing its data; keys of other implementations (rbg, ...) are returned as they are.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import define_prng_impl, threefry_prng_impl

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))  # threefry2x32's rotation schedule
_PARITY = np.uint32(0x1BD11BDA)  # threefry's key-schedule constant


def _rotate_left(x: jax.Array, d: int) -> jax.Array:
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def _threefry2x32(k1: jax.Array, k2: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The threefry2x32 block cipher (20 rounds) on uint32 counters, written out straight."""
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = _rotate_left(x2, r) ^ x1
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
    """`jax.random.bits` of a threefry key (raw data, uint32[2]), bit for bit."""
    size = math.prod(shape)
    if bit_width == 64 or size >= 2**32 or not jax.config.jax_threefry_partitionable:
        return threefry_prng_impl.random_bits(key, bit_width, shape)
    # The flat index of every element (the low words of JAX's 64-bit counters), built from
    # broadcast iotas so that a sharded draw computes only its own shard's counters.
    counts = jnp.zeros(shape, np.uint32)
    stride = 1
    for axis in reversed(range(len(shape))):
        counts = counts + jax.lax.broadcasted_iota(np.uint32, shape, axis) * np.uint32(stride)
        stride *= shape[axis]
    bits1, bits2 = _threefry2x32(key[0], key[1], jnp.zeros_like(counts), counts)
    bits = bits1 ^ bits2
    return bits if bit_width == 32 else bits.astype(f"uint{bit_width}")


FAST_THREEFRY = define_prng_impl(
    key_shape=threefry_prng_impl.key_shape,
    seed=threefry_prng_impl.seed,
    split=threefry_prng_impl.split,
    random_bits=_random_bits,
    fold_in=threefry_prng_impl.fold_in,
    name="threefry2x32, unrolled",
    tag="fry_unrolled",
)


def uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """`jax.random.uniform(key, shape)` (float32 in [0, 1)), the same values: the top 23 bits
    as the mantissa of a float in [1, 2), minus 1. JAX also clamps the result to `minval`
    (a no-op for [0, 1)), which in a large step became a materialised (shape) broadcast."""
    bits = jax.random.bits(key, shape, jnp.uint32)
    mantissa = (bits >> np.uint32(32 - 23)) | np.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - np.float32(1.0)


class Dropout(nn.Module):
    """`flax.linen.Dropout` with the same masks (the same `make_rng("dropout")` key, the same
    uniform draws compared with the keep probability), drawn through `uniform`."""

    rate: float

    @nn.compact
    def __call__(self, inputs: jax.Array, deterministic: bool) -> jax.Array:
        if self.rate == 0.0 or deterministic:
            return inputs
        if self.rate == 1.0:
            return jnp.zeros_like(inputs)
        keep = 1.0 - self.rate
        mask = uniform(self.make_rng("dropout"), inputs.shape) < keep
        return jax.lax.select(mask, inputs / keep, jnp.zeros_like(inputs))


def key(seed: int) -> jax.Array:
    """`jax.random.key(seed)` whose draws are computed by the unrolled hash."""
    return jax.random.key(seed, impl=FAST_THREEFRY)


def fast_key(rng: jax.Array | None) -> jax.Array | None:
    """The same key re-typed to `FAST_THREEFRY` when it is a threefry key (typed, or raw
    uint32[..., 2] data from `jax.random.PRNGKey`); any other key unchanged."""
    if rng is None:
        return None
    if jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key):
        if str(jax.random.key_impl(rng)) != threefry_prng_impl.name:
            return rng
        rng = jax.random.key_data(rng)
    elif rng.dtype != jnp.uint32 or rng.shape[-1:] != (2,):
        return rng  # not threefry key data: let JAX and Flax judge it
    return jax.random.wrap_key_data(rng, impl=FAST_THREEFRY)


__all__ = ["FAST_THREEFRY", "Dropout", "fast_key", "key", "uniform"]
