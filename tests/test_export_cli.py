"""`electra export` as a user runs it (`python -m electra export ...` in a subprocess), on
two tiny models saved as save_pretrained writes them: a sequence classifier (with tokenizer
files) and a question-answering model (two outputs).

Every format with --verify for both heads, at probe shapes other than the export's on the
dynamic axes; a perturbed artifact fails --verify and leaves OUT as it was; a missing
runtime or framework names its extra; OUT not empty; TFLite refuses dynamic axes; bad input
is refused before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_config
from electra.common.weights.checkpoint import write_pretrained
from electra.common.weights.random import random_state_dict

HEADS = {"ElectraForSequenceClassification": ["logits"], "ElectraForQuestionAnswering": ["start_logits", "end_logits"]}
ARTIFACT = {"onnx": ["model.onnx", "model.onnx.data"], "torchscript": ["model.pt"], "savedmodel": ["saved_model/"],
            "tflite": ["model.tflite"], "stablehlo": ["model.stablehlo"]}
RUNTIME = {"onnx": "onnxruntime", "torchscript": "torch.jit.load", "savedmodel": "tf.saved_model.load in a fresh process",
           "tflite": "tf.lite.Interpreter", "stablehlo": "jax.export.deserialize"}
TOKENIZER_FILES = ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
VERIFY_LINE = re.compile(r"verify \((.+)\) at input shape \(([\d, ]+)\), (\d+) padded positions: max \|artifact - eager\|: (.+)")

# Run the command with a module made impossible to import, as on a machine without it.
WITHOUT_MODULE = """
import sys
blocked = sys.argv.pop(1)

class Block:
    def find_spec(self, name, path=None, target=None):
        if name == blocked or name.startswith(blocked + "."):
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, Block())
from electra.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Run the command with the exported classifier's bias moved by 1e-3 (the eager model keeps
# its own): --verify must see exactly that difference and fail.
PERTURBED_EXPORT = """
import copy, sys, torch
import electra.pt.export as backend
from electra.cli import main
export_artifact = backend.export_artifact

def perturbed(model, *args, **kwargs):
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.classifier.out_proj.bias.add_(1e-3)
    return export_artifact(model, *args, **kwargs)

backend.export_artifact = perturbed
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Two model folders as save_pretrained writes them; the classifier's holds tokenizer files."""
    from electra.common.tokenizers.fast import ElectraTokenizerFast

    root = tmp_path_factory.mktemp("models")
    config = tiny_config()
    for architecture in HEADS:
        write_pretrained(root / architecture, config, random_state_dict(config, architecture), architecture)
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"w{i}" for i in range(94))]) + "\n")
    ElectraTokenizerFast(vocab_file=str(vocab)).save_pretrained(root / "ElectraForSequenceClassification")
    return root


