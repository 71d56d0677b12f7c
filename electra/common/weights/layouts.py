"""Weight layouts: canonical (HF PyTorch state dict) <-> HF Flax, HF TF (Google's TF1 in `google.py`).

Pure functions on `dict[str, np.ndarray]` (docs/reference.md section 5). A canonical key is a
module path plus a leaf (`electra.encoder.layer.0.attention.self.query.weight`); every
other layout keeps the module path (spelled its own way) and differs only in the leaf
name and whether the array is transposed. Those differences are the tables below.

- HF Flax (`FlaxElectraFor*.params`): nested dicts, `encoder/layer/{i}`, the tied
  `generator_lm_head` holds its bias only.
- HF TF (`TFElectraFor*.weights`): `<model_scope>/electra/.../leaf:0`, `encoder/layer_._{i}`.
"""

from __future__ import annotations

import re

import numpy as np

from electra.common.errors import CheckpointError
from electra.common.weights.names import BACKBONE_PREFIX, TIED_KEYS

# Module kind -> {canonical leaf: (layout leaf, transposed)}. Kernels are stored (in, out)
# in every layout except the canonical one, which keeps PyTorch's (out, in).
FLAX_LEAVES = {
    "linear": {"weight": ("kernel", True), "bias": ("bias", False)},
    "layer_norm": {"weight": ("scale", False), "bias": ("bias", False)},
    "embedding": {"weight": ("embedding", False)},
    "word_embedding": {"weight": ("embedding", False)},
}
TF_LEAVES = {
    "linear": {"weight": ("kernel", True), "bias": ("bias", False)},
    "layer_norm": {"weight": ("gamma", False), "bias": ("beta", False)},
    "embedding": {"weight": ("embeddings", False)},
    "word_embedding": {"weight": ("weight", False)},  # HF TF names this one table `weight`
}
def module_kind(module: str) -> str:
    """`linear`, `layer_norm`, `embedding` or `word_embedding` for a dotted module path."""
    last = module.rsplit(".", 1)[-1]
    if last == "word_embeddings":
        return "word_embedding"
    if last.endswith("_embeddings") or last == "distance_embedding":
        return "embedding"
    if last == "LayerNorm":
        return "layer_norm"
    return "linear"


def _to_layout(key: str, array: np.ndarray, leaves: dict) -> tuple[str, str, np.ndarray]:
    """(module path, layout leaf, array in layout order) for one canonical key."""
    module, leaf = key.rsplit(".", 1)
    table = leaves[module_kind(module)]
    if leaf not in table:
        raise CheckpointError(f"{key}: no {leaf!r} leaf in a {module_kind(module)} module")
    name, transposed = table[leaf]
    return module, name, array.T if transposed else array


def _from_layout(module: str, leaf: str, array: np.ndarray, leaves: dict, original: str) -> tuple[str, np.ndarray]:
    """(canonical key, canonical array) for one layout leaf under a dotted module path."""
    for canonical_leaf, (name, transposed) in leaves[module_kind(module)].items():
        if name == leaf:
            return f"{module}.{canonical_leaf}", array.T if transposed else array
    raise CheckpointError(f"{original}: unknown leaf {leaf!r} for a {module_kind(module)} module")


