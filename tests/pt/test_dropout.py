"""electra.pt.dropout: nn.Dropout's contract with the cheaper CPU mask."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import electra.pt as pt
from conftest import tiny_config
from electra.pt.dropout import Dropout, keep_mask


def test_it_is_an_nn_dropout_with_its_arguments():
    layer = Dropout(0.25)
    assert isinstance(layer, nn.Dropout)
    assert layer.p == 0.25 and repr(layer) == "Dropout(p=0.25, inplace=False)"
    assert layer.state_dict() == {}
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
def test_eval_mode_and_zero_rate_are_the_identity(p):
    x = torch.randn(4, 5)
    assert Dropout(p).eval()(x) is x
    assert Dropout(0.0).train()(x) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drop_rate_and_scaling(p):
    torch.manual_seed(0)
    n = 1_000_001  # odd: the last 64-bit draw is half used
    x = torch.rand(n) + 1.0  # no zeros of its own
    y = Dropout(p).train()(x)
    dropped = (y == 0).double().mean().item()
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n)  # 5 standard deviations
    kept = y != 0
    # Kept elements are scaled exactly as nn.Dropout scales them.
    torch.testing.assert_close(y[kept], x[kept] * (1 / (1 - p)), rtol=0, atol=0)
    assert abs(y.mean().item() - x.mean().item()) < 0.01


def test_neighbouring_elements_are_independent():
    # The two 32-bit halves of one 64-bit draw serve neighbouring elements.
    torch.manual_seed(1)
    mask = keep_mask(torch.Size([2_000_000]), 0.5).double()
    even, odd = mask[0::2], mask[1::2]
    correlation = ((even - even.mean()) * (odd - odd.mean())).mean() / (even.std() * odd.std())
    assert abs(correlation.item()) < 5 / math.sqrt(even.numel())
    rows = keep_mask(torch.Size([1000, 1000]), 0.5).double()
    assert abs(rows.mean(dim=0).std().item() - 0.5 / math.sqrt(1000)) < 0.002  # columns alike


def test_seeded_masks_repeat_and_successive_masks_differ():
    x = torch.ones(64, 64)
    layer = Dropout(0.3).train()
    torch.manual_seed(7)
    first, second = layer(x), layer(x)
    torch.manual_seed(7)
    assert torch.equal(layer(x), first)
    assert not torch.equal(first, second)


def test_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(3)
    x = torch.randn(8, 16, requires_grad=True)
    y = Dropout(0.2).train()(x)
    y.sum().backward()
    expected = (y != 0).float() / 0.8
    torch.testing.assert_close(x.grad, expected)


def test_p_one_drops_everything_and_the_shape_and_dtype_are_kept():
    x = torch.randn(3, 4, 5, dtype=torch.bfloat16)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    y = Dropout(0.5).train()(x)
    assert y.shape == x.shape and y.dtype == torch.bfloat16
    assert not keep_mask(torch.Size([1000]), 1 - 2**-40).any()


def test_models_use_it_for_every_dropout():
    model = pt.ElectraForSequenceClassification(tiny_config(classifier_dropout=0.2))
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts and all(type(m) is Dropout for m in dropouts)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_kept_values_equal_nn_dropouts_in_every_float_dtype(dtype):
    torch.manual_seed(4)
    x = torch.randn(100_000).to(dtype)
    ours, theirs = Dropout(0.1).train()(x), nn.Dropout(0.1).train()(x)
    both = (ours != 0) & (theirs != 0)
    assert both.sum() > 70_000
    assert torch.equal(ours[both], theirs[both])  # the same rounding of x / (1 - p)


def test_empty_and_odd_shapes():
    layer = Dropout(0.5).train()
    assert layer(torch.ones(0, 3)).shape == (0, 3)
    y = layer(torch.ones(3, 5, 7))
    assert y.shape == (3, 5, 7) and set(y.unique().tolist()) <= {0.0, 2.0}
