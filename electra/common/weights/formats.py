"""HF's four weight file formats, byte for byte as `transformers` 4.57 reads and writes them.

Each format reads a file to, and writes a file from, a flat `{name: array}` dict in its own
layout's names; `checkpoint.py` converts those to canonical keys and handles directories,
sharding and indexes.

| format        | file                  | names in the file                                                  |
|---------------|-----------------------|--------------------------------------------------------------------|
| `safetensors` | `model.safetensors`   | canonical keys (HF PyTorch), tied keys left out                    |
| `pytorch`     | `pytorch_model.bin`   | canonical keys, tied keys kept (sharing storage), `torch.save` zip |
| `tf`          | `tf_model.h5`         | HF TF weight names (`electra/encoder/layer_._0/.../kernel:0`)      |
| `flax`        | `flax_model.msgpack`  | HF Flax parameter paths joined by `/`                              |

`tf_model.h5` is Keras 2's `save_weights` layout (HF's `TFPreTrainedModel.save_pretrained`):
file attribute `layer_names`; a group per top-level layer with a `weight_names` attribute
and each weight stored under its full name (model scope first). A shard of a sharded TF
checkpoint instead stores each weight at the root under its name without the model scope,
listed in `layer_names`. `flax_model.msgpack` is `flax.serialization.to_bytes` of the
parameter tree: msgpack maps with arrays as ext type 1 (`(shape, dtype name, C-order
bytes)`), arrays over 1 GiB split into `__msgpack_chunked_array__` maps.

Frameworks are imported only by the format that needs them: `torch` (pytorch), `h5py` (tf),
`msgpack` (flax); none for safetensors.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import numpy as np

from electra.common.errors import CheckpointError
from electra.common.files import atomic_open

HALF_DTYPES = ("float16", "bfloat16")  # widened to float32 on read


def widen(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype.name in HALF_DTYPES else array


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: uint16 bit patterns -> float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _require(module: str, extra: str, fmt: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"the {fmt} format needs {module}: pip install electra[{extra}]") from None


# ----------------------------------------------------------------------------- safetensors
# safetensors dtype codes <-> NumPy (BF16 has no NumPy type: read as uint16, widened).
SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
SAFETENSORS_CODES = {np.dtype(t): code for code, t in SAFETENSORS_DTYPES.items() if code != "BF16"}
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own bound


def read_safetensors(file: Path) -> dict[str, np.ndarray]:
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
            state[key] = widen(_bfloat16_to_float32(array) if entry["dtype"] == "BF16" else array)
    return state


def write_safetensors(file: Path, state: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
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


# ----------------------------------------------------------------------------- pytorch
def read_torch(file: Path) -> dict[str, np.ndarray]:
    """A `torch.save`d state dict, loaded with `weights_only=True` (no code runs)."""
    torch = _require("torch", "torch", "pytorch")
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


def write_torch(file: Path, state: dict[str, np.ndarray], tied: dict[str, str]) -> None:
    """`torch.save` of `state` as tensors (zip format), atomically; each `tied` key
    {key: source} is the same tensor as its source, so they share storage as in HF's files."""
    torch = _require("torch", "torch", "pytorch")
    tensors = {key: torch.from_numpy(np.ascontiguousarray(state[key])) for key in state if key not in tied}
    for key, source in tied.items():
        if key in state:
            tensors[key] = tensors[source]
    with atomic_open(file, "wb") as handle:
        torch.save({key: tensors[key] for key in state}, handle)


# ----------------------------------------------------------------------------- tf (Keras 2 h5)
HDF5_OBJECT_HEADER_LIMIT = 64512  # bytes an HDF5 attribute may hold; longer lists are split (Keras 2)


def _save_attribute(group, name: str, values: list[str]) -> None:
    """Keras 2's `save_attributes_to_hdf5_group`: a bytes array, in chunks `name0`, `name1`,
    ... when it exceeds the HDF5 object header limit."""
    data = np.asarray([v.encode("utf8") for v in values])
    chunks = 1
    while data.nbytes and data.nbytes / chunks > HDF5_OBJECT_HEADER_LIMIT:
        chunks += 1
    if chunks == 1:
        group.attrs[name] = data
        return
    for i, chunk in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = chunk


