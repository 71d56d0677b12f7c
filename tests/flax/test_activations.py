"""The Flax activations against float64 values computed with `math` (no other framework)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

from electra.flax.activations import ACTIVATIONS, erf, gelu, get_activation
from tests.math_reference import GELU_GRID, gelu64, gelu64_grad


def test_gelu_is_the_exact_form_in_float32():
    got = np.asarray(jax.jit(gelu)(jnp.asarray(GELU_GRID)))
    expected = np.array([gelu64(float(x)) for x in GELU_GRID])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1.5e-6)
    assert get_activation("gelu") is gelu and ACTIVATIONS["gelu"] is gelu


def test_gelu_gradient():
    got = np.asarray(jax.jit(jax.vmap(jax.grad(gelu)))(jnp.asarray(GELU_GRID)))
    expected = np.array([gelu64_grad(float(x)) for x in GELU_GRID])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_gelu_uses_neither_erfc_nor_a_composite_erf():
    # XLA's CPU backend expands erfc into a branchy form about twice as slow as erf; lax.erf
    # is exported as a `chlo.erf` composite that TensorFlow's XlaCallModule cannot read (jax2tf).
    assert "erfc" not in str(jax.make_jaxpr(gelu)(jnp.ones((2,), jnp.float32)))
    for function in (gelu, jax.grad(lambda x: gelu(x).sum())):
        text = export.export(jax.jit(function))(jax.ShapeDtypeStruct((3,), jnp.float32)).mlir_module()
        assert not re.search(r"stablehlo\.composite|chlo\.", text)


def test_gelu_erf_is_xla_cpus_erf():
    # The same rational approximation as XLA's own float32 erf on CPU: bit-identical values.
    x = np.asarray(np.concatenate([np.linspace(-6, 6, 200_001), -np.logspace(-38, 0.7, 2_000), np.logspace(-38, 0.7, 2_000)]), np.float32)
    with jax.default_device(jax.devices("cpu")[0]):
        np.testing.assert_array_equal(np.asarray(jax.jit(erf)(x)), np.asarray(jax.jit(jax.lax.erf)(x)))


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_gelu_keeps_a_low_precision_dtype(dtype):
    x = jnp.asarray(np.linspace(-6, 6, 1001), dtype)
    y = gelu(x)
    assert y.dtype == dtype
    expected = np.array([gelu64(float(v)) for v in np.asarray(x, np.float32)])
    np.testing.assert_allclose(np.asarray(y, np.float32), expected, rtol=2e-2, atol=2e-2)