def electra(cwd: Path, *argv: str, script: str | None = None, script_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "electra"] if script is None else [sys.executable, "-c", script, *script_args]
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command's own default (TensorFlow's start-up lines hidden) is under test
    return subprocess.run([*command, "export", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def verify_lines(stdout: str) -> list[tuple[str, tuple[int, ...], int, dict[str, float]]]:
    """(runtime, probe shape, padded positions, {output: difference}) of each printed verify line."""
    found = []
    for line in stdout.splitlines():
        match = VERIFY_LINE.fullmatch(line)
        if match:
            diffs = dict((name, float(value)) for name, value in (part.split(" ") for part in match[4].split(", ")))
            found.append((match[1], tuple(int(n) for n in match[2].split(", ")), int(match[3]), diffs))
    return found


NEEDS = {"onnx": ("torch", "onnxscript", "onnxruntime"), "torchscript": ("torch",), "savedmodel": ("tensorflow",), "tflite": ("tensorflow",),
         "stablehlo": ("jax", "flax")}


def needs(format: str) -> None:
    """Skip, naming the package, where the format's framework or runtime is not installed."""
    import importlib.util

    for module in NEEDS[format]:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"--format {format} needs {module}, not installed")


FLAGS = {"onnx": ["--dynamic-batch", "--dynamic-length"], "torchscript": ["--dynamic-batch", "--dynamic-length"],
         "savedmodel": ["--dynamic-batch", "--dynamic-length"], "tflite": ["--batch-size", "2", "--length", "16"],
         "stablehlo": ["--dynamic-batch", "--dynamic-length"]}


@pytest.mark.parametrize("architecture", list(HEADS))
@pytest.mark.parametrize("format", list(FLAGS))
def test_export_with_verify_matches_the_eager_model(models, tmp_path, format, architecture):
    needs(format)
    out = tmp_path / "served"
    done = electra(tmp_path, str(models / architecture), str(out), "--format", format, *FLAGS[format], "--verify")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    lines = verify_lines(done.stdout)
    # Dynamic axes: probes at batches 3 and 1, lengths 11 and 5 (the export traced at 2 x 8); TFLite: its fixed (2, 16).
    shapes = [(2, 16), (2, 16)] if format == "tflite" else [(3, 11), (1, 5)]
    assert [(runtime, shape, padded) for runtime, shape, padded, _ in lines] == [
        (RUNTIME[format], shape, max(1, shape[1] // 3)) for shape in shapes]  # the last row's last third is padding
    for *_, diffs in lines:
        assert list(diffs) == HEADS[architecture]
        assert all(0 <= d <= 1e-4 for d in diffs.values()), diffs
    copied = TOKENIZER_FILES if architecture == "ElectraForSequenceClassification" else []
    assert sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir()) == sorted([*ARTIFACT[format], "export.json", "config.json", *copied])
    for name in ["config.json", *copied]:
        assert (out / name).read_bytes() == (models / architecture / name).read_bytes()
    manifest = json.loads((out / "export.json").read_text())
    axes = [2, 16] if format == "tflite" else ["batch", "length"]
    dtype = "int64" if format in ("onnx", "torchscript") else "int32"
    assert manifest["inputs"] == {name: {"dtype": dtype, "shape": axes} for name in ("input_ids", "attention_mask", "token_type_ids")}
    assert manifest["outputs"] == {name: {"dtype": "float32"} for name in HEADS[architecture]}
    assert (manifest["format"], manifest["architecture"], manifest["files"]) == (format, architecture, ARTIFACT[format])
    served = ["config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"][:1 + len(copied)]
    assert done.stdout.splitlines()[-1] == f"wrote {out}: {', '.join([*ARTIFACT[format], 'export.json', *served])}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_perturbed_artifact_fails_verify_and_leaves_out_as_it_was(models, tmp_path):
    needs("torchscript")
    out = tmp_path / "served"
    out.mkdir()
    (out / "previous.txt").write_text("the export that was here\n")
    done = electra(tmp_path, str(models / "ElectraForSequenceClassification"), str(out), "--format", "torchscript", "--dynamic-batch",
                   "--dynamic-length", "--verify", "--overwrite", script=PERTURBED_EXPORT)
    assert done.returncode == 1, done.stderr[-3000:]
    diffs = [d["logits"] for *_, d in verify_lines(done.stdout)]
    assert len(diffs) == 2 and all(abs(d - 1e-3) < 1e-6 for d in diffs)  # the bias moved by 1e-3 moves every logit by it
    assert done.stderr.strip().splitlines()[-1] == (
        f"electra export: verify failed: the torchscript artifact differs from the eager model by 1.0e-03, "
        f"above the fp32 tolerance 1e-04; {out} was not written")
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def test_overwrite_replaces_a_non_empty_out(models, tmp_path):
    needs("torchscript")
    out = tmp_path / "served"
    out.mkdir()
    (out / "previous.txt").write_text("the export that was here\n")
    args = (str(models / "ElectraForQuestionAnswering"), str(out), "--format", "torchscript", "--precision", "bf16", "--length", "12")
    refused = electra(tmp_path, *args)
    assert refused.returncode == 2
    assert refused.stderr == f"electra export: error: OUT {out} is not empty: add --overwrite to replace what it holds, or choose another OUT\n"
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    done = electra(tmp_path, *args, "--overwrite", "--verify")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = verify_lines(done.stdout)
    assert [shape for _, shape, _, _ in lines] == [(1, 12), (1, 12)]
    assert all(1e-4 < d <= 1e-1 for *_, diffs in lines for d in diffs.values())  # bfloat16: not float32's agreement, within its tolerance
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "export.json", "model.pt"]
    assert json.loads((out / "export.json").read_text())["precision"] == "bf16"


@pytest.mark.parametrize(("format", "blocked", "flags", "extra"), [
    ("onnx", "onnxruntime", ["--verify"], "export"),
    ("onnx", "onnxscript", [], "export"),
    ("torchscript", "torch", [], "torch"),
    ("savedmodel", "tensorflow", [], "tf"),
    ("stablehlo", "jax", [], "flax"),
])
def test_a_missing_runtime_names_the_extra_to_install(models, tmp_path, format, blocked, flags, extra):
    needs(format)  # the modules checked before the blocked one must import
    out = tmp_path / "served"
    done = electra(tmp_path, str(models / "ElectraForQuestionAnswering"), str(out), "--format", format, *flags,
                   script=WITHOUT_MODULE, script_args=(blocked,))
    assert done.returncode == 2
    assert done.stderr == f"electra export: error: --format {format} needs {blocked}, which is not installed: pip install 'electra[{extra}]'\n"
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--format", "tflite", "--dynamic-batch"],
     "--format tflite has a fixed input signature, so --dynamic-batch cannot apply: export at the shape you serve with "
     "--batch-size and --length (pad shorter inputs and mask them)"),
    (["--format", "onnx", "--precision", "bf16"], "--format onnx does not support --precision bf16: it supports fp32, fp16 (see electra export --help)"),
    (["--format", "savedmodel", "--precision", "fp16"], "--format savedmodel does not support --precision fp16: it supports fp32 (see electra export --help)"),
    (["--format", "keras"], "--format 'keras' is not an export format; expected one of onnx, torchscript, savedmodel, tflite, stablehlo"),
    (["--format", "onnx", "--architecture", "ElectraForTokenClassification"],
     "{model} holds no weights of the ElectraForTokenClassification head (classifier.bias, classifier.weight): "
     "pass the --architecture of the head it was trained with"),
    (["--format", "onnx", "--architecture", "BertModel"],
     "--architecture BertModel, which is not an electra architecture; expected one of ElectraModel, ElectraForPreTraining, "
     "ElectraForMaskedLM, ElectraForCausalLM, ElectraForSequenceClassification, ElectraForMultipleChoice, "
     "ElectraForTokenClassification, ElectraForQuestionAnswering"),
    (["--format", "onnx", "--length", "65"], "--length 65 is longer than the model's max_position_embeddings (64)"),
    (["--format", "onnx", "--length", "8", "--dynamic-length"],
     "--length sets a fixed size and --dynamic-length makes it dynamic: pass one of them"),
    (["--format", "onnx", "--num-choices", "4"], "--num-choices is for ElectraForMultipleChoice, not ElectraForQuestionAnswering"),
])
def test_bad_input_is_refused_before_anything_is_written(models, tmp_path, argv, message):
    model = models / "ElectraForQuestionAnswering"
    done = electra(tmp_path, str(model), str(tmp_path / "served"), *argv)
    assert done.returncode == 2
    assert done.stderr == f"electra export: error: {message.format(model=model)}\n"
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_missing_model_dir_is_refused(tmp_path):
    done = electra(tmp_path, "no-such-model", "served", "--format", "onnx")
    assert done.returncode == 2
    assert done.stderr == "electra export: error: MODEL_DIR no-such-model is not a directory; pass a folder holding config.json and weights\n"
    assert list(tmp_path.iterdir()) == []
