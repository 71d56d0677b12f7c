"""Checkpoints: read any HF ELECTRA weights format, write every one, match strictly, load.

Reading returns canonical keys (HF PyTorch state-dict names, docs/reference.md section 5) as
NumPy arrays whatever the file: `model.safetensors`, `pytorch_model.bin`, `tf_model.h5`,
`flax_model.msgpack`, each sharded or not (`formats.py` holds the file formats). Writing
(`write_pretrained`) produces what HF 4.57's `save_pretrained` produces in each format, so
`transformers`' own loaders read it without cross-framework flags. Matching checks a read
state against `electra.common.weights.names.expected_shapes` the way HF's `from_pretrained`
does, but strictly: anything missing, unexpected or misshapen raises `CheckpointError` naming
the file and the key. `loading.load_pretrained`, the one loading path of the three
backends' `from_pretrained`, builds on these.

Frameworks (`torch`, `h5py`, `msgpack`) are imported only when a file of their kind is read
or written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from electra.common.config import ElectraConfig
from electra.common.errors import CheckpointError
from electra.common.files import atomic_write_text
from electra.common.weights import formats
from electra.common.weights.layouts import canonical_to_hf_flax, canonical_to_hf_tf, hf_flax_to_canonical, hf_tf_to_canonical
from electra.common.weights.names import ARCHITECTURES, BACKBONE_PREFIX, IGNORED_KEYS, backbone_shapes, head_shapes, tied_keys

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PT_WEIGHTS_NAME = "pytorch_model.bin"
PT_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
TF_WEIGHTS_NAME = "tf_model.h5"
TF_WEIGHTS_INDEX_NAME = "tf_model.h5.index.json"
FLAX_WEIGHTS_NAME = "flax_model.msgpack"
FLAX_WEIGHTS_INDEX_NAME = "flax_model.msgpack.index.json"


@dataclasses.dataclass(frozen=True)
class Format:
    """One HF weights format: its files and how its stored names become canonical keys."""

    name: str  # what `write_pretrained(format=...)` takes
    weights_name: str  # the unsharded file
    index_name: str  # the index of a sharded checkpoint
    read: Callable[[Path], dict[str, np.ndarray]]  # one file -> stored names
    to_canonical: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    index_to_stored: Callable[[str], str] = lambda key: key  # an index's weight_map key -> the name in the shard

    @property
    def shard_pattern(self) -> re.Pattern:
        stem, suffix = self.weights_name.split(".", 1)
        return re.compile(rf"{re.escape(stem)}-\d{{5}}-of-\d{{5}}\.{re.escape(suffix)}")

    def shard_name(self, i: int, n: int) -> str:
        stem, suffix = self.weights_name.split(".", 1)
        return f"{stem}-{i:05d}-of-{n:05d}.{suffix}"


def _same(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return state


FORMATS = {
    fmt.name: fmt
    for fmt in (
        Format("safetensors", WEIGHTS_NAME, WEIGHTS_INDEX_NAME, formats.read_safetensors, _same),
        Format("pytorch", PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME, formats.read_torch, _same),
        # HF's TF index names weights with the model scope; its shards store them without.
        Format("tf", TF_WEIGHTS_NAME, TF_WEIGHTS_INDEX_NAME, formats.read_h5,
               lambda stored: hf_tf_to_canonical(stored, scoped=False), lambda key: key.split("/", 1)[-1]),
        Format("flax", FLAX_WEIGHTS_NAME, FLAX_WEIGHTS_INDEX_NAME, formats.read_msgpack,
               lambda stored: hf_flax_to_canonical(formats.unflatten(stored))),
    )
}
SUFFIXES = {".safetensors": "safetensors", ".bin": "pytorch", ".pt": "pytorch", ".pth": "pytorch", ".h5": "tf", ".msgpack": "flax"}
# Files looked for in a checkpoint directory, in this order (HF's order for PyTorch first).
SEARCH_ORDER = tuple(name for fmt in FORMATS.values() for name in (fmt.weights_name, fmt.index_name))
SHARD_PATTERN = FORMATS["safetensors"].shard_pattern


def _format_of(file: Path) -> Format:
    """The format of a weights file or index, by its name."""
    name = file.name.removesuffix(".index.json") if file.name.endswith(".index.json") else file.name
    kind = SUFFIXES.get(Path(name).suffix)
    if kind is None:
        raise CheckpointError(f"{file}: unknown checkpoint format (expected one of {', '.join(SEARCH_ORDER)})")
    return FORMATS[kind]


# ----------------------------------------------------------------------------- reading
def _shard_path(directory: Path, name: object, index: Path) -> Path:
    """The shard file `name` of `index`, refused if it would leave `directory`."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise CheckpointError(f"{index}: shard path {name!r} is not a file name inside the checkpoint directory")
    path = directory / name
    if not path.resolve().is_relative_to(directory.resolve()):
        raise CheckpointError(f"{index}: shard path {name!r} leaves the checkpoint directory")
    return path


