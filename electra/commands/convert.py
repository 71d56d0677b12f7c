"""`electra convert SRC DST --to FORMAT`: one checkpoint, written in another format.

SRC is anything the package reads: an HF directory or weights file (`model.safetensors`,
sharded or not, `pytorch_model.bin`, `tf_model.h5`, `flax_model.msgpack`), a Google TF1
checkpoint (a prefix, or a directory with a `checkpoint` file; `--network` picks the
discriminator or the generator, `both` writes `DST/discriminator` and `DST/generator`), or an
`electra pretrain` run directory (its exported `discriminator/` and `generator/`, or its last
training checkpoint when the run has not finished). DST gets `config.json` (with
`architectures`), the tokenizer files SRC has, and the weights exactly as HF 4.57 writes them
in that format, so HF's own loaders read them without cross-framework flags.

Everything is checked before DST is touched; DST is written in a sibling folder and renamed
into place, so a failure leaves DST as it was. `--verify` loads DST back in the backend of its
format and SRC in the backend of its own, runs both on a fixed probe batch and fails above
1e-5 (see docs/porting.md).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from electra.common.config import ElectraConfig
from electra.common.errors import CheckpointError
from electra.common.weights import checkpoint, google
from electra.common.weights.names import ARCHITECTURES, head_shapes, tied_keys

FORMATS = ("safetensors", "pytorch", "tf", "flax")
NETWORKS = ("discriminator", "generator", "both")
NETWORK_ARCHITECTURES = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}
# The backend that reads each weights format natively: --verify loads DST (and an HF SRC) with it.
FORMAT_BACKENDS = {"safetensors": "pt", "pytorch": "pt", "tf": "tf", "flax": "flax"}
# The format of a weights file, shard or shard index by its name's ending.
SOURCE_SUFFIXES = {".safetensors": "safetensors", ".bin": "pytorch", ".h5": "tf", ".msgpack": "flax"}
BACKEND_EXTRAS = {"pt": "torch", "tf": "tf", "flax": "flax"}
BACKEND_MODULES = {"pt": "torch", "tf": "tensorflow", "flax": "flax"}
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
VERIFY_LIMIT = 1e-5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="write a checkpoint in another format (safetensors, PyTorch, TF h5, Flax msgpack)",
        description="Convert a checkpoint (HF directory or weights file in any format, a Google TF1 checkpoint, "
        "or an `electra pretrain` run directory) into the files HF 4.57 writes for another framework.",
    )
    p.add_argument("src", type=Path, help="the checkpoint to read")
    p.add_argument("dst", type=Path, help="the directory to write (must not exist or be empty, unless --overwrite)")
    p.add_argument("--to", choices=FORMATS, required=True,
                   help="weights format: safetensors (model.safetensors), pytorch (pytorch_model.bin), "
                   "tf (tf_model.h5), flax (flax_model.msgpack)")
    p.add_argument("--architecture", choices=ARCHITECTURES,
                   help="the model class the weights are for (default: config.json's architectures, else read from the weights)")
    p.add_argument("--network", choices=NETWORKS,
                   help="for a Google TF1 checkpoint or a pretrain run: discriminator, generator, or both (DST/discriminator, DST/generator)")
    p.add_argument("--max-shard-size", help="split the weights into shards of at most this size, as HF does (e.g. 5GB, 500MB)")
    p.add_argument("--verify", action="store_true",
                   help=f"load DST and SRC back, run both on a probe batch and fail when they differ by more than {VERIFY_LIMIT:g}")
    p.add_argument("--overwrite", action="store_true", help="replace a DST that is not empty")
    p.add_argument("--verbose", action="store_true", help="let the framework's own log messages through (TensorFlow's start-up notices)")


# ----------------------------------------------------------------------------- reading SRC
@dataclass
class Converted:
    """One model to write: its weights, what they are, and how --verify loads SRC again."""

    subdir: str  # "" for DST itself, else "discriminator" / "generator"
    config: ElectraConfig
    state: dict[str, np.ndarray]
    architecture: str
    tokenizer_dir: Path | None
    source_backend: str  # the backend --verify loads SRC with
    source_path: Path  # what that backend's from_pretrained reads ...
    source_network: str | None = None  # ... with network= for a TF1 checkpoint


def _listing(path: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not names:
        return "an empty directory"
    shown = ", ".join(names[:6])
    return f"{shown} (and {len(names) - 6} more)" if len(names) > 6 else shown


def _is_run_directory(path: Path) -> bool:
    return path.is_dir() and (path / "run.json").is_file() and (path / "tokenizer").is_dir()


def _networks(args: argparse.Namespace, kind: str) -> list[str]:
    if args.network is None:
        raise ValueError(f"{args.src} is {kind}: pass --network discriminator, generator or both")
    if args.architecture is not None:
        raise ValueError(f"--architecture does not apply to {kind} (the discriminator is ElectraForPreTraining, "
                         "the generator ElectraForMaskedLM)")
    return ["discriminator", "generator"] if args.network == "both" else [args.network]


def _tokenizer_dir(*candidates: Path) -> Path | None:
    return next((d for d in candidates if (d / "vocab.txt").is_file()), None)


def read_google(args: argparse.Namespace) -> list[Converted]:
    src = args.src
    folder = src if src.is_dir() else src.parent
    converted = []
    for network in _networks(args, "a Google TF1 checkpoint"):
        config, state = google.load_google_checkpoint(src, network)
        converted.append(Converted(network if args.network == "both" else "", config, state, NETWORK_ARCHITECTURES[network],
                                   _tokenizer_dir(folder), "tf", src, network))
    return converted


def read_run(args: argparse.Namespace) -> list[Converted]:
    """A pretrain run: its exported networks, or its last checkpoint when it has none yet."""
    from electra.commands.pretrain import base_config, model_configs

    run = args.src
    if json.loads((run / "run.json").read_text()).get("objective", "rtd") == "mlm":
        raise ValueError(f"{run} is an `electra pretrain --objective mlm` run: its one network is {run / 'mlm'} "
                         f"(a checkpoint directory once the run has finished): convert that directory")
    converted = []
    for network in _networks(args, "an `electra pretrain` run directory"):
        subdir = network if args.network == "both" else ""
        architecture = NETWORK_ARCHITECTURES[network]
        exported = run / network
        if (exported / "config.json").is_file():
            config = ElectraConfig.from_pretrained(exported)
            state, _new, _unused = checkpoint.match_state_dict(checkpoint.read_state_dict(exported), config, architecture,
                                                               source=str(exported))
            converted.append(Converted(subdir, config, state, architecture, _tokenizer_dir(exported, run / "tokenizer"),
                                       "pt", exported))
            continue
        settings = json.loads((run / "run.json").read_text())
        vocab_size = sum(1 for _ in (run / "tokenizer" / "vocab.txt").open(encoding="utf-8"))
        disc, gen = model_configs(base_config(settings), settings, vocab_size)
        config = disc if network == "discriminator" else gen
        state = _checkpoint_network(run, network, config, architecture)
        converted.append(Converted(subdir, config, state, architecture, _tokenizer_dir(run / "tokenizer"), "", run))
    return converted


def _checkpoint_network(run: Path, network: str, config: ElectraConfig, architecture: str) -> dict[str, np.ndarray]:
    """One network's canonical weights from a run's `checkpoint/state.safetensors`
    (`param/<network>.<canonical key>`; the generator shares the discriminator's embeddings)."""
    file = run / "checkpoint" / "state.safetensors"
    if not file.is_file():
        raise CheckpointError(f"{run}: the run has neither an exported {network}/ nor a checkpoint/ yet")
    arrays = checkpoint.read_state_dict(file)
    prefix = f"param/{network}."
    state = {key.removeprefix(prefix): value for key, value in arrays.items() if key.startswith(prefix)}
    if network == "generator":
        shared = "param/discriminator.electra.embeddings."
        state.update({key.removeprefix("param/discriminator."): value for key, value in arrays.items() if key.startswith(shared)})
    matched, _new, _unused = checkpoint.match_state_dict(state, config, architecture, source=str(file))
    return matched


def _architecture(config: ElectraConfig, state: dict[str, np.ndarray], source: Path) -> str:
    """config.json's `architectures[0]`, else the one head whose weights are all present."""
    named = config.extra.get("architectures") or []
    if named and named[0] in ARCHITECTURES:
        return named[0]
    keys = {key.removeprefix("electra.") for key in state} | set(state)
    candidates = []
    for arch in ARCHITECTURES:
        head = [key for key in head_shapes(config, arch) if key not in tied_keys(config, arch)]
        if head and all(key in keys for key in head):
            candidates.append(arch)
    if len(candidates) > 1:
        raise ValueError(f"{source}: the weights fit {', '.join(candidates)} and config.json names no architecture: pass --architecture")
    return candidates[0] if candidates else "ElectraModel"


def read_hf(args: argparse.Namespace) -> list[Converted]:
    src = args.src
    if args.network is not None:
        raise ValueError("--network applies to Google TF1 checkpoints and `electra pretrain` run directories, "
                         f"not to {src} (an HF checkpoint)")
    folder = src if src.is_dir() else src.parent
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder}: no config.json beside the weights (an HF checkpoint needs one)")
    config = ElectraConfig.from_pretrained(folder)
    state = checkpoint.read_state_dict(src)
    architecture = args.architecture or _architecture(config, state, src)
    matched, new_keys, _unused = checkpoint.match_state_dict(state, config, architecture, source=str(src))
    if new_keys:
        raise CheckpointError(f"{src}: holds no {architecture} head; missing {', '.join(new_keys)}")
    weights = src if src.is_file() else next(folder / name for name in checkpoint.SEARCH_ORDER if (folder / name).is_file())
    suffix = Path(weights.name.removesuffix(".index.json")).suffix
    backend = FORMAT_BACKENDS[SOURCE_SUFFIXES.get(suffix, "safetensors")]
    return [Converted("", config, matched, architecture, _tokenizer_dir(folder), backend, src)]


