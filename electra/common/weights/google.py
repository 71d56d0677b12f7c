"""Google's TF1 ELECTRA checkpoints (google-research/electra): finding, reading, converting them.

A checkpoint is what `tf.compat.v1.train.Saver` writes for `run_pretraining.py`: a prefix
`model.ckpt-N` with `model.ckpt-N.index` and `model.ckpt-N.data-0000i-of-0000n` beside it, and
usually a `checkpoint` file naming the latest prefix. Its variables, by Google's code
(`run_pretraining.py` builds the networks, `model/modeling.py` names their variables):

- the discriminator: `electra/embeddings/{word,position,token_type}_embeddings` and
  `electra/embeddings/LayerNorm/{gamma,beta}`, `electra/embeddings_project/{kernel,bias}` when
  the embedding width differs from the hidden one, `electra/encoder/layer_{i}/...`, its head
  `discriminator_predictions/dense` and `discriminator_predictions/dense_1` (our `dense_prediction`);
- the generator, in one of three layouts:
  (a) `untied_generator=True` (the default): its encoder under `generator/` (with
      `generator/embeddings_project` when its width differs from the embeddings'), reading the
      discriminator's `electra/embeddings`;
  (b) `untied_generator_embeddings=True`: the same with its own `generator/embeddings/...`
      (Google gives them the generator's hidden width, so there is no projection; one is read
      if present);
  (c) `untied_generator=False`: no `generator/` at all: the generator IS the discriminator's
      `electra/...` network (same config), only its head differs;
  its head in every layout: `generator_predictions/dense`, `generator_predictions/LayerNorm` and
  `generator_predictions/output_bias` (our `generator_lm_head.bias`; the output weight is the
  embedding table, tied);
- beside them `global_step` and the optimizer's `<variable>/adam_m`, `<variable>/adam_v`, skipped.
LayerNorm `gamma`/`beta`, Linear `kernel` (in, out) and `bias`; tables are variables named after
their module. TensorFlow is needed to read the files (imported only here, when reading).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from electra.common.config import ElectraConfig
from electra.common.errors import CheckpointError
from electra.common.weights.checkpoint import match_state_dict
from electra.common.weights.layouts import module_kind
from electra.common.weights.names import expected_shapes, tied_keys

# Module kind -> {TF1 leaf: (canonical leaf, transposed)}. Tables have no leaf of their own.
TF1_LEAVES = {
    "linear": {"kernel": ("weight", True), "bias": ("bias", False)},
    "layer_norm": {"gamma": ("weight", False), "beta": ("bias", False)},
    "embedding": {"": ("weight", False)},
    "word_embedding": {"": ("weight", False)},
}
TF1_SKIPPED = re.compile(r"^(global_step|temperature)$|/adam_[mv]$")
TF1_HEADS = {"discriminator": "discriminator_predictions", "generator": "generator_predictions"}
TF1_RENAMES = {"discriminator_predictions/dense_1/": "discriminator_predictions/dense_prediction/",
               "generator_predictions/output_bias": "generator_lm_head/bias"}
NETWORK_ARCHITECTURES = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}
TF2_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"  # present in every tf.train.Checkpoint (TF2) file


# ----------------------------------------------------------------------------- finding files
def _listing(directory: Path, n: int = 8) -> str:
    names = sorted(p.name for p in directory.iterdir())
    shown = ", ".join(names[:n]) + (f" (and {len(names) - n} more)" if len(names) > n else "")
    return shown or "nothing"


def _named_in_checkpoint_file(directory: Path) -> Path:
    """The prefix the `checkpoint` file of `directory` names (moved checkpoints: looked up beside it)."""
    text = (directory / "checkpoint").read_text(errors="replace")
    found = re.search(r'^model_checkpoint_path:\s*"([^"]*)"', text, re.MULTILINE)
    if found is None:
        raise CheckpointError(f"{directory / 'checkpoint'}: no model_checkpoint_path line")
    named = Path(found.group(1))
    candidates = [named if named.is_absolute() else directory / named, directory / named.name]
    for prefix in candidates:
        if Path(f"{prefix}.index").is_file():
            return prefix
    raise CheckpointError(f"{directory / 'checkpoint'}: names {found.group(1)!r}, but no {candidates[-1].name}.index "
                          f"is there (found {_listing(directory)})")


def google_checkpoint_prefix(path: str | os.PathLike) -> Path:
    """The TF1 checkpoint prefix `path` names (no TensorFlow needed).

    Args:
        path: a prefix (`.../model.ckpt-1000` with `model.ckpt-1000.index` beside it), its
            `.index` file, or a directory holding a `checkpoint` file that names a prefix, or
            exactly one `*.index` file.
    Raises:
        CheckpointError: `path` is no TF1 checkpoint; the message says what was found.
    """
    path = Path(path)
    if Path(f"{path}.index").is_file():
        return path
    if path.is_file() and path.suffix == ".index":
        return path.with_suffix("")
    if path.is_dir():
        if (path / "checkpoint").is_file():
            return _named_in_checkpoint_file(path)
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return indexes[0].with_suffix("")
        if indexes:
            raise CheckpointError(f"{path}: several TF1 checkpoints and no `checkpoint` file naming one "
                                  f"({', '.join(p.name for p in indexes)}); pass a prefix")
        raise CheckpointError(f"{path}: not a TF1 checkpoint directory (no `checkpoint` file, no *.index); found {_listing(path)}")
    if path.is_file():
        raise CheckpointError(f"{path}: a file, not a TF1 checkpoint prefix (expected {path.name}.index beside it)")
    raise CheckpointError(f"{path}: no such file or directory, and no {path.name}.index beside it")


def is_google_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` names a TF1 checkpoint (`google_checkpoint_prefix` finds one); no TensorFlow needed."""
    try:
        google_checkpoint_prefix(path)
    except CheckpointError:
        return False
    return True