def _read_index(index: Path, fmt: Format) -> dict[str, np.ndarray]:
    """Every shard named by a HF index file (`*.index.json`), checked against the index;
    stored names (the format's own)."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{index}: not a valid shard index ({type(err).__name__}: {err})") from None
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{index}: weight_map is not an object")
    placed = {fmt.index_to_stored(key): name for key, name in weight_map.items()}
    state: dict[str, np.ndarray] = {}
    origin: dict[str, Path] = {}
    for name in sorted(set(weight_map.values()), key=str):
        shard = _shard_path(index.parent, name, index)
        if not shard.is_file():
            raise CheckpointError(f"{index}: shard {shard} is missing")
        for key, value in fmt.read(shard).items():
            if key in origin:
                raise CheckpointError(f"{index}: key {key!r} is in two shards, {origin[key]} and {shard}")
            if placed.get(key) != name:
                raise CheckpointError(f"{shard}: holds {key!r}, which the index places in {placed.get(key)!r}")
            origin[key] = shard
            state[key] = value
    missing = sorted(set(placed) - set(state))
    if missing:
        raise CheckpointError(f"{index}: key(s) listed but in no shard: {_first(missing)}")
    return state


def _read_file(file: Path) -> dict[str, np.ndarray]:
    fmt = _format_of(file)
    stored = _read_index(file, fmt) if file.name.endswith(".index.json") else fmt.read(file)
    try:
        return fmt.to_canonical(stored)
    except CheckpointError as err:
        raise CheckpointError(f"{file}: {err}") from None


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a checkpoint file or directory into canonical keys -> NumPy arrays.

    Args:
        path: a directory holding one of, in this order of preference, `model.safetensors`,
            `model.safetensors.index.json` (sharded), `pytorch_model.bin`,
            `pytorch_model.bin.index.json`, `tf_model.h5`, `tf_model.h5.index.json`,
            `flax_model.msgpack`, `flax_model.msgpack.index.json`; or one such file (or a
            single shard) given directly.
    Returns:
        Canonical keys as stored (an `electra.` prefix kept or absent as in the file;
        Flax and TF layouts converted). float16 and bfloat16 tensors come back as
        float32; other dtypes as stored.
    Raises:
        CheckpointError: no checkpoint found (naming what was looked for), a corrupt or
            truncated file, a bad shard index (a shard missing, outside the directory,
            or a key in two shards).
    """
    path = Path(path)
    if path.is_dir():
        for name in SEARCH_ORDER:
            if (path / name).is_file():
                return _read_file(path / name)
        raise CheckpointError(f"{path}: no checkpoint file found (looked for {', '.join(SEARCH_ORDER)})")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or directory")
    return _read_file(path)


# ----------------------------------------------------------------------------- writing
SIZE_UNITS = {"GIB": 2**30, "MIB": 2**20, "KIB": 2**10, "GB": 10**9, "MB": 10**6, "KB": 10**3}


