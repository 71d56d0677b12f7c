"""electra.tf models as a SavedModel (run by `tf.saved_model.load`) and a TFLite flatbuffer
(run by the TFLite interpreter): the `electra export` backend for TensorFlow.

Same functions as `electra/pt/export.py` and `electra/flax/export.py` (see
`electra/commands/export.py`). Both artifacts take `input_ids`, `attention_mask`,
`token_type_ids` (int32) and return a dict of the float32 outputs by name; they are
written by the model's own `export` (`electra/tf/pretrained.py`: the `serve` endpoint, also
the `serving_default` signature). TFLite needs a fixed signature: every axis set.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

import electra.tf as etf

SAVED_MODEL_RUN = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])  # held: its variables live as long as it does
for i in range(int(sys.argv[2])):
    served = loaded.serve({k: tf.constant(v) for k, v in np.load(f"inputs{i}.npz").items()})
    np.savez(f"outputs{i}.npz", **{k: v.numpy() for k, v in served.items()})
"""


def load_model(model_dir: Path, architecture: str):
    """The float32 eager model (TF formats export float32 only)."""
    return getattr(etf, architecture).from_pretrained(model_dir)


def run_eager(model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = model.serving_outputs({k: tf.constant(v, tf.int32) for k, v in inputs.items()})
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def _signature(model, shape, dynamic_batch: bool, dynamic_length: bool) -> dict[str, tf.TensorSpec]:
    return model.serving_signature(batch_size=None if dynamic_batch else shape.batch, length=None if dynamic_length else shape.length,
                                   num_choices=shape.num_choices)


def _write_saved_model(model, path: Path, signature: dict[str, tf.TensorSpec]) -> None:
    model.export(path, input_signature=signature, verbose=False)


def _write_tflite(model, path: Path, signature: dict[str, tf.TensorSpec]) -> None:
    model.export(path, format="litert", input_signature=signature, verbose=False)


def _run_saved_model(path: Path, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """`tf.saved_model.load` in a fresh Python process: nothing of this process' model can help it."""
    with tempfile.TemporaryDirectory(prefix="electra-verify-") as scratch:
        for i, inputs in enumerate(batches):
            np.savez(Path(scratch) / f"inputs{i}.npz", **{k: np.asarray(v, np.int32) for k, v in inputs.items()})
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        done = subprocess.run([sys.executable, "-P", "-c", SAVED_MODEL_RUN, str(path.resolve()), str(len(batches))], cwd=scratch,
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"tf.saved_model.load of {path} failed in a fresh process:\n{done.stderr[-2000:]}")
        outs = []
        for i in range(len(batches)):
            with np.load(Path(scratch) / f"outputs{i}.npz") as outputs:
                outs.append(dict(outputs))
        return outs


def _interpreter(path: Path):
    """LiteRT's interpreter where `ai_edge_litert` is installed, else TensorFlow's `tf.lite.Interpreter`."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice that it moves to ai_edge_litert
        return Interpreter(model_path=str(path))


@contextlib.contextmanager
def _native_stderr_to_null():
    """The interpreter's C++ notice (`INFO: Created TensorFlow Lite XNNPACK delegate`) goes to
    /dev/null; Python errors are raised, not written, so none is lost."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _run_tflite(path: Path, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    with _native_stderr_to_null():
        runner = _interpreter(path).get_signature_runner("serving_default")
        return [runner(**{k: np.asarray(v, np.int32) for k, v in inputs.items()}) for inputs in batches]


# format -> (file in OUT, writer, runner)
FORMATS = {"savedmodel": ("saved_model", _write_saved_model, _run_saved_model), "tflite": ("model.tflite", _write_tflite, _run_tflite)}


def export_artifact(model, out_dir: Path, format: str, *, shape, dynamic_batch: bool, dynamic_length: bool, precision: str) -> list[str]:
    """Write `model` as `format` ("savedmodel": saved_model/, "tflite": model.tflite) into `out_dir`.

    Args:
        shape: the command's `Shape`: the fixed sizes of the axes that are not dynamic.
        dynamic_batch, dynamic_length: None axes in the SavedModel's signature (TFLite: neither).
        precision: "fp32".
    Returns:
        The output names, in order.
    """
    if precision != "fp32":
        raise ValueError(f"--format {format} exports fp32 only, not {precision}")
    signature = _signature(model, shape, dynamic_batch, dynamic_length)
    file, write, _ = FORMATS[format]
    write(model, out_dir / file, signature)
    example = {name: np.ones([d or 1 for d in spec.shape], np.int32) for name, spec in signature.items()}
    return list(run_eager(model, example))


def run_artifact(out_dir: Path, format: str, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Load the artifact in `out_dir` in its own runtime (`tf.saved_model.load` in a fresh
    process, the TFLite interpreter) and run it on each input dict; returns the outputs by name, for each."""
    file, _, run = FORMATS[format]
    return run(out_dir / file, batches)