def read_source(args: argparse.Namespace) -> list[Converted]:
    """What SRC holds, matched and checked; nothing is written."""
    src = args.src
    if google.is_google_checkpoint(src):
        return read_google(args)
    if _is_run_directory(src):
        return read_run(args)
    if src.is_dir():
        if not any((src / name).is_file() for name in checkpoint.SEARCH_ORDER) and not any(src.glob("*.safetensors")):
            raise CheckpointError(f"{src}: not a checkpoint the package reads (no HF weights file, TF1 checkpoint or "
                                  f"pretrain run); found {_listing(src)}")
    elif not src.exists():
        raise FileNotFoundError(f"{src}: no such file or directory")
    return read_hf(args)


# ----------------------------------------------------------------------------- writing DST
def check_destination(dst: Path, overwrite: bool) -> None:
    if dst.exists() and not dst.is_dir():
        raise FileExistsError(f"{dst}: exists and is not a directory")
    if dst.is_dir() and any(dst.iterdir()) and not overwrite:
        raise FileExistsError(f"{dst}: exists and is not empty (pass --overwrite to replace it)")


def write_one(directory: Path, item: Converted, fmt: str, max_shard_size) -> None:
    checkpoint.write_pretrained(directory, item.config, item.state, item.architecture, format=fmt, max_shard_size=max_shard_size)
    if item.tokenizer_dir is not None:
        for name in TOKENIZER_FILES:
            if (item.tokenizer_dir / name).is_file():
                shutil.copyfile(item.tokenizer_dir / name, directory / name)