def parse_shard_size(size: int | str) -> int:
    """A shard size as HF's `convert_file_size_to_int` reads it: an int of bytes, or digits
    and a unit: `GiB`/`MiB`/`KiB` (powers of 2), `GB`/`MB`/`KB` (powers of 10; as in HF, a
    lowercase final `b`, e.g. `"5Gb"`, means bits); units in any case.

    Raises:
        ValueError: anything else, or a size that is not positive.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    elif isinstance(size, str) and (found := re.fullmatch(r"(\d+)(gib|mib|kib|gb|mb|kb)", size.strip(), re.IGNORECASE)):
        value = int(found.group(1)) * SIZE_UNITS[found.group(2).upper()]
        if found.group(2).upper() in ("GB", "MB", "KB") and size.strip().endswith("b"):
            value //= 8
    else:
        raise ValueError(f"max_shard_size must be a number of bytes or a size like '5GB', '500MB', '2GiB', got {size!r}")
    if value <= 0:
        raise ValueError(f"max_shard_size must be positive, got {size!r}")
    return value


def _shards(stored: dict[str, np.ndarray], max_shard_size: int | None, shared: dict[str, str]) -> list[list[str]]:
    """Names in sorted order, cut greedily into shards of at most `max_shard_size` bytes (a
    single tensor larger than that gets a shard of its own). A `shared` name {name: source}
    shares its source's storage: it goes into its source's shard and counts no bytes."""
    own = [name for name in sorted(stored) if name not in shared]
    shards: list[list[str]] = [[]]
    size = 0
    for name in own:
        nbytes = np.asarray(stored[name]).nbytes
        if max_shard_size is not None and shards[-1] and size + nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    for name, source in shared.items():
        if name in stored:
            next(shard for shard in shards if source in shard).append(name)
    return shards


@dataclasses.dataclass(frozen=True)
class _Stored:
    """A state in one format's stored names, with how to write its files."""

    arrays: dict[str, np.ndarray]
    write_single: Callable[[Path, dict[str, np.ndarray]], None]
    write_shard: Callable[[Path, dict[str, np.ndarray]], None]
    index_key: Callable[[str], str] = lambda name: name
    shared: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> the name whose storage it shares
    total_parameters: bool = True  # HF's PyTorch indexes count parameters too


