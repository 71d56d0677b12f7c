"""`electra export`: a trained model as a deployable artifact, checked in its own runtime.

    electra export MODEL_DIR OUT --format onnx|savedmodel|tflite|stablehlo|torchscript

Each format is written by one backend (`FORMATS`): ONNX and TorchScript by `electra.pt`,
SavedModel and TFLite by `electra.tf`, StableHLO by `electra.flax`. The backends' export
modules (`electra/<backend>/export.py`) have the same functions:

    load_model(model_dir, architecture)                 the float32 eager model
    run_eager(model, inputs) -> {output name: float32 array}
    export_artifact(model, out_dir, format, *, shape, dynamic_batch, dynamic_length, precision) -> output names
    run_artifact(out_dir, format, [inputs, ...]) -> [{output name: array}, ...]   (loaded once, run on each)

This module checks the arguments (before anything is imported or written), stages OUT in a
hidden sibling folder, runs the backend, copies config.json and the tokenizer files, writes
`export.json` (inputs, outputs, axes, precision), runs `--verify`, and only then renames the
staged folder to OUT. A failure at any step leaves OUT as it was. docs/deployment.md
describes each format.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from electra.common.files import atomic_write_text

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
# Largest absolute difference from the float32 eager model that --verify accepts, per precision.
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2, "bf16": 1e-1}
PROBE_LENGTHS = (11, 5)  # --dynamic-length probes (at most max_position_embeddings); the export traces at 8
PROBE_BATCHES = (3, 1)  # --dynamic-batch probes; the export traces at 2


@dataclasses.dataclass(frozen=True)
class Format:
    """What one format is: its backend, files, input dtype, the axes and precisions it supports."""

    backend: str  # electra.<backend>.export writes and runs it
    int_dtype: str  # dtype of input_ids, attention_mask, token_type_ids
    dynamic: bool  # batch and length may be dynamic
    precisions: tuple[str, ...]
    needs: tuple[tuple[str, str], ...]  # (module, extra) the export needs beyond the backend's framework
    runtime: tuple[tuple[str, str], ...]  # (module, extra) --verify needs
    runs_in: str  # the runtime --verify uses, for the printed lines


FORMATS = {
    "onnx": Format("pt", "int64", True, ("fp32", "fp16"),
                   (("onnx", "export"), ("onnxscript", "export")), (("onnxruntime", "export"),), "onnxruntime"),
    "torchscript": Format("pt", "int64", True, ("fp32", "fp16", "bf16"), (), (), "torch.jit.load"),
    "savedmodel": Format("tf", "int32", True, ("fp32",), (), (), "tf.saved_model.load in a fresh process"),
    "tflite": Format("tf", "int32", False, ("fp32",), (), (), "tf.lite.Interpreter"),
    "stablehlo": Format("flax", "int32", True, ("fp32", "bf16"), (), (), "jax.export.deserialize"),
}
FRAMEWORKS = {"pt": (("torch", "torch"),), "tf": (("tensorflow", "tf"), ("keras", "tf")), "flax": (("jax", "flax"), ("flax", "flax"))}


@dataclasses.dataclass(frozen=True)
class Shape:
    """Input shape of the export: sizes the trace sees; dynamic axes accept others."""

    batch: int
    length: int
    num_choices: int | None  # ElectraForMultipleChoice only: a fixed choices axis (B, C, L)

    def dims(self, batch: int | None = None, length: int | None = None) -> tuple[int, ...]:
        b, length = batch or self.batch, length or self.length
        return (b, length) if self.num_choices is None else (b, self.num_choices, length)


@dataclasses.dataclass(frozen=True)
class Request:
    """The checked arguments of one `electra export`."""

    model_dir: Path
    out: Path
    format: str
    architecture: str
    shape: Shape
    dynamic_batch: bool
    dynamic_length: bool
    precision: str
    max_length: int
    vocab_size: int
    type_vocab_size: int


def format_backend(format: str) -> str | None:
    """The backend that writes `format` (None for an unknown one, refused later with the list)."""
    return FORMATS[format].backend if format in FORMATS else None


def backend_module(format: str):
    """`electra.<backend>.export` for `format`, after checking that what it needs is installed."""
    return importlib.import_module(f"electra.{FORMATS[format].backend}.export")


def check_installed(format: str, verify: bool) -> None:
    """Refuse a format whose framework, exporter or (with --verify) runtime is missing,
    naming the extra that installs it."""
    spec = FORMATS[format]
    for module, extra in (*FRAMEWORKS[spec.backend], *spec.needs, *(spec.runtime if verify else ())):
        try:
            importlib.import_module(module)
        except ImportError:
            raise ValueError(f"--format {format} needs {module}, which is not installed: pip install 'electra[{extra}]'") from None


def model_architecture(model_dir: Path, given: str | None) -> str:
    """--architecture, else config.json's `architectures[0]`, else ElectraModel."""
    from electra.common.weights.names import ARCHITECTURES

    if given is None:
        listed = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("architectures") or []
        given = listed[0] if listed and isinstance(listed[0], str) else "ElectraModel"
        origin = f"{model_dir / 'config.json'} names {given!r}"
    else:
        origin = f"--architecture {given}"
    if given not in ARCHITECTURES:
        raise ValueError(f"{origin}, which is not an electra architecture; expected one of {', '.join(ARCHITECTURES)}")
    return given