def _data_files(prefix: Path) -> list[Path]:
    """The `.data-*-of-*` shards of `prefix`, every one present."""
    shards = sorted(prefix.parent.glob(f"{prefix.name}.data-*-of-*"))
    if not shards:
        raise CheckpointError(f"{prefix}.index: its data file {prefix.name}.data-00000-of-00001 is missing")
    count = int(shards[0].name.rsplit("-of-", 1)[1])
    expected = [prefix.parent / f"{prefix.name}.data-{i:05d}-of-{count:05d}" for i in range(count)]
    missing = [p.name for p in expected if not p.is_file()]
    if missing:
        raise CheckpointError(f"{prefix}.index: data shard(s) missing: {', '.join(missing)}")
    return expected


# ----------------------------------------------------------------------------- names
def _canonical_name(path: str, original: str) -> tuple[str, bool]:
    """(canonical key, transposed) of a `/`-separated canonical path with its TF1 leaf."""
    path = re.sub(r"/layer_(\d+)(?=/)", r"/layer/\1", path)
    parts = path.split("/")
    if module_kind(".".join(parts)) != "linear":
        parts.append("")  # a table is a variable named after its module
    module, leaf = ".".join(parts[:-1]), parts[-1]
    kind = module_kind(module)
    if leaf not in TF1_LEAVES[kind]:
        raise CheckpointError(f"{original}: unknown leaf {leaf!r} for a {kind} module")
    canonical_leaf, transposed = TF1_LEAVES[kind][leaf]
    return f"{module}.{canonical_leaf}", transposed


