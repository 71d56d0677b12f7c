"""Checkpoint files: read any HF ELECTRA weights format, write safetensors, match strictly.

Reading returns canonical keys (HF PyTorch state-dict names, docs/reference.md section 5) as
NumPy arrays whatever the file: `model.safetensors` (sharded or not), `pytorch_model.bin`
(sharded or not), `flax_model.msgpack`, `tf_model.h5`. Writing produces what HF's
`save_pretrained` produces for PyTorch, so `transformers` 4.57 loads it. Matching
checks a read state against `electra.common.weights.names.expected_shapes` the way HF's
`from_pretrained` does, but strictly: anything missing, unexpected or misshapen raises
`CheckpointError` naming the file and the key.

Frameworks (`torch`, `flax`, `h5py`) are imported only when a file of their kind is read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from electra.common.config import ElectraConfig
from electra.common.errors import CheckpointError
from electra.common.files import atomic_open, atomic_write_text
from electra.common.weights.layouts import hf_flax_to_canonical, hf_tf_to_canonical
from electra.common.weights.names import ARCHITECTURES, BACKBONE_PREFIX, IGNORED_KEYS, backbone_shapes, head_shapes, tied_keys

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PT_WEIGHTS_NAME = "pytorch_model.bin"
PT_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
FLAX_WEIGHTS_NAME = "flax_model.msgpack"
TF_WEIGHTS_NAME = "tf_model.h5"
# Files looked for in a checkpoint directory, in this order (HF's order for PyTorch).
SEARCH_ORDER = (WEIGHTS_NAME, WEIGHTS_INDEX_NAME, PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME, FLAX_WEIGHTS_NAME, TF_WEIGHTS_NAME)
SHARD_PATTERN = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
HALF_DTYPES = ("float16", "bfloat16")  # widened to float32 on read

# safetensors dtype codes <-> NumPy (BF16 has no NumPy type: read as uint16, widened).
SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
SAFETENSORS_CODES = {np.dtype(t): code for code, t in SAFETENSORS_DTYPES.items() if code != "BF16"}
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own bound


# ----------------------------------------------------------------------------- safetensors
def _read_safetensors(file: Path) -> dict[str, np.ndarray]:
    """A safetensors file (8-byte little-endian header size, JSON header, data), checked
    entry by entry so a truncated or forged file raises instead of reading garbage."""
    with open(file, "rb") as handle:
        file_size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{file}: truncated safetensors file ({file_size} bytes)")
        (header_size,) = struct.unpack("<Q", prefix)
        if header_size > min(MAX_HEADER_BYTES, file_size - 8):
            raise CheckpointError(f"{file}: invalid safetensors header size {header_size} (file has {file_size} bytes)")
        try:
            header = json.loads(handle.read(header_size).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{file}: invalid safetensors header ({err})") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{file}: invalid safetensors header (not a JSON object)")
        data_start, data_size = 8 + header_size, file_size - 8 - header_size
        state: dict[str, np.ndarray] = {}
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            try:
                dtype = np.dtype(SAFETENSORS_DTYPES[entry["dtype"]]).newbyteorder("<")
                shape = tuple(int(n) for n in entry["shape"])
                begin, end = (int(n) for n in entry["data_offsets"])
            except (KeyError, TypeError, ValueError) as err:
                raise CheckpointError(f"{file}: {key}: invalid header entry {entry!r} ({type(err).__name__}: {err})") from None
            if not 0 <= begin <= end <= data_size or end - begin != dtype.itemsize * int(np.prod(shape)) or min(shape, default=0) < 0:
                raise CheckpointError(f"{file}: {key}: data offsets {[begin, end]} do not fit shape {shape} {entry['dtype']} in {data_size} data bytes")
            handle.seek(data_start + begin)
            buffer = bytearray(end - begin)
            handle.readinto(buffer)
            array = np.frombuffer(buffer, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)
            if entry["dtype"] == "BF16":  # bfloat16 is the top half of a float32
                array = (array.astype(np.uint32) << 16).view(np.float32)
            state[key] = _widen(array)
    return state


def _write_safetensors(file: Path, state: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write `state` (keys sorted, little-endian, header padded to 8 bytes) atomically."""
    arrays = {key: np.ascontiguousarray(state[key]) for key in sorted(state)}
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for key, array in arrays.items():
        code = SAFETENSORS_CODES.get(array.dtype.newbyteorder("="))
        if code is None:
            raise ValueError(f"{key}: dtype {array.dtype} cannot be written to safetensors")
        header[key] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with atomic_open(file, "wb") as handle:
        handle.write(struct.pack("<Q", len(blob)))
        handle.write(blob)
        for array in arrays.values():
            handle.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