def _write_files(directory: Path, fmt: Format, stored: _Stored, max_shard_size: int | None) -> list[Path]:
    """Write `stored` as `fmt`'s single file or shards + index; every file atomically."""
    shards = _shards(stored.arrays, max_shard_size, stored.shared)
    if len(shards) == 1:
        file = directory / fmt.weights_name
        stored.write_single(file, {name: stored.arrays[name] for name in shards[0]})
        return [file]
    written, weight_map = [], {}
    for i, names in enumerate(shards, start=1):
        file = directory / fmt.shard_name(i, len(shards))
        stored.write_shard(file, {name: stored.arrays[name] for name in names})
        weight_map.update({stored.index_key(name): file.name for name in names})
        written.append(file)
    own = [np.asarray(v) for name, v in stored.arrays.items() if name not in stored.shared]
    metadata = {"total_size": sum(a.nbytes for a in own)}
    if stored.total_parameters:
        metadata["total_parameters"] = sum(a.size for a in own)
    written.append(directory / fmt.index_name)
    atomic_write_text(written[-1], json.dumps({"metadata": metadata, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n")
    return written


def _remove_stale(directory: Path, written: list[Path]) -> None:
    """Weight files of every format an earlier save left in `directory` (so a reader cannot
    pick up old weights), once the new ones are in place."""
    for file in directory.iterdir():
        ours = any(file.name in (fmt.weights_name, fmt.index_name) or fmt.shard_pattern.fullmatch(file.name) for fmt in FORMATS.values())
        if ours and file not in written and file.is_file():
            file.unlink()


def write_state_dict(
    directory: str | os.PathLike,
    state: dict[str, np.ndarray],
    *,
    max_shard_size: int | str | None = None,
    metadata: dict[str, str] | None = None,
) -> list[Path]:
    """Write `state` as safetensors into `directory`, sharded as HF does past `max_shard_size`.

    Args:
        directory: created if needed.
        state: keys -> arrays, written as they are (no renaming, no dtype change).
        max_shard_size: bytes per shard (see `parse_shard_size`); when the state is larger,
            writes `model-0000i-of-0000n.safetensors` and `model.safetensors.index.json`.
        metadata: extra string metadata; `{"format": "pt"}` is always included (HF's
            loader requires it).
    Returns:
        The files written. Every file is written atomically; weight files an earlier save
        left in `directory` are removed once the new files are in place.
    """
    limit = parse_shard_size(max_shard_size) if max_shard_size is not None else None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metadata = {"format": "pt", **(metadata or {})}
    write = lambda file, arrays: formats.write_safetensors(file, arrays, metadata)  # noqa: E731
    written = _write_files(directory, FORMATS["safetensors"], _Stored(dict(state), write, write), limit)
    _remove_stale(directory, written)
    return written


def _tf_layers(weights: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """HF TF's top-level Keras layers and their weights: one per first name part; the
    generator's LM head also lists the embedding tables it reads, as Keras 2 saves them."""
    layers: dict[str, list[str]] = {}
    for name in weights:
        layers.setdefault(name.split("/", 1)[0], []).append(name)
    if "generator_lm_head" in layers:
        layers["generator_lm_head"] += [name for name in weights if name.startswith("electra/embeddings/")]
    return layers


def _stored(fmt: str, config: ElectraConfig, state: dict[str, np.ndarray], architecture: str) -> _Stored:
    """A complete canonical state of `architecture` in the stored names of `fmt`, as HF writes them."""
    tied = tied_keys(config, architecture)
    if fmt == "safetensors":
        write = lambda file, arrays: formats.write_safetensors(file, arrays, {"format": "pt"})  # noqa: E731
        return _Stored({k: v for k, v in state.items() if k not in tied}, write, write)
    if fmt == "pytorch":  # torch.save keeps the tied keys, sharing their source's storage
        write = lambda file, arrays: formats.write_torch(file, arrays, tied)  # noqa: E731
        return _Stored(dict(state), write, write, shared=tied)
    if fmt == "tf":
        scope = formats.tf_model_scope(architecture)
        weights = {name.split("/", 1)[1]: value for name, value in
                   canonical_to_hf_tf(state, scope, tie_word_embeddings=config.tie_word_embeddings).items()}
        single = lambda file, arrays: formats.write_h5(file, arrays, scope, _tf_layers(arrays))  # noqa: E731
        return _Stored(weights, single, formats.write_h5_shard, index_key=lambda name: f"{scope}/{name}", total_parameters=False)
    tree = canonical_to_hf_flax(state, tie_word_embeddings=config.tie_word_embeddings)
    return _Stored(formats.flatten(tree), formats.write_msgpack, formats.write_msgpack, total_parameters=False)


def write_pretrained(
    directory: str | os.PathLike,
    config: ElectraConfig,
    state: dict[str, np.ndarray],
    architecture: str,
    *,
    format: str = "safetensors",
    max_shard_size: int | str | None = None,
) -> list[Path]:
    """Write `config.json` and the weights of `architecture` as HF 4.57's `save_pretrained`
    does in `format`, so HF's own loaders read them natively. Needs no framework except
    torch for "pytorch", h5py for "tf" and msgpack for "flax".

    Args:
        directory: created if needed.
        config: saved with `architectures: [architecture]` added (on a copy).
        state: canonical keys of `architecture` (every one, tied keys optional; checked by
            `match_state_dict` before anything is written).
        format: "safetensors" (`model.safetensors`, tied keys left out), "pytorch"
            (`pytorch_model.bin`, tied keys kept), "tf" (`tf_model.h5`, Keras 2 h5 as
            `TFElectra*` reads it) or "flax" (`flax_model.msgpack`, as `FlaxElectra*` reads it).
        max_shard_size: bytes per shard, an int or a string like "5GB" (`parse_shard_size`);
            past it the weights go to `<name>-0000i-of-0000n.<ext>` and `<file>.index.json`.
    Returns:
        The weight files written, then `config.json`. Every file is written atomically;
        weight files of any format an earlier save left in `directory` are removed once the
        new files are in place.
    Raises:
        ValueError: an unknown format or a bad `max_shard_size`.
        CheckpointError: `state` is not a complete state of `architecture`.
        ImportError: the format's library is not installed (naming the extra to install).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {list(FORMATS)}")
    limit = parse_shard_size(max_shard_size) if max_shard_size is not None else None
    full, newly_initialised, unused = match_state_dict(state, config, architecture, source="state to save")
    if newly_initialised or unused:
        raise CheckpointError(f"state to save: not a complete {architecture} state ({_first(newly_initialised + unused)})")
    stored = _stored(format, config, full, architecture)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = _write_files(directory, FORMATS[format], stored, limit)
    written.append(dataclasses.replace(config, extra={**config.extra, "architectures": [architecture]}).save_pretrained(directory))
    _remove_stale(directory, written)
    return written


# ----------------------------------------------------------------------------- matching
def _first(keys: list[str], n: int = 5) -> str:
    shown = ", ".join(keys[:n])
    return f"{shown} (and {len(keys) - n} more, {len(keys)} in all)" if len(keys) > n else shown


def _resolve_prefix(state: dict[str, np.ndarray], config: ElectraConfig, architecture: str) -> dict[str, np.ndarray]:
    """Drop ignored buffers; add or strip `electra.` between bare and head checkpoints."""
    bare_backbone = set(backbone_shapes(config))
    has_prefix = any(key.startswith(BACKBONE_PREFIX) for key in state)
    resolved: dict[str, np.ndarray] = {}
    for key, value in state.items():
        bare = key.removeprefix(BACKBONE_PREFIX)
        if bare in IGNORED_KEYS:
            continue
        if architecture == "ElectraModel":
            key = bare
        elif not has_prefix and key in bare_backbone:
            key = BACKBONE_PREFIX + key
        resolved[key] = value
    return resolved


def _check_array(key: str, value: np.ndarray, source: str) -> None:
    if not np.issubdtype(value.dtype, np.floating):
        raise CheckpointError(f"{source}: {key} has dtype {value.dtype}, expected a floating-point type")
    if not np.isfinite(value).all():
        raise CheckpointError(f"{source}: {key} holds NaN or infinite values")


def match_state_dict(
    state: dict[str, np.ndarray], config: ElectraConfig, architecture: str, *, source: str = "checkpoint",
    ignore_mismatched_sizes: bool = False,
) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """Check a read checkpoint against the keys and shapes `architecture` needs.

    Rules (HF's `from_pretrained`, strict where HF warns):
    ignored buffers are dropped; a bare checkpoint loaded into a head class gets the
    `electra.` prefix, a head checkpoint loaded into `ElectraModel` loses it; every
    backbone key is required; the head is loaded whole or not at all (then its keys are
    returned as newly initialised: the caller keeps its fresh init and warns); keys of
    another architecture's head are returned as unused (the fine-tuning flow); tied keys
    may be absent (filled from their source) and must equal it when present. Every array
    must have its expected shape, a floating dtype and finite values (NaN or inf in a
    checkpoint means a diverged or damaged run, so it is refused rather than loaded).
    With `ignore_mismatched_sizes` (HF's flag) an array of another shape is left out and
    returned as newly initialised instead (with a tie to it), the rest of its head loaded.

    Args:
        state: keys -> arrays, as `read_state_dict` returns.
        config: the model's config.
        architecture: one of `electra.common.weights.names.ARCHITECTURES`.
        source: the file name for error messages.
        ignore_mismatched_sizes: see above.
    Returns:
        (state, newly_initialised_keys, unused_keys): the state holds every expected key
        of `architecture` except the newly initialised ones, arrays as given (tied keys
        share their source's array).
    Raises:
        CheckpointError: naming the source and the key(s).
    """
    expected_head = head_shapes(config, architecture)
    tied = tied_keys(config, architecture)
    backbone = backbone_shapes(config)
    if architecture != "ElectraModel":
        backbone = {BACKBONE_PREFIX + key: shape for key, shape in backbone.items()}
    other_heads = {key for arch in ARCHITECTURES for key in head_shapes(config, arch)} - set(expected_head)
    state = _resolve_prefix(state, config, architecture)

    unexpected = sorted(set(state) - set(backbone) - set(expected_head) - other_heads)
    if unexpected:
        raise CheckpointError(f"{source}: unexpected key(s) for {architecture}: {_first(unexpected)}")
    missing = sorted(set(backbone) - set(state))
    if missing:
        raise CheckpointError(f"{source}: missing key(s) for {architecture}: {_first(missing)}")
    head = [key for key in expected_head if key not in tied]
    present = [key for key in head if key in state]
    if present and len(present) < len(head):
        absent = sorted(set(head) - set(present))
        raise CheckpointError(f"{source}: partial {architecture} head, missing {_first(absent)}")
    newly_initialised = [] if present else sorted(head)

    shapes = {**backbone, **expected_head}
    loaded = {key: np.asarray(state[key]) for key in (*backbone, *present)}
    mismatched = sorted(key for key, value in loaded.items() if tuple(value.shape) != shapes[key])
    if mismatched and not ignore_mismatched_sizes:
        key = mismatched[0]
        raise CheckpointError(
            f"{source}: {key} has shape {tuple(loaded[key].shape)} in the checkpoint but {shapes[key]} in {architecture} with this config "
            f"(mismatched: {', '.join(mismatched)}); pass ignore_mismatched_sizes=True to initialise them anew"
        )
    for key in mismatched:
        del loaded[key]
    for key, value in loaded.items():
        _check_array(key, value, source)
    for key, source_key in tied.items():
        if source_key in mismatched:
            mismatched.append(key)
            continue
        if key in state and not np.array_equal(np.asarray(state[key]), loaded[source_key]):
            raise CheckpointError(f"{source}: {key} is tied to {source_key} but holds different values")
        loaded[key] = loaded[source_key]
    unused = sorted(set(state) & other_heads)
    return loaded, sorted({*newly_initialised, *mismatched}), unused