def replace_directory(staging: Path, dst: Path) -> None:
    """Move the finished `staging` folder to `dst`, replacing what is there, one rename each."""
    old = None
    if dst.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
        dst.rename(old / dst.name)
    staging.rename(dst)
    if old is not None:
        shutil.rmtree(old)


# ----------------------------------------------------------------------------- --verify
def _require_backend(backend: str) -> None:
    if importlib.util.find_spec(BACKEND_MODULES[backend]) is None:
        raise ValueError(f"--verify needs the {backend} backend: pip install electra[{BACKEND_EXTRAS[backend]}]")


def probe_batch(config: ElectraConfig) -> dict[str, np.ndarray]:
    """Two rows of seeded ids, the second padded, both token types."""
    length = min(12, config.max_position_embeddings)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, config.vocab_size, size=(2, length)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, length // 2:] = 0
    types = np.zeros_like(ids)
    if config.type_vocab_size > 1:
        types[:, length // 2:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _model_class(backend: str, architecture: str):
    return getattr(importlib.import_module(f"electra.{backend}"), architecture)


def _outputs(backend: str, model, batch: dict[str, np.ndarray], architecture: str) -> dict[str, np.ndarray]:
    if architecture == "ElectraForMultipleChoice":  # (B, C, L): each row as two choices
        batch = {k: np.stack([v, v[::-1]], axis=1) for k, v in batch.items()}
    output = importlib.import_module(f"electra.{backend}.export").run_eager(model, batch)
    return {name: np.asarray(value, dtype=np.float32) for name, value in output.items()}


def _source_model(item: Converted, backend: str):
    cls = _model_class(backend, item.architecture)
    if item.source_network is not None:
        return cls.from_pretrained(item.source_path, network=item.source_network)
    if item.source_backend:
        return cls.from_pretrained(item.source_path)
    model = cls(item.config)  # a run's training checkpoint: no file a loader reads directly
    model.load_canonical_state_dict(item.state, source=str(item.source_path))
    return model


def verify(directory: Path, item: Converted, fmt: str, shown: Path) -> float:
    """Largest |DST - SRC| over the outputs of the probe batch; prints one line naming `shown`
    (where DST will be once it is renamed into place)."""
    dst_backend = FORMAT_BACKENDS[fmt]
    src_backend = item.source_backend or dst_backend
    if importlib.util.find_spec(BACKEND_MODULES[src_backend]) is None:
        src_backend = dst_backend  # SRC's own framework is not installed: read it with DST's
    _require_backend(dst_backend)
    _require_backend(src_backend)
    batch = probe_batch(item.config)
    ours = _outputs(dst_backend, _model_class(dst_backend, item.architecture).from_pretrained(directory), batch, item.architecture)
    theirs = _outputs(src_backend, _source_model(item, src_backend), batch, item.architecture)
    if ours.keys() != theirs.keys():
        raise CheckpointError(f"verify: outputs differ in kind ({sorted(ours)} vs {sorted(theirs)})")
    worst = max(float(np.max(np.abs(ours[name] - theirs[name]))) for name in ours)
    fields = ", ".join(sorted(ours))
    print(f"verify {shown}: {item.architecture} in {dst_backend} from {fmt} vs SRC in {src_backend}: "
          f"max |difference| {worst:.2e} over {fields} (limit {VERIFY_LIMIT:g})")
    return worst


# ----------------------------------------------------------------------------- the command
def run_convert(args: argparse.Namespace) -> int:
    max_shard_size = checkpoint.parse_shard_size(args.max_shard_size) if args.max_shard_size is not None else None
    check_destination(args.dst, args.overwrite)
    items = read_source(args)
    args.dst.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.dst.name}.converting-", dir=args.dst.parent))
    try:
        for item in items:
            write_one(staging / item.subdir, item, args.to, max_shard_size)
        worst = {item.subdir: verify(staging / item.subdir, item, args.to, args.dst / item.subdir) for item in items} if args.verify else {}
        failed = [subdir or str(args.dst) for subdir, value in worst.items() if not value <= VERIFY_LIMIT]
        if failed:
            print(f"electra convert: verify failed for {', '.join(failed)}: DST differs from SRC by more than {VERIFY_LIMIT:g}; "
                  f"nothing was written to {args.dst}")
            return 1
        replace_directory(staging, args.dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for item in items:
        where = args.dst / item.subdir
        print(f"wrote {where} ({item.architecture}, {args.to}: {', '.join(sorted(p.name for p in where.iterdir() if p.is_file()))})")
    return 0
