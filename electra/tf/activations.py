"""Activation functions by `config.hidden_act` name (`electra.common.config.ACTIVATIONS`).

Each entry matches HF's `ACT2FN` entry of the same name: "gelu" is the exact erf form,
"gelu_new" and "gelu_pytorch_tanh" the tanh approximation.
"""

from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf


def _gelu_new(x: tf.Tensor) -> tf.Tensor:
    # HF's NewGELUActivation, written out (same formula as the GPT-2 code).
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3.0))))


ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "tanh": tf.tanh,
    "sigmoid": tf.sigmoid,
}


def get_activation(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation called `name`; `ValueError` listing the known names otherwise."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