# ----------------------------------------------------------------------------- HF Flax
def canonical_to_hf_flax(state: dict[str, np.ndarray], *, tie_word_embeddings: bool = True) -> dict:
    """Canonical state -> the nested param tree of HF's `FlaxElectra*` models.

    Args:
        state: canonical keys -> arrays (Linear weights (out, in)).
        tie_word_embeddings: drop the tied `generator_lm_head.weight` (HF Flax keeps only
            the bias of a tied output layer).
    Returns:
        Nested dicts, e.g. `tree["electra"]["encoder"]["layer"]["0"]["attention"]["self"]["query"]["kernel"]` (H, H).
    """
    tree: dict = {}
    for key, array in state.items():
        if tie_word_embeddings and key in TIED_KEYS:
            continue
        module, leaf, value = _to_layout(key, np.asarray(array), FLAX_LEAVES)
        node = tree
        for part in module.split("."):
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def hf_flax_to_canonical(tree: dict) -> dict[str, np.ndarray]:
    """Inverse of `canonical_to_hf_flax` (the tied LM-head weight stays absent).

    Args:
        tree: nested dicts of arrays, as HF Flax models hold and `flax_model.msgpack` stores.
    Returns:
        Canonical keys -> arrays.
    """
    state: dict[str, np.ndarray] = {}

    def visit(node: dict, path: tuple[str, ...]) -> None:
        for name, child in node.items():
            if isinstance(child, dict):
                visit(child, (*path, str(name)))
                continue
            original = "/".join((*path, str(name)))
            if not path:
                raise CheckpointError(f"{original}: a Flax parameter outside any module")
            key, value = _from_layout(".".join(path), str(name), np.asarray(child), FLAX_LEAVES, original)
            state[key] = value

    visit(tree, ())
    return state


# ----------------------------------------------------------------------------- HF TF
def canonical_to_hf_tf(state: dict[str, np.ndarray], model_scope: str, *, tie_word_embeddings: bool = True) -> dict[str, np.ndarray]:
    """Canonical state -> HF TF weight names (`TFElectraFor*.weights`).

    Args:
        state: canonical keys -> arrays. A bare-model state (no `electra.` prefix) goes
            under `electra/` too: HF's `TFElectraModel` keeps its main layer there.
        model_scope: the Keras model name, e.g. `tf_electra_for_masked_lm`.
        tie_word_embeddings: drop the tied `generator_lm_head.weight` (HF TF holds only
            the bias of a tied output layer).
    Returns:
        Names like `{model_scope}/electra/encoder/layer_._0/attention/self/query/kernel:0`
        -> arrays (kernels (in, out)).
    """
    bare = not any(key.startswith(BACKBONE_PREFIX) for key in state)
    weights: dict[str, np.ndarray] = {}
    for key, array in state.items():
        if tie_word_embeddings and key in TIED_KEYS:
            continue
        module, leaf, value = _to_layout(key, np.asarray(array), TF_LEAVES)
        if bare:
            module = BACKBONE_PREFIX + module
        path = re.sub(r"/layer/(\d+)(?=/|$)", r"/layer_._\1", module.replace(".", "/"))
        weights[f"{model_scope}/{path}/{leaf}:0"] = value
    return weights


def hf_tf_to_canonical(weights: dict[str, np.ndarray], *, scoped: bool = True) -> dict[str, np.ndarray]:
    """Inverse of `canonical_to_hf_tf` (the tied LM-head weight stays absent).

    Args:
        weights: HF TF weight names (`:0` suffix optional) -> arrays.
        scoped: the names start with the model scope, as `TFElectraFor*.weights` and
            `tf_model.h5` give them; False for names without it (the shards of a sharded
            `tf_model.h5`).
    Returns:
        Canonical keys -> arrays. When every weight lies under `electra/` (HF's
        `TFElectraModel`), the keys are bare (no `electra.` prefix).
    """
    parsed: list[tuple[list[str], np.ndarray, str]] = []
    for name, array in weights.items():
        parts = re.sub(r":\d+$", "", name).replace("_._", "/").split("/")[1 if scoped else 0:]
        if len(parts) < 2:
            raise CheckpointError(f"{name}: not a `{'<model_scope>/' if scoped else ''}<module>/<leaf>` weight name")
        parsed.append((parts, np.asarray(array), name))
    bare = all(parts[0] == BACKBONE_PREFIX[:-1] for parts, _, _ in parsed)
    state: dict[str, np.ndarray] = {}
    for parts, array, name in parsed:
        module = ".".join(parts[1:-1] if bare else parts[:-1])
        key, value = _from_layout(module, parts[-1], array, TF_LEAVES, name)
        state[key] = value
    return state
