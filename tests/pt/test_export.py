"""electra.pt under PyTorch's program capture: `torch.export` (dynamic batch and length),
ONNX through the dynamo exporter (run in onnxruntime), `torch.jit.trace`; the output
dataclasses as pytrees; a captured program keeps the attention mask and reads no values."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils import _pytree as pytree

import electra.pt as pt
from conftest import tiny_config
from electra.common.outputs import ALL_OUTPUTS
from electra.common.weights.names import ARCHITECTURES
from electra.common.weights.random import random_state_dict

C = 3  # choices of ElectraForMultipleChoice (static; batch and length are dynamic)


def build(architecture):
    config = tiny_config(is_decoder=architecture == "ElectraForCausalLM")
    model = getattr(pt, architecture)(config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in random_state_dict(config, architecture).items()})
    return model.eval()


def inputs(architecture, B, L, padded: bool, seed=0):
    """(input_ids, attention_mask): (B, L), or (B, C, L) for multiple choice; with
    `padded`, the last 3 positions of row 1 are padding."""
    shape = (B, C, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    ids = torch.randint(1, 99, shape, generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(shape, dtype=torch.long)
    if padded:
        mask[1, ..., -3:] = 0
    return ids, mask


def dynamic_shapes(architecture):
    batch, length = torch.export.Dim("batch", min=2, max=16), torch.export.Dim("length", min=4, max=64)
    dims = {0: batch, 2: length} if architecture == "ElectraForMultipleChoice" else {0: batch, 1: length}
    return (dims, dims)


def leaves(output) -> list[torch.Tensor]:
    return [x for x in pytree.tree_leaves(output) if isinstance(x, torch.Tensor)]


def max_diff(a, b) -> float:
    a, b = leaves(a), leaves(b)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x.shape == y.shape
    return max(float((torch.as_tensor(x) - torch.as_tensor(y)).abs().max()) for x, y in zip(a, b))


@pytest.mark.parametrize("cls", ALL_OUTPUTS)
def test_outputs_are_pytrees_keeping_none_fields(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    output = cls(**{names[1]: torch.ones(2), names[-1]: (torch.zeros(1), torch.zeros(3))})
    flat, spec = pytree.tree_flatten(output)
    assert [tuple(x.shape) for x in flat] == [(2,), (1,), (3,)]
    rebuilt = pytree.tree_unflatten([x + 1 for x in flat], spec)
    assert type(rebuilt) is cls
    assert rebuilt.keys() == [names[1], names[-1]]
    assert getattr(rebuilt, names[0]) is None
    assert torch.equal(rebuilt[names[1]], torch.full((2,), 2.0))
    paths = [pytree.keystr(path) for path, _ in pytree.tree_flatten_with_path(output)[0]]
    assert paths == [f".{names[1]}", f".{names[-1]}[0]", f".{names[-1]}[1]"]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_export_with_dynamic_batch_and_length_equals_eager(architecture):
    model = build(architecture)
    program = torch.export.export(model, inputs(architecture, 2, 7, padded=False), dynamic_shapes=dynamic_shapes(architecture))
    ids, mask = inputs(architecture, 3, 11, padded=True, seed=1)
    eager = model(ids, mask)
    exported = program.module()(ids, mask)
    assert type(exported) is type(eager) and exported.keys() == eager.keys()
    assert max_diff(exported, eager) < 1e-5


def test_exported_program_saves_and_loads(tmp_path):
    model = build("ElectraForQuestionAnswering")
    program = torch.export.export(model, inputs("ElectraForQuestionAnswering", 2, 7, padded=False),
                                  dynamic_shapes=dynamic_shapes("ElectraForQuestionAnswering"))
    torch.export.save(program, tmp_path / "qa.pt2")
    ids, mask = inputs("ElectraForQuestionAnswering", 4, 9, padded=True)
    loaded = torch.export.load(tmp_path / "qa.pt2").module()(ids, mask)
    assert max_diff(loaded, model(ids, mask)) < 1e-5


def test_onnx_export_equals_eager_in_onnxruntime(tmp_path):
    architecture = "ElectraForQuestionAnswering"  # two outputs (about 13 s an export: one class)
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build(architecture)
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, inputs(architecture, 2, 7, padded=False), path, dynamo=True,
                      dynamic_shapes=dynamic_shapes(architecture), input_names=["input_ids", "attention_mask"],
                      output_names=["start_logits", "end_logits"], verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids, mask = inputs(architecture, 3, 11, padded=True, seed=1)
    assert [o.name for o in session.get_outputs()] == ["start_logits", "end_logits"]
    got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    assert max_diff([torch.from_numpy(x) for x in got], leaves(model(ids, mask))) < 1e-5


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_jit_trace_of_the_model_returns_its_fields_as_a_tuple(architecture):
    model = build(architecture)
    traced = torch.jit.trace(model, inputs(architecture, 2, 7, padded=False))
    ids, mask = inputs(architecture, 3, 11, padded=True, seed=1)
    eager, got = model(ids, mask), traced(ids, mask)
    assert type(got) is tuple and len(got) == len(eager.to_tuple())  # HF's return_dict=False order
    assert max_diff(got, eager.to_tuple()) < 1e-5


class Logits(torch.nn.Module):
    """A user's wrapper returning `.logits` only (the issue's reproduction)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids, attention_mask).logits


@pytest.mark.parametrize("capture", ["jit.trace", "export"])
def test_program_captured_without_padding_applies_the_mask(capture):
    model = build("ElectraForSequenceClassification")
    example = inputs("ElectraForSequenceClassification", 2, 7, padded=False)
    wrapped = Logits(model)
    if capture == "jit.trace":
        program = torch.jit.trace(wrapped, example)
    else:
        program = torch.export.export(wrapped, example).module()
    ids, mask = inputs("ElectraForSequenceClassification", 2, 7, padded=True, seed=1)
    expected = model(ids, mask).logits
    assert float((expected - model(ids).logits).abs().max()) > 0.1  # the mask matters here
    torch.testing.assert_close(program(ids, mask), expected, atol=1e-5, rtol=0)


def test_trace_reads_no_values_on_the_host():
    """No input value is read in Python while tracing (the tracer warns at each such read:
    the all-ones-mask test and the range checks would fix the program to the example)."""
    model = build("ElectraForPreTraining")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.jit.trace(Logits(model), inputs("ElectraForPreTraining", 2, 7, padded=False))
    here = Path(pt.__file__).parent
    assert [str(w.message) for w in caught if issubclass(w.category, torch.jit.TracerWarning) and Path(w.filename).parent == here] == []
    ids, mask = inputs("ElectraForPreTraining", 2, 7, padded=True)
    ids[0, 0] = 200
    with pytest.raises(ValueError, match="input_ids"):  # eager calls still check
        model(ids, mask)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_capture_with_padding():
    model = build("ElectraForSequenceClassification").cuda()
    ids, mask = (t.cuda() for t in inputs("ElectraForSequenceClassification", 2, 7, padded=True))
    expected = model(ids, mask).logits
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        model(ids, mask)  # warm-up outside capture, as torch.cuda.graphs asks
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = model(ids, mask).logits
    graph.replay()
    torch.testing.assert_close(captured, expected, atol=1e-5, rtol=0)
