"""electra.flax.prng: the unrolled threefry gives JAX's bits, uniforms and Flax's dropout masks."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from electra.flax import prng
from electra.flax.trainer import first_argmax


@pytest.mark.parametrize("shape", [(), (1,), (5, 7), (3, 4, 129), (8, 24, 1001)])
@pytest.mark.parametrize("seed", [0, 1, 2**31 - 1])
def test_bits_equal_jax_threefry(shape, seed):
    key = jax.random.key(seed)
    fast = prng.fast_key(key)
    assert str(jax.random.key_impl(fast)) == "fry_unrolled"
    np.testing.assert_array_equal(jax.random.bits(fast, shape), jax.random.bits(key, shape))
    assert prng.key(seed).dtype == fast.dtype
    np.testing.assert_array_equal(jax.random.key_data(prng.key(seed)), jax.random.key_data(key))


@pytest.mark.parametrize("dtype", [jnp.uint8, jnp.uint16, jnp.uint32])
def test_narrow_bits_and_derived_keys_equal_jax(dtype):
    key = jax.random.key(42)
    fast = prng.fast_key(key)
    np.testing.assert_array_equal(jax.random.bits(fast, (300,), dtype), jax.random.bits(key, (300,), dtype))
    for a, b in zip(jax.random.split(key, 3), jax.random.split(fast, 3)):
        np.testing.assert_array_equal(jax.random.bits(b, (50,)), jax.random.bits(a, (50,)))
    np.testing.assert_array_equal(
        jax.random.bits(jax.random.fold_in(fast, 9), (50,)), jax.random.bits(jax.random.fold_in(key, 9), (50,))
    )


def test_bits_inside_jit_equal_jax():
    key = jax.random.key(7)
    got = jax.jit(lambda k: jax.random.bits(prng.fast_key(k), (64, 33)))(key)
    np.testing.assert_array_equal(got, jax.random.bits(key, (64, 33)))


def test_uniform_equals_jax_uniform():
    for seed in range(5):
        key = jax.random.key(seed)
        u = prng.uniform(prng.fast_key(key), (1000, 37))
        np.testing.assert_array_equal(u, jax.random.uniform(key, (1000, 37)))
        assert u.dtype == jnp.float32 and float(u.min()) >= 0.0 and float(u.max()) < 1.0


def test_fast_key_accepts_raw_key_data_and_leaves_other_keys():
    raw = jax.random.PRNGKey(3)  # legacy uint32[2]
    fast = prng.fast_key(raw)
    np.testing.assert_array_equal(jax.random.key_data(fast), raw)
    np.testing.assert_array_equal(jax.random.bits(fast, (20,)), jax.random.bits(raw, (20,)))
    rbg = jax.random.key(3, impl="rbg")
    assert prng.fast_key(rbg) is rbg
    assert prng.fast_key(None) is None
    already = prng.key(3)
    assert str(jax.random.key_impl(prng.fast_key(already))) == "fry_unrolled"


class _Twice(nn.Module):
    """Two dropouts under the same names, one Flax's and one ours, in twin modules."""

    ours: bool
    rate: float

    @nn.compact
    def __call__(self, x, deterministic):
        layer = prng.Dropout if self.ours else nn.Dropout
        x = layer(self.rate, name="dropout")(x, deterministic=deterministic)
        return layer(self.rate, name="second")(x, deterministic=deterministic)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
def test_dropout_equals_flax_dropout(rate):
    x = jax.random.normal(jax.random.key(0), (4, 3, 50))
    key = jax.random.key(11)
    theirs = _Twice(False, rate).apply({}, x, False, rngs={"dropout": key})
    ours = _Twice(True, rate).apply({}, x, False, rngs={"dropout": prng.fast_key(key)})
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(_Twice(True, rate).apply({}, x, True), x)  # deterministic: identity
    if 0.0 < rate < 1.0:
        dropped = float(jnp.mean(ours == 0))
        assert abs(dropped - (1 - (1 - rate) ** 2)) < 0.1  # two layers each dropping `rate`


def test_first_argmax_equals_argmax_with_ties():
    x = jnp.array([[1.0, 3.0, 3.0, 0.0], [5.0, 5.0, 5.0, 5.0], [-1.0, -2.0, -0.5, -0.5]])
    np.testing.assert_array_equal(first_argmax(x), jnp.argmax(x, axis=-1))
    y = jax.random.normal(jax.random.key(1), (3, 5, 997))
    np.testing.assert_array_equal(first_argmax(y), jnp.argmax(y, axis=-1))