def check_head(model_dir: Path, config, architecture: str) -> None:
    """Refuse an architecture whose head weights MODEL_DIR lacks (its outputs would come from a random head)."""
    from electra.common.weights.checkpoint import match_state_dict, read_state_dict

    _, newly_initialised, _ = match_state_dict(read_state_dict(model_dir), config, architecture, source=str(model_dir))
    if newly_initialised:
        raise ValueError(f"{model_dir} holds no weights of the {architecture} head ({', '.join(newly_initialised)}): "
                         "pass the --architecture of the head it was trained with")


def check_request(args: argparse.Namespace) -> Request:
    """Every check that needs no framework, in the order a user fixes them; writes nothing."""
    from electra.common.config import ElectraConfig

    if args.format not in FORMATS:
        raise ValueError(f"--format {args.format!r} is not an export format; expected one of {', '.join(FORMATS)}")
    spec = FORMATS[args.format]
    model_dir, out = Path(args.model_dir), Path(args.out)
    if not model_dir.is_dir():
        raise ValueError(f"MODEL_DIR {model_dir} is not a directory; pass a folder holding config.json and weights")
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"MODEL_DIR {model_dir} holds no config.json; pass a folder save_pretrained wrote")
    if out.exists() and not out.is_dir():
        raise ValueError(f"OUT {out} is a file; pass a folder (new or empty, or with --overwrite one to replace)")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise ValueError(f"OUT {out} is not empty: add --overwrite to replace what it holds, or choose another OUT")
    if out.resolve() == model_dir.resolve() or model_dir.resolve() in out.resolve().parents:
        raise ValueError(f"OUT {out} is MODEL_DIR or inside it; choose a folder outside {model_dir}")
    if args.precision not in spec.precisions:
        raise ValueError(f"--format {args.format} does not support --precision {args.precision}: "
                         f"it supports {', '.join(spec.precisions)} (see electra export --help)")
    if not spec.dynamic and (args.dynamic_batch or args.dynamic_length):
        flags = " and ".join(f for f, on in (("--dynamic-batch", args.dynamic_batch), ("--dynamic-length", args.dynamic_length)) if on)
        raise ValueError(f"--format {args.format} has a fixed input signature, so {flags} cannot apply: "
                         "export at the shape you serve with --batch-size and --length (pad shorter inputs and mask them)")
    for flag, dynamic, value in (("batch-size", args.dynamic_batch, args.batch_size), ("length", args.dynamic_length, args.length)):
        if dynamic and value is not None:
            raise ValueError(f"--{flag} sets a fixed size and --dynamic-{flag.split('-')[0]} makes it dynamic: pass one of them")
        if value is not None and value < 1:
            raise ValueError(f"--{flag} must be at least 1, got {value}")
    config = ElectraConfig.from_pretrained(model_dir)
    architecture = model_architecture(model_dir, args.architecture)
    multiple_choice = architecture == "ElectraForMultipleChoice"
    if args.num_choices is not None and not multiple_choice:
        raise ValueError(f"--num-choices is for ElectraForMultipleChoice, not {architecture}")
    if args.num_choices is not None and args.num_choices < 1:
        raise ValueError(f"--num-choices must be at least 1, got {args.num_choices}")
    length = 8 if args.dynamic_length else (args.length or config.max_position_embeddings)
    if length > config.max_position_embeddings:
        raise ValueError(f"--length {length} is longer than the model's max_position_embeddings ({config.max_position_embeddings})")
    check_head(model_dir, config, architecture)
    shape = Shape(batch=2 if args.dynamic_batch else (args.batch_size or 1), length=length,
                  num_choices=(args.num_choices or 2) if multiple_choice else None)
    return Request(model_dir, out, args.format, architecture, shape, args.dynamic_batch, args.dynamic_length, args.precision,
                   config.max_position_embeddings, config.vocab_size, config.type_vocab_size)


