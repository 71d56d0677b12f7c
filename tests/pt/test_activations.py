"""The PyTorch activations against float64 values computed with `math` (as the TF and Flax
activation tests), and against HF's `ACT2FN` where transformers is installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from electra.common.config import ACTIVATIONS as NAMES
from electra.pt.activations import ACTIVATIONS, get_activation
from tests.math_reference import GELU_GRID, gelu64, gelu64_grad


def test_every_config_name_has_an_activation():
    assert set(ACTIVATIONS) == set(NAMES)
    with pytest.raises(ValueError, match="unknown activation 'gelu2'; expected one of"):
        get_activation("gelu2")


def test_gelu_is_the_exact_form_in_float32():
    got = get_activation("gelu")(torch.from_numpy(GELU_GRID)).numpy()
    expected = np.array([gelu64(float(x)) for x in GELU_GRID])
    assert got.dtype == np.float32
    assert np.all(np.abs(got - expected) <= 1.5e-6 + 1e-6 * np.abs(expected))


def test_gelu_gradient():
    x = torch.from_numpy(GELU_GRID).requires_grad_()
    get_activation("gelu")(x).sum().backward()
    expected = np.array([gelu64_grad(float(v)) for v in GELU_GRID])
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gelu_keeps_a_low_precision_dtype(dtype):
    x = torch.linspace(-6, 6, 1001).to(dtype)
    y = get_activation("gelu")(x)
    assert y.dtype == dtype
    expected = np.array([gelu64(float(v)) for v in x.float()])
    np.testing.assert_allclose(y.float().numpy(), expected, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_activation_equals_hf(name):
    activations = pytest.importorskip("transformers.activations")
    x = torch.from_numpy(GELU_GRID[::7].copy())
    torch.testing.assert_close(get_activation(name)(x), activations.ACT2FN[name](x), rtol=0, atol=1e-6)
