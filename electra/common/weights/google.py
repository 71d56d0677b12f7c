"""Google's TF1 checkpoints (`google-research/electra`): reading them and their layout.

Variables `electra/...` (the discriminator) and `generator/...` (the generator), sharing
`electra/embeddings` unless the generator has its own `generator/embeddings`; layers
`encoder/layer_{i}`; the heads `discriminator_predictions/...` and
`generator_predictions/...`; optimizer slots (`.../adam_m`, `.../adam_v`) and `global_step`
beside them. The layout differs from the canonical one only in names and transposes
(`layouts.py` holds the shared machinery).
"""

from __future__ import annotations

import os
import re

import numpy as np

from electra.common.errors import CheckpointError
from electra.common.weights.layouts import _from_layout, module_kind

# Google's TF1 embedding tables are variables named after the module, with no leaf.
TF1_LEAVES = {
    "linear": {"weight": ("kernel", True), "bias": ("bias", False)},
    "layer_norm": {"weight": ("gamma", False), "bias": ("beta", False)},
    "embedding": {"weight": ("", False)},
    "word_embedding": {"weight": ("", False)},
}

# Google TF1 scope renames (whole path parts), applied after the network prefix is resolved.
TF1_PART_RENAMES = {"dense_1": "dense_prediction"}
TF1_SKIPPED = re.compile(r"(^|/)(global_step|temperature)$|/adam_[mv]$")
TF1_NETWORKS = ("discriminator", "generator")


def read_google_tf1_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every variable of a Google TF1 checkpoint (convert with `layouts.google_tf1_to_canonical`).

    Args:
        path: the checkpoint prefix (`.../model.ckpt-1000000`) or a directory holding a
            `checkpoint` file that names one. TensorFlow is imported here.
    Returns:
        TF1 variable names -> arrays, optimizer slots included.
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(path))
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable TF1 checkpoint ({type(err).__name__}: {err})") from None


def _tf1_path(name: str, network: str, own_embeddings: bool) -> str | None:
    """The canonical path (`/`-separated, TF1 leaf) of one TF1 variable; None to skip it."""
    scope, _, rest = name.partition("/")
    head = "discriminator_predictions" if network == "discriminator" else "generator_predictions"
    if name == "generator_predictions/output_bias":
        return "generator_lm_head/bias" if network == "generator" else None
    if scope == head:
        return name
    if scope in ("discriminator_predictions", "generator_predictions"):
        return None
    if scope == "electra" and network == "generator":
        # The generator reuses the discriminator's embeddings unless it has its own.
        return "electra/" + rest if rest.startswith("embeddings/") and not own_embeddings else None
    if scope in ("electra", "generator"):
        return "electra/" + rest if (scope == "electra") == (network == "discriminator") else None
    raise CheckpointError(f"{name}: unexpected variable in an ELECTRA TF1 checkpoint")


def google_tf1_to_canonical(variables: dict[str, np.ndarray], network: str) -> dict[str, np.ndarray]:
    """One network of a Google TF1 ELECTRA checkpoint -> canonical keys.

    Args:
        variables: TF1 variable names -> arrays (`tf.train.load_checkpoint` contents).
        network: "discriminator" (-> `ElectraForPreTraining` keys) or "generator"
            (-> `ElectraForMaskedLM` keys, the tied LM-head weight absent).
    Returns:
        Canonical keys -> arrays (Linear weights transposed to (out, in)). Optimizer
        slots, `global_step` and the other network's variables are skipped; the
        generator takes the shared `electra/embeddings`, or its own
        `generator/embeddings` when the checkpoint has untied ones.
    """
    if network not in TF1_NETWORKS:
        raise ValueError(f"network must be one of {list(TF1_NETWORKS)}, got {network!r}")
    own_embeddings = any(name.startswith("generator/embeddings/") for name in variables)
    state: dict[str, np.ndarray] = {}
    for name, array in variables.items():
        if TF1_SKIPPED.search(name):
            continue
        path = _tf1_path(name, network, own_embeddings)
        if path is None:
            continue
        path = re.sub(r"/layer_(\d+)(?=/)", r"/layer/\1", path)
        parts = [TF1_PART_RENAMES.get(part, part) for part in path.split("/")]
        if module_kind(".".join(parts)) != "linear":
            parts.append("")  # an embedding table is a variable named after its module
        key, value = _from_layout(".".join(parts[:-1]), parts[-1], np.asarray(array), TF1_LEAVES, name)
        state[key] = value
    return state