def probes(request: Request) -> list[dict[str, np.ndarray]]:
    """Two seeded inputs for --verify: at sizes other than the export's on each dynamic axis,
    the last row padded (its last third masked), both token types used."""
    dtype = np.dtype(FORMATS[request.format].int_dtype)
    batches = PROBE_BATCHES if request.dynamic_batch else (request.shape.batch,) * 2
    lengths = tuple(min(n, request.max_length) for n in PROBE_LENGTHS) if request.dynamic_length else (request.shape.length,) * 2
    rng = np.random.default_rng(0)
    inputs = []
    for batch, length in zip(batches, lengths):
        dims = request.shape.dims(batch, length)
        mask = np.ones(dims, dtype)
        mask[-1, ..., length - max(1, length // 3):] = 0
        inputs.append({"input_ids": rng.integers(0, request.vocab_size, dims).astype(dtype), "attention_mask": mask,
                       "token_type_ids": rng.integers(0, min(2, request.type_vocab_size), dims).astype(dtype)})
    return inputs


def manifest(request: Request, files: list[str], outputs: list[str]) -> dict:
    """`export.json`: what the artifact takes and gives, for whoever serves it."""
    axes = ["batch" if request.dynamic_batch else request.shape.batch]
    if request.shape.num_choices is not None:
        axes.append(request.shape.num_choices)
    axes.append("length" if request.dynamic_length else request.shape.length)
    spec = FORMATS[request.format]
    return {
        "format": request.format,
        "files": files,
        "architecture": request.architecture,
        "precision": request.precision,
        "inputs": {name: {"dtype": spec.int_dtype, "shape": axes} for name in ("input_ids", "attention_mask", "token_type_ids")},
        "outputs": {name: {"dtype": "float32"} for name in outputs},
        "max_length": request.max_length,
    }


def verify(backend, model, request: Request, staged: Path) -> float | None:
    """Run the staged artifact in its runtime on the probes; print the largest difference
    from the eager model per output. Returns the largest difference if it is above the
    tolerance, else None."""
    tolerance, runtime = TOLERANCE[request.precision], FORMATS[request.format].runs_in
    worst = 0.0
    inputs = probes(request)
    for probe, got in zip(inputs, backend.run_artifact(staged, request.format, inputs)):
        expected = backend.run_eager(model, probe)
        if sorted(got) != sorted(expected):
            raise ValueError(f"the {request.format} artifact gives outputs {sorted(got)}, the eager model {sorted(expected)}")
        padded = int((probe["attention_mask"] == 0).sum())
        diffs = []
        for name in expected:
            if np.shape(got[name]) != expected[name].shape:
                raise ValueError(f"the {request.format} artifact gives {name} of shape {np.shape(got[name])}, "
                                 f"the eager model {expected[name].shape}")
            diff = float(np.max(np.abs(np.asarray(got[name], np.float64) - expected[name])))
            diff = diff if np.isfinite(diff) else float("inf")
            diffs.append(f"{name} {diff:.1e}")
            worst = max(worst, diff)
        print(f"verify ({runtime}) at input shape {tuple(probe['input_ids'].shape)}, {padded} padded positions: "
              f"max |artifact - eager|: {', '.join(diffs)}", flush=True)
    return worst if worst > tolerance else None


def publish(staged: Path, out: Path) -> None:
    """Rename the staged folder to OUT; an OUT being replaced is removed only after the swap."""
    old = out.with_name(f".{out.name}.replaced")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(staged, out)
    shutil.rmtree(old, ignore_errors=True)


def run_export(args: argparse.Namespace) -> int:
    """`electra export`: returns 0, or 1 when --verify finds the artifact too far from the eager model."""
    request = check_request(args)
    check_installed(request.format, args.verify)
    backend = backend_module(request.format)
    model = backend.load_model(request.model_dir, request.architecture)
    request.out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=request.out.parent, prefix=f".{request.out.name}.staging-"))
    try:
        print(f"exporting {request.architecture} from {request.model_dir} as {request.format} ({request.precision}) ...", flush=True)
        outputs = backend.export_artifact(model, staged, request.format, shape=request.shape, dynamic_batch=request.dynamic_batch,
                                          dynamic_length=request.dynamic_length, precision=request.precision)
        artifact = sorted(p.name + ("/" if p.is_dir() else "") for p in staged.iterdir())
        served = [name for name in ("config.json", *TOKENIZER_FILES) if (request.model_dir / name).is_file()]
        for name in served:
            shutil.copy2(request.model_dir / name, staged / name)
        atomic_write_text(staged / "export.json", json.dumps(manifest(request, artifact, outputs), indent=2) + "\n")
        if args.verify:
            failed = verify(backend, model, request, staged)
            if failed is not None:
                print(f"electra export: verify failed: the {request.format} artifact differs from the eager model by {failed:.1e}, "
                      f"above the {request.precision} tolerance {TOLERANCE[request.precision]:.0e}; {request.out} was not written",
                      file=sys.stderr)
                return 1
        publish(staged, request.out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    print(f"wrote {request.out}: {', '.join((*artifact, 'export.json', *served))}")
    return 0