def google_tf1_names(names, network: str) -> dict[str, tuple[str, bool]]:
    """Which TF1 variables make up one network, and their canonical keys.

    Args:
        names: every variable name of the checkpoint.
        network: "discriminator" or "generator".
    Returns:
        {TF1 name: (canonical key, transposed)} for the variables of `network`; the other
        network's variables, `global_step` and optimizer slots are left out.
    Raises:
        CheckpointError: naming the first (sorted) variable no ELECTRA pretraining run writes.
    """
    if network not in TF1_HEADS:
        raise ValueError(f"network must be 'discriminator' or 'generator', got {network!r}")
    names = sorted(names)
    if TF2_GRAPH_KEY in names:
        raise CheckpointError("a TF2 object-based checkpoint (tf.train.Checkpoint), not Google's TF1 ELECTRA checkpoint")
    own = [n for n in names if not TF1_SKIPPED.search(n)]
    # The generator's layout (module docstring): a `generator/` scope in (a) and (b), its own
    # embeddings there in (b); in (c) it is the discriminator's `electra/` network.
    if network == "generator" and any(n.startswith("generator/") for n in own):
        body = "generator/"
        embeddings = "generator/embeddings/" if any(n.startswith("generator/embeddings/") for n in own) else "electra/embeddings/"
    else:
        body, embeddings = "electra/", "electra/embeddings/"
    head = TF1_HEADS[network] + "/"
    selected: dict[str, tuple[str, bool]] = {}
    for name in own:
        if name.startswith(embeddings):
            path = "electra/embeddings/" + name.removeprefix(embeddings)
        elif name.startswith(body) and not name.startswith(body + "embeddings/"):
            path = "electra/" + name.removeprefix(body)
        elif name.startswith(head):
            path = next((new + name.removeprefix(old) for old, new in TF1_RENAMES.items() if name.startswith(old)), name)
        elif name.split("/", 1)[0] in ("electra", "generator", *TF1_HEADS.values()):
            continue  # the other network's
        else:
            raise CheckpointError(f"{name}: unexpected variable in an ELECTRA TF1 checkpoint (not under electra/, generator/, "
                                  "discriminator_predictions/ or generator_predictions/)")
        selected[name] = _canonical_name(path, name)
    return selected


def google_tf1_to_canonical(variables: dict[str, np.ndarray], network: str) -> dict[str, np.ndarray]:
    """One network of a Google TF1 ELECTRA checkpoint -> canonical keys (no checks of completeness).

    Args:
        variables: TF1 variable names -> arrays (a checkpoint's contents).
        network: "discriminator" (-> `ElectraForPreTraining` keys) or "generator"
            (-> `ElectraForMaskedLM` keys, the tied LM-head weight absent).
    Returns:
        Canonical keys -> arrays, kernels transposed to (out, in).
    """
    selected = google_tf1_names(variables, network)
    return {key: np.asarray(variables[name]).T if transposed else np.asarray(variables[name])
            for name, (key, transposed) in selected.items()}


