"""The shared output dataclasses (`electra.common.outputs`) in PyTorch's capture tools.

- Pytrees (`torch.utils._pytree`), so that `torch.export`, the dynamo ONNX exporter and
  `torch.compile` take them as outputs: the set fields are the children; the names of the
  set and unset fields are the node's context, so a captured program returns the same
  class with the same fields left None.
- `torch.jit.trace` takes only tensors, tuples, lists and dicts out of a traced call, and
  a dict's values must share one type: while it traces, a model returns the values of its
  set fields in order, HF's `return_dict=False` tuple (`to_tuple()`), as a `TracedOutput`
  that still reads fields as attributes (for the heads that call the backbone). The traced
  program returns a plain tuple: `traced(ids, mask)[0]` is the logits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch.utils import _pytree as pytree

from electra.common.outputs import ALL_OUTPUTS, ModelOutput


def _flatten(output: ModelOutput) -> tuple[list[Any], tuple[tuple[str, ...], tuple[str, ...]]]:
    names = [f.name for f in dataclasses.fields(output)]
    set_names = tuple(n for n in names if getattr(output, n) is not None)
    unset_names = tuple(n for n in names if getattr(output, n) is None)
    return [getattr(output, n) for n in set_names], (set_names, unset_names)


def _flatten_with_keys(output: ModelOutput) -> tuple[list[tuple[pytree.KeyEntry, Any]], Any]:
    children, context = _flatten(output)
    return [(pytree.GetAttrKey(n), child) for n, child in zip(context[0], children)], context


def _unflatten_for(cls: type[ModelOutput]):
    def unflatten(children, context) -> ModelOutput:
        set_names, unset_names = context
        return cls(**dict(zip(set_names, children)), **dict.fromkeys(unset_names))

    return unflatten


for _cls in ALL_OUTPUTS:
    pytree.register_pytree_node(
        _cls, _flatten, _unflatten_for(_cls),
        serialized_type_name=f"{_cls.__module__}.{_cls.__qualname__}",
        flatten_with_keys_fn=_flatten_with_keys,
    )


class TracedOutput(tuple):
    """The values of an output's set fields, in order (`to_tuple()`); every field of the
    class still reads as an attribute (unset fields as None)."""

    def __new__(cls, output: ModelOutput):
        traced = super().__new__(cls, output.to_tuple())
        traced.fields = dict.fromkeys(f.name for f in dataclasses.fields(output))
        traced.fields.update(output.items())
        return traced

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


def traceable(output: Any) -> Any:
    """`output` itself, or under `torch.jit.trace` a `TracedOutput` of it."""
    if isinstance(output, ModelOutput) and torch.jit.is_tracing():
        return TracedOutput(output)
    return output