# ----------------------------------------------------------------------------- reading
def _read_torch(file: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike: the file is unusable
        raise CheckpointError(f"{file}: not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{file}: expected a state dict, found {type(loaded).__name__}")
    state = {}
    for key, tensor in loaded.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{file}: {key!r} is a {type(tensor).__name__}, not a tensor")
        tensor = tensor.detach()
        if str(tensor.dtype).removeprefix("torch.") in HALF_DTYPES:
            tensor = tensor.float()
        state[key] = tensor.numpy()
    return state


def _read_flax(file: Path) -> dict[str, np.ndarray]:
    from flax.serialization import msgpack_restore

    try:
        tree = msgpack_restore(file.read_bytes())
    except Exception as err:  # msgpack raises several unrelated types on bad input
        raise CheckpointError(f"{file}: not a readable Flax msgpack file ({type(err).__name__}: {err})") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{file}: expected a parameter tree, found {type(tree).__name__}")
    try:
        state = hf_flax_to_canonical(tree)
    except CheckpointError as err:
        raise CheckpointError(f"{file}: {err}") from None
    return {key: _widen(value) for key, value in state.items()}


def _read_h5(file: Path) -> dict[str, np.ndarray]:
    import h5py

    weights: dict[str, np.ndarray] = {}
    try:
        with h5py.File(file, "r") as handle:

            def collect(path: str, item) -> None:
                if isinstance(item, h5py.Dataset):
                    name = path.split("/", 1)[1]  # drop the Keras layer group
                    value = np.asarray(item[()])
                    if name in weights and not np.array_equal(weights[name], value):
                        raise CheckpointError(f"{file}: {name!r} is stored twice with different values")
                    weights[name] = value

            handle.visititems(collect)
    except OSError as err:
        raise CheckpointError(f"{file}: not a readable HDF5 file ({err})") from None
    if not weights:
        raise CheckpointError(f"{file}: holds no weights")
    try:
        state = hf_tf_to_canonical(weights)
    except CheckpointError as err:
        raise CheckpointError(f"{file}: {err}") from None
    return {key: _widen(value) for key, value in state.items()}


def _widen(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype.name in HALF_DTYPES else array


READERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    ".safetensors": _read_safetensors,
    ".bin": _read_torch,
    ".pt": _read_torch,
    ".pth": _read_torch,
    ".msgpack": _read_flax,
    ".h5": _read_h5,
}


def _shard_path(directory: Path, name: object, index: Path) -> Path:
    """The shard file `name` of `index`, refused if it would leave `directory`."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise CheckpointError(f"{index}: shard path {name!r} is not a file name inside the checkpoint directory")
    path = directory / name
    if not path.resolve().is_relative_to(directory.resolve()):
        raise CheckpointError(f"{index}: shard path {name!r} leaves the checkpoint directory")
    return path


def _read_index(index: Path) -> dict[str, np.ndarray]:
    """Every shard named by a HF index file (`*.index.json`), checked against the index."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{index}: not a valid shard index ({type(err).__name__}: {err})") from None
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{index}: weight_map is not an object")
    state: dict[str, np.ndarray] = {}
    origin: dict[str, Path] = {}
    for name in sorted(set(weight_map.values()), key=str):
        shard = _shard_path(index.parent, name, index)
        if not shard.is_file():
            raise CheckpointError(f"{index}: shard {shard} is missing")
        for key, value in _read_file(shard).items():
            if key in origin:
                raise CheckpointError(f"{index}: key {key!r} is in two shards, {origin[key]} and {shard}")
            if weight_map.get(key) != name:
                raise CheckpointError(f"{shard}: holds {key!r}, which the index places in {weight_map.get(key)!r}")
            origin[key] = shard
            state[key] = value
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise CheckpointError(f"{index}: key(s) listed but in no shard: {_first(missing)}")
    return state


def _read_file(file: Path) -> dict[str, np.ndarray]:
    if file.name.endswith(".index.json"):
        return _read_index(file)
    reader = READERS.get(file.suffix)
    if reader is None:
        raise CheckpointError(f"{file}: unknown checkpoint format (expected one of {', '.join(SEARCH_ORDER)})")
    return reader(file)


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a checkpoint file or directory into canonical keys -> NumPy arrays.

    Args:
        path: a directory holding one of, in this order of preference, `model.safetensors`,
            `model.safetensors.index.json` (sharded), `pytorch_model.bin`,
            `pytorch_model.bin.index.json`, `flax_model.msgpack`, `tf_model.h5`; or one
            such file (or a single shard) given directly.
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
def _shards(state: dict[str, np.ndarray], max_shard_size: int) -> list[dict[str, np.ndarray]]:
    """Keys in sorted order, cut greedily into shards of at most `max_shard_size` bytes
    (a single tensor larger than that gets a shard of its own)."""
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for key in sorted(state):
        nbytes = np.asarray(state[key]).nbytes
        if shards[-1] and size + nbytes > max_shard_size:
            shards.append({})
            size = 0
        shards[-1][key] = state[key]
        size += nbytes
    return shards