# ----------------------------------------------------------------------------- config
def infer_config(shapes: dict[str, tuple[int, ...]], source: str = "checkpoint") -> ElectraConfig:
    """The config of a network from its canonical shapes.

    Every size is read from a shape but the head count: Google's code derives it as
    `max(1, hidden_size // 64)` for both networks (`training_utils.get_bert_config`,
    `run_pretraining.get_generator_config`), and so does this; a run that overrode it
    (`model_hparam_overrides`) needs its config passed explicitly.
    """
    def size(key: str, axis: int) -> int:
        if key not in shapes:
            raise CheckpointError(f"{source}: missing {key} (its TF1 variable), needed to infer the config")
        return int(shapes[key][axis])

    layers = [int(m.group(1)) for key in shapes if (m := re.match(r"electra\.encoder\.layer\.(\d+)\.", key))]
    hidden = size("electra.encoder.layer.0.attention.self.query.weight", 0)
    try:
        return ElectraConfig(
            vocab_size=size("electra.embeddings.word_embeddings.weight", 0),
            embedding_size=size("electra.embeddings.word_embeddings.weight", 1),
            hidden_size=hidden,
            num_hidden_layers=max(layers) + 1,
            num_attention_heads=max(1, hidden // 64),
            intermediate_size=size("electra.encoder.layer.0.intermediate.dense.weight", 0),
            max_position_embeddings=size("electra.embeddings.position_embeddings.weight", 0),
            type_vocab_size=size("electra.embeddings.token_type_embeddings.weight", 0),
        )
    except ValueError as err:
        raise CheckpointError(f"{source}: the sizes read from the shapes make no valid config ({err}); pass config=") from None


def _check_shapes(shapes: dict[str, tuple[int, ...]], tf1_names: dict[str, str], config: ElectraConfig, network: str,
                  source: str) -> None:
    """Every key of the network's architecture present with its shape, no other key."""
    architecture = NETWORK_ARCHITECTURES[network]
    expected = expected_shapes(config, architecture)
    for key, shape in shapes.items():
        if key not in expected:
            raise CheckpointError(f"{source}: variable {tf1_names[key]} has no place in {architecture} under the config "
                                  f"(as {key})")
        if shape != expected[key]:
            raise CheckpointError(f"{source}: variable {tf1_names[key]} is {key} of shape {shape}, the config expects "
                                  f"{expected[key]}")
    missing = sorted(set(expected) - set(shapes) - set(tied_keys(config, architecture)))
    head = TF1_HEADS[network]
    if missing and all(key.startswith(head) or key.startswith("generator_lm_head") for key in missing):
        raise CheckpointError(f"{source}: no {network} in this checkpoint (no {head}/ variables: a run "
                              f"{'without the ELECTRA objective' if network == 'discriminator' else 'with a uniform generator'}?)")
    if missing:
        shown = ", ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        raise CheckpointError(f"{source}: missing for the {network} ({architecture}): {shown}")


# ----------------------------------------------------------------------------- reading
def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: " + " ".join(str(err).split())


def load_google_checkpoint(path: str | os.PathLike, network: str,
                           config: ElectraConfig | None = None) -> tuple[ElectraConfig, dict[str, np.ndarray]]:
    """One network of a Google TF1 ELECTRA checkpoint, as a config and canonical weights.

    The names and shapes are checked (and the config inferred) from the index before any
    tensor is read; then only the network's tensors are read (TensorFlow checks each one's
    checksum), after the data files are checked to hold every byte the index lists.

    Args:
        path: a checkpoint prefix or directory (see `google_checkpoint_prefix`).
        network: "discriminator" -> `ElectraForPreTraining` weights, "generator" ->
            `ElectraForMaskedLM` weights (the tied `generator_lm_head.weight` absent, as in HF files).
        config: the network's config, checked against the shapes; None infers it
            (`infer_config`: every size from the shapes, heads = max(1, hidden // 64)).
    Returns:
        (config, canonical state): float32 arrays, Linear weights (out, in).
    Raises:
        ValueError: `network` is neither name.
        CheckpointError: no TF1 checkpoint at `path`, a variable of another model, shapes
            that do not fit `config`, a missing network, a truncated or corrupt file.
        ImportError: TensorFlow is not installed.
    """
    if network not in TF1_HEADS:
        raise ValueError(f"{path}: network must be 'discriminator' or 'generator', got {network!r}")
    prefix = google_checkpoint_prefix(path)
    data_files = _data_files(prefix)
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(f"{prefix}: reading a Google TF1 checkpoint needs TensorFlow, which is not installed: "
                          "pip install 'electra[tf]'") from None

    index = f"{prefix}.index"
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        tf1_shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except (tf.errors.OpError, ValueError) as err:
        raise CheckpointError(f"{index}: not a readable TF1 checkpoint index ({_one_line(err)})") from None
    try:
        selected = google_tf1_names(tf1_shapes, network)
    except CheckpointError as err:
        raise CheckpointError(f"{index}: {err}") from None

    # A bundle stores numeric tensors back to back, so the data must hold exactly the listed bytes.
    listed = None if tf.string in dtypes.values() else sum(math.prod(tf1_shapes[n]) * dtypes[n].size for n in tf1_shapes)
    held = sum(p.stat().st_size for p in data_files)
    if listed is not None and held < listed:
        raise CheckpointError(f"{data_files[-1]}: truncated: the data holds {held} bytes, the index lists {listed}")

    shapes = {key: tuple(reversed(tf1_shapes[name]) if transposed else tf1_shapes[name]) for name, (key, transposed) in selected.items()}
    tf1_names = {key: name for name, (key, _) in selected.items()}
    config = infer_config(shapes, index) if config is None else config
    _check_shapes(shapes, tf1_names, config, network, index)

    state = {}
    for name, (key, transposed) in selected.items():
        try:
            array = reader.get_tensor(name)
        except (tf.errors.OpError, IndexError, ValueError) as err:
            raise CheckpointError(f"{data_files[0] if len(data_files) == 1 else index}: cannot read {name}, "
                                  f"the file is truncated or corrupt ({_one_line(err)})") from None
        state[key] = array.T if transposed else array
    match_state_dict(state, config, NETWORK_ARCHITECTURES[network], source=index)  # dtypes, finite values
    return config, state