def _load_attribute(group, name: str) -> list[str] | None:
    """Keras 2's `load_attributes_from_hdf5_group` (chunked or not); None when absent."""
    if name in group.attrs:
        values = list(group.attrs[name])
    elif f"{name}0" in group.attrs:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(group.attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_h5(file: Path) -> dict[str, np.ndarray]:
    """HF TF weights (`tf_model.h5` or one of its shards) -> names without the model scope."""
    h5py = _require("h5py", "tf", "tf")
    weights: dict[str, np.ndarray] = {}

    def add(name: str, value: np.ndarray) -> None:
        if name in weights and not np.array_equal(weights[name], value):
            raise CheckpointError(f"{file}: {name!r} is stored twice with different values")
        weights[name] = value

    try:
        with h5py.File(file, "r") as handle:
            layers = _load_attribute(handle, "layer_names")
            if layers is None:
                raise CheckpointError(f"{file}: not a Keras h5 weights file (no layer_names attribute)")
            for layer in layers:
                item = handle.get(layer)
                if isinstance(item, h5py.Dataset):  # a shard: weights at the root, no model scope
                    add(layer, widen(np.asarray(item[()])))
                    continue
                if item is None:
                    raise CheckpointError(f"{file}: layer {layer!r} is listed but not stored")
                for name in _load_attribute(item, "weight_names") or []:
                    if name not in item or "/" not in name:
                        raise CheckpointError(f"{file}: weight {name!r} of layer {layer!r} is listed but not stored")
                    add(name.split("/", 1)[1], widen(np.asarray(item[name][()])))
    except OSError as err:
        raise CheckpointError(f"{file}: not a readable HDF5 file ({err})") from None
    if not weights:
        raise CheckpointError(f"{file}: holds no weights")
    return weights


def write_h5(file: Path, weights: dict[str, np.ndarray], model_scope: str, layers: dict[str, list[str]]) -> None:
    """`tf_model.h5` as Keras 2's `save_weights` writes it, atomically.

    Args:
        weights: names without the model scope -> arrays.
        model_scope: the Keras model name (`tf_electra_for_masked_lm`).
        layers: top-level layer name -> the weight names it holds, in order (a weight may
            belong to several layers, as the tied LM head holds the embeddings).
    """
    h5py = _require("h5py", "tf", "tf")
    with atomic_open(file, "w+b") as handle, h5py.File(handle, "w") as h5:
        _save_attribute(h5, "layer_names", list(layers))
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["keras_version"] = "2.15.0"
        for layer, names in layers.items():
            group = h5.create_group(layer)
            scoped = [f"{model_scope}/{name}" for name in names]
            _save_attribute(group, "weight_names", scoped)
            for name, full in zip(names, scoped):
                group.create_dataset(full, data=np.asarray(weights[name]))
        _save_attribute(h5.create_group("top_level_model_weights"), "weight_names", [])


def write_h5_shard(file: Path, weights: dict[str, np.ndarray]) -> None:
    """One shard of a sharded TF checkpoint (HF's own layout): each weight at the root under
    its name without the model scope, names sorted, listed in `layer_names`."""
    h5py = _require("h5py", "tf", "tf")
    with atomic_open(file, "w+b") as handle, h5py.File(handle, "w") as h5:
        names = sorted(weights)
        for name in names:
            h5.create_dataset(name, data=np.asarray(weights[name]))
        _save_attribute(h5, "layer_names", names)


# ----------------------------------------------------------------------------- flax (msgpack)
MSGPACK_NDARRAY, MSGPACK_COMPLEX, MSGPACK_SCALAR = 1, 2, 3  # flax's ext type codes
MAX_CHUNK_SIZE = 2**30  # flax splits arrays larger than this many bytes
CHUNKED = "__msgpack_chunked_array__"


def _pack_array(msgpack, array: np.ndarray):
    array = np.asarray(array)
    payload = msgpack.packb((array.shape, array.dtype.name, array.tobytes("C")), use_bin_type=True)
    return msgpack.ExtType(MSGPACK_NDARRAY, payload)


def _unpack_ext(msgpack, code: int, data: bytes) -> np.ndarray:
    if code not in (MSGPACK_NDARRAY, MSGPACK_SCALAR):
        raise ValueError(f"msgpack ext type {code} is not an array")
    shape, dtype_name, buffer = msgpack.unpackb(data, raw=True)
    name = dtype_name.decode() if isinstance(dtype_name, bytes) else dtype_name
    dtype = np.dtype(np.uint16 if name == "bfloat16" else name)
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    return _bfloat16_to_float32(array) if name == "bfloat16" else array


def _chunked(array: np.ndarray) -> dict:
    """flax's `_chunk`: an array over `MAX_CHUNK_SIZE` bytes as a map of flat pieces."""
    size = max(1, MAX_CHUNK_SIZE // array.dtype.itemsize)
    flat = np.ascontiguousarray(array).reshape(-1)
    chunks = [flat[i: i + size] for i in range(0, flat.size, size)]
    return {CHUNKED: True, "shape": {str(i): n for i, n in enumerate(array.shape)}, "chunks": {str(i): c for i, c in enumerate(chunks)}}


def _unchunked(node: dict) -> np.ndarray:
    shape = tuple(node["shape"][str(i)] for i in range(len(node["shape"])))
    return np.concatenate([node["chunks"][str(i)] for i in range(len(node["chunks"]))]).reshape(shape)


def read_msgpack(file: Path) -> dict[str, np.ndarray]:
    """`flax_model.msgpack` (or a shard) -> parameter paths joined by `/`."""
    msgpack = _require("msgpack", "flax", "flax")
    try:
        tree = msgpack.unpackb(file.read_bytes(), ext_hook=lambda code, data: _unpack_ext(msgpack, code, data),
                               raw=False, strict_map_key=False)
    except Exception as err:  # msgpack raises several unrelated types on bad input
        raise CheckpointError(f"{file}: not a readable Flax msgpack file ({type(err).__name__}: {err})") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{file}: expected a parameter tree, found {type(tree).__name__}")
    flat: dict[str, np.ndarray] = {}

    def visit(node: dict, path: tuple[str, ...]) -> None:
        for name, child in node.items():
            if isinstance(child, dict) and CHUNKED in child:
                child = _unchunked(child)
            if isinstance(child, dict):
                visit(child, (*path, str(name)))
            elif isinstance(child, np.ndarray):
                flat["/".join((*path, str(name)))] = widen(child)
            else:
                raise CheckpointError(f"{file}: {'/'.join((*path, str(name)))} is a {type(child).__name__}, not an array")

    visit(tree, ())
    return flat


def write_msgpack(file: Path, weights: dict[str, np.ndarray]) -> None:
    """`flax.serialization.to_bytes` of the tree the `/`-joined `weights` names spell, atomically."""
    msgpack = _require("msgpack", "flax", "flax")
    arrays = {name: np.asarray(array) for name, array in weights.items()}
    tree = unflatten({name: _chunked(array) if array.nbytes > MAX_CHUNK_SIZE else array for name, array in arrays.items()})
    data = msgpack.packb(tree, default=lambda x: _pack_array(msgpack, x), strict_types=True)
    with atomic_open(file, "wb") as handle:
        handle.write(data)


def unflatten(weights: dict[str, np.ndarray], sep: str = "/") -> dict:
    """`{"a/b": x}` -> `{"a": {"b": x}}`."""
    tree: dict = {}
    for name, array in weights.items():
        *path, leaf = name.split(sep)
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = array
    return tree


def flatten(tree: dict, sep: str = "/") -> dict[str, np.ndarray]:
    """Inverse of `unflatten`, in the tree's order."""
    flat: dict[str, np.ndarray] = {}
    for name, child in tree.items():
        if isinstance(child, dict):
            flat.update({f"{name}{sep}{k}": v for k, v in flatten(child, sep).items()})
        else:
            flat[str(name)] = child
    return flat


def tf_model_scope(architecture: str) -> str:
    """The Keras name HF gives `TF<architecture>` (Keras' snake case): `tf_electra_for_masked_lm`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", "TF" + architecture)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