def write_state_dict(
    directory: str | os.PathLike,
    state: dict[str, np.ndarray],
    *,
    max_shard_size: int | None = None,
    metadata: dict[str, str] | None = None,
) -> list[Path]:
    """Write `state` as safetensors into `directory`, sharded as HF does past `max_shard_size`.

    Args:
        directory: created if needed.
        state: keys -> arrays, written as they are (no renaming, no dtype change).
        max_shard_size: bytes per shard; when the state is larger, writes
            `model-0000i-of-0000n.safetensors` and `model.safetensors.index.json`.
        metadata: extra string metadata; `{"format": "pt"}` is always included (HF's
            loader requires it).
    Returns:
        The files written. Every file is written atomically; shards or an index left by
        an earlier save in `directory` are removed once the new files are in place.
    """
    if max_shard_size is not None and (isinstance(max_shard_size, bool) or not isinstance(max_shard_size, int) or max_shard_size <= 0):
        raise ValueError(f"max_shard_size must be a positive number of bytes, got {max_shard_size!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metadata = {"format": "pt", **(metadata or {})}
    shards = _shards(state, max_shard_size) if max_shard_size is not None else [dict(state)]
    written: list[Path] = []
    if len(shards) == 1:
        written.append(directory / WEIGHTS_NAME)
        _write_safetensors(written[0], shards[0], metadata)
    else:
        weight_map: dict[str, str] = {}
        for i, shard in enumerate(shards, start=1):
            file = directory / f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            _write_safetensors(file, shard, metadata)
            weight_map.update(dict.fromkeys(shard, file.name))
            written.append(file)
        total = sum(np.asarray(v).nbytes for v in state.values())
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        written.append(directory / WEIGHTS_INDEX_NAME)
        atomic_write_text(written[-1], json.dumps(index, indent=2) + "\n")
    for stale in directory.iterdir():
        ours = stale.name in (WEIGHTS_NAME, WEIGHTS_INDEX_NAME) or SHARD_PATTERN.fullmatch(stale.name)
        if ours and stale not in written:
            stale.unlink()
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


def _check_array(key: str, value: np.ndarray, shape: tuple[int, ...], source: str) -> None:
    if tuple(value.shape) != shape:
        raise CheckpointError(f"{source}: {key} has shape {tuple(value.shape)}, expected {shape}")
    if not np.issubdtype(value.dtype, np.floating):
        raise CheckpointError(f"{source}: {key} has dtype {value.dtype}, expected a floating-point type")
    if not np.isfinite(value).all():
        raise CheckpointError(f"{source}: {key} holds NaN or infinite values")


def match_state_dict(
    state: dict[str, np.ndarray], config: ElectraConfig, architecture: str, *, source: str = "checkpoint"
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

    Args:
        state: keys -> arrays, as `read_state_dict` returns.
        config: the model's config.
        architecture: one of `electra.common.weights.names.ARCHITECTURES`.
        source: the file name for error messages.
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

    loaded = {key: np.asarray(state[key]) for key in (*backbone, *present)}
    for key, value in loaded.items():
        _check_array(key, value, {**backbone, **expected_head}[key], source)
    for key, source_key in tied.items():
        if key in state and not np.array_equal(np.asarray(state[key]), loaded[source_key]):
            raise CheckpointError(f"{source}: {key} is tied to {source_key} but holds different values")
        loaded[key] = loaded[source_key]
    unused = sorted(set(state) & other_heads)
    return loaded, newly_initialised, unused


# ----------------------------------------------------------------------------- directories
def save_pretrained(
    directory: str | os.PathLike, config: ElectraConfig, state: dict[str, np.ndarray], architecture: str, *, max_shard_size: int | None = None
) -> None:
    """Write `config.json` and the weights of `architecture` as HF's `save_pretrained` does.

    Args:
        directory: created if needed.
        config: saved with `architectures: [architecture]` added (on a copy).
        state: canonical keys of `architecture` (every one; checked by `match_state_dict`).
        max_shard_size: see `write_state_dict`.
    Tied keys are left out of the file, as HF does; its loaders re-tie them.
    """
    full, newly_initialised, unused = match_state_dict(state, config, architecture, source="state to save")
    if newly_initialised or unused:
        raise CheckpointError(f"state to save: not a complete {architecture} state ({_first(newly_initialised + unused)})")
    tied = tied_keys(config, architecture)
    write_state_dict(directory, {k: v for k, v in full.items() if k not in tied}, max_shard_size=max_shard_size)
    dataclasses.replace(config, extra={**config.extra, "architectures": [architecture]}).save_pretrained(directory)


def load_pretrained(path: str | os.PathLike, architecture: str) -> tuple[ElectraConfig, dict[str, np.ndarray], list[str], list[str]]:
    """`config.json` and matched weights of a checkpoint directory (or a weights file
    with `config.json` beside it).

    Returns:
        (config, state, newly_initialised_keys, unused_keys), as `match_state_dict`.
    """
    path = Path(path)
    config = ElectraConfig.from_pretrained(path if path.is_dir() else path.parent)
    state, newly_initialised, unused = match_state_dict(read_state_dict(path), config, architecture, source=str(path))
    return config, state, newly_initialised, unused
