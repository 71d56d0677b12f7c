"""electra.flax models as StableHLO (`jax.export`, serialized; run after
`jax.export.deserialize`): the `electra export` backend for JAX.

Same functions as `electra/pt/export.py` and `electra/tf/export.py` (see
`electra/commands/export.py`). The exported function takes `input_ids`, `attention_mask`,
`token_type_ids` (int32) and returns a dict of the float32 outputs by name; the parameters
are constants inside it, so `model.stablehlo` is the whole model. Dynamic axes are the
symbolic dimensions `b` and `l`, with `l <= max_position_embeddings` as a constraint the
call checks (JAX would otherwise clamp the position lookup silently). bf16 builds the
model with bfloat16 compute and parameters (softmax and LayerNorm stay float32, as in
`electra.flax`); the outputs are cast back to float32. fp16 is not offered: XLA's CPU
backend has no float16 matmul with float32 accumulation, so such a file could not be
verified (nor run) on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import export

import electra.flax as eflax

DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
FILE = "model.stablehlo"


def load_model(model_dir: Path, architecture: str):
    """The float32 eager model (`export_artifact` builds one in the exported precision)."""
    return getattr(eflax, architecture).from_pretrained(model_dir)


def run_eager(model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = model(**{k: np.asarray(v, np.int32) for k, v in inputs.items()})
    return {k: np.asarray(v, np.float32) for k, v in out.items() if isinstance(v, jax.Array)}


def export_artifact(model, out_dir: Path, format: str, *, shape, dynamic_batch: bool, dynamic_length: bool, precision: str) -> list[str]:
    """Write `model` as serialized `jax.export` StableHLO (`model.stablehlo`) into `out_dir`.

    Args:
        format: "stablehlo".
        shape: the command's `Shape`: the fixed sizes of the axes that are not dynamic.
        dynamic_batch, dynamic_length: symbolic `b` / `l` instead of the fixed sizes.
        precision: "fp32" or "bf16".
    Returns:
        The output names, in order.
    """
    dtype = DTYPES[precision]
    exported_model = type(model)(model.config, dtype=dtype, param_dtype=dtype, _do_init=False)
    params = jax.tree_util.tree_map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, model.params)
    outputs = list(run_eager(model, {name: np.ones(shape.dims(), np.int32) for name in INPUTS}))

    def serve(input_ids, attention_mask, token_type_ids):
        out = exported_model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, params=params)
        return {name: out[name].astype(jnp.float32) for name in outputs}

    batch = "b" if dynamic_batch else str(shape.batch)
    length = "l" if dynamic_length else str(shape.length)
    dims = ", ".join([batch, *([str(shape.num_choices)] if shape.num_choices is not None else []), length])
    constraints = [f"l <= {model.config.max_position_embeddings}"] if dynamic_length else []
    spec = jax.ShapeDtypeStruct(export.symbolic_shape(dims, constraints=constraints), jnp.int32)
    exported = export.export(jax.jit(serve))(spec, spec, spec)
    (out_dir / FILE).write_bytes(exported.serialize())
    return outputs


def run_artifact(out_dir: Path, format: str, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Deserialize `model.stablehlo` (`jax.export.deserialize`) and call it on each input
    dict; returns the outputs by name, for each."""
    exported = export.deserialize(bytearray((out_dir / FILE).read_bytes()))
    outs = [exported.call(*(np.asarray(inputs[k], np.int32) for k in INPUTS)) for inputs in batches]
    return [{k: np.asarray(v) for k, v in out.items()} for out in outs]
