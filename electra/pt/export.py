"""electra.pt models as ONNX (the dynamo exporter, run in onnxruntime) and TorchScript
(`torch.jit.trace`, run by `torch.jit.load`): the `electra export` backend for PyTorch.

Same functions as `electra/tf/export.py` and `electra/flax/export.py` (see
`electra/commands/export.py`). The exported program is `Serving`: the model called with
`input_ids`, `attention_mask`, `token_type_ids` (int64), returning its tensor outputs by name
as float32 (`logits`, `start_logits`/`end_logits`, `last_hidden_state`, ...). fp16 and bf16
cast the parameters, so the computation runs in that dtype; only the outputs are cast back.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

import electra.pt as pt

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class Serving(torch.nn.Module):
    """The exported call: three (B, L) (or (B, C, L)) id tensors in, a dict of float32 outputs out."""

    def __init__(self, model: torch.nn.Module, outputs: list[str]):
        super().__init__()
        self.model = model
        self.outputs = outputs

    def forward(self, input_ids, attention_mask, token_type_ids) -> dict[str, torch.Tensor]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return {name: getattr(out, name).float() for name in self.outputs}


def load_model(model_dir: Path, architecture: str) -> torch.nn.Module:
    """The float32 eager model (`export_artifact` casts a copy to `precision`)."""
    return getattr(pt, architecture).from_pretrained(model_dir).eval()


def run_eager(model: torch.nn.Module, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        out = model(**{k: torch.from_numpy(np.asarray(v, np.int64)) for k, v in inputs.items()})
    return {k: v.float().numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}


@contextlib.contextmanager
def _quiet():
    """The exporters' warnings and log lines (deprecations, torchvision absent) stay out of the command's output."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _write_onnx(serving: Serving, example: tuple, path: Path, dynamic_batch: bool, dynamic_length: bool) -> None:
    axes = {}
    if dynamic_batch:
        axes[0] = torch.export.Dim("batch", min=1)
    if dynamic_length:
        axes[example[0].dim() - 1] = torch.export.Dim("length", min=1, max=serving.model.config.max_position_embeddings)
    torch.onnx.export(serving, example, path, dynamo=True, dynamic_shapes=(axes,) * len(INPUTS) if axes else None,
                      input_names=list(INPUTS), output_names=serving.outputs, verbose=False)


def _write_torchscript(serving: Serving, example: tuple, path: Path, dynamic_batch: bool, dynamic_length: bool) -> None:
    torch.jit.trace(serving, example, strict=False).save(str(path))  # strict=False: a dict of tensors out


def _run_onnx(path: Path, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return [dict(zip(names, session.run(names, {k: np.asarray(v, np.int64) for k, v in inputs.items()}))) for inputs in batches]


def _run_torchscript(path: Path, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    program = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        outs = [program(*(torch.from_numpy(np.asarray(inputs[k], np.int64)) for k in INPUTS)) for inputs in batches]
    return [{k: v.numpy() for k, v in out.items()} for out in outs]


# format -> (file in OUT, writer, runner)
FORMATS = {"onnx": ("model.onnx", _write_onnx, _run_onnx), "torchscript": ("model.pt", _write_torchscript, _run_torchscript)}


def export_artifact(model: torch.nn.Module, out_dir: Path, format: str, *, shape, dynamic_batch: bool, dynamic_length: bool,
                    precision: str) -> list[str]:
    """Write `model` as `format` ("onnx": model.onnx, "torchscript": model.pt) into `out_dir`.

    Args:
        shape: the command's `Shape`: the sizes traced (batch, [choices,] length).
        dynamic_batch, dynamic_length: ONNX axes named `batch` / `length` (length at most
            `max_position_embeddings`); TorchScript traces are shape-generic either way.
        precision: "fp32", "fp16" or "bf16" (ONNX: fp32 or fp16).
    Returns:
        The output names, in order.
    """
    example = tuple(torch.ones(shape.dims(), dtype=torch.int64) for _ in INPUTS)
    outputs = list(run_eager(model, dict(zip(INPUTS, (t.numpy() for t in example)))))
    serving = Serving(copy.deepcopy(model).to(DTYPES[precision]), outputs).eval()
    file, write, _ = FORMATS[format]
    with _quiet(), torch.no_grad():
        write(serving, example, out_dir / file, dynamic_batch, dynamic_length)
    return outputs


def run_artifact(out_dir: Path, format: str, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Load the artifact in `out_dir` in its own runtime (onnxruntime, `torch.jit.load`) and
    run it on each input dict; returns the outputs by name, for each."""
    file, _, run = FORMATS[format]
    return run(out_dir / file, batches)
