"""Google's TF1 checkpoints without TensorFlow: finding them, their names in each layout, errors.

The Google names are written here independently of `electra.common.weights.google`; the
checkpoints TensorFlow writes and HF's loader are compared in tests/tf/test_google_checkpoint.py.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from electra.common.config import generator_config
from electra.common.errors import CheckpointError
from electra.common.weights.google import (
    google_checkpoint_prefix,
    google_tf1_to_canonical,
    infer_config,
    is_google_checkpoint,
    load_google_checkpoint,
)
from electra.common.weights.names import expected_shapes
from electra.common.weights.random import random_state_dict
from tests.conftest import tiny_config

TIED = "generator_lm_head.weight"


def to_tf1_name(key: str, scope: str) -> tuple[str, bool]:
    """Google's name for a canonical key under network scope `scope`, and whether it is transposed."""
    name = key.replace("electra.", scope + ".", 1) if key.startswith("electra.") else key
    name = re.sub(r"\.layer\.(\d+)\.", r".layer_\1.", name)
    name = name.replace("dense_prediction", "dense_1").replace("generator_lm_head.bias", "generator_predictions.output_bias")
    name = re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", name)
    name = re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", name)
    name = re.sub(r"(_embeddings?)\.weight$", r"\1", name)
    transposed = name.endswith(".weight")
    return re.sub(r"\.weight$", ".kernel", name).replace(".", "/"), transposed


def google_layout(layout: str, *, embedding_size: int = 24, generator_fraction: float = 0.5, slots: bool = True):
    """The TF1 variables of one of Google's layouts, and the canonical states they hold.

    Layouts (google-research/electra `run_pretraining.py`): "shared" (the default: the
    generator under `generator/` reads `electra/embeddings`), "untied" (untied_generator_embeddings:
    `generator/embeddings` of the generator's hidden width), "untied_project" (own embeddings
    of another width, with `generator/embeddings_project`), "tied" (untied_generator=False:
    the generator is `electra/` plus `generator_predictions`).
    Returns:
        (variables, discriminator config, generator config, discriminator state, generator state).
    """
    config = tiny_config(embedding_size=embedding_size)
    discriminator = random_state_dict(config, "ElectraForPreTraining", seed=1)
    if layout == "tied":
        generator_cfg = config
        generator = {**{k: v for k, v in discriminator.items() if k.startswith("electra.")},
                     **{k: v for k, v in random_state_dict(config, "ElectraForMaskedLM", seed=2).items() if not k.startswith("electra.")}}
    else:
        generator_cfg = generator_config(config, generator_fraction)
        if layout == "untied":
            generator_cfg = generator_cfg.replace(embedding_size=generator_cfg.hidden_size)
        elif layout == "untied_project":
            generator_cfg = generator_cfg.replace(embedding_size=8)
        generator = random_state_dict(generator_cfg, "ElectraForMaskedLM", seed=2)
        if layout == "shared":
            generator.update({k: v for k, v in discriminator.items() if k.startswith("electra.embeddings.")})
    generator[TIED] = generator["electra.embeddings.word_embeddings.weight"]

    variables = {"global_step": np.array(1000, dtype=np.int64)}
    sources = [(discriminator, "electra", lambda key: True)]
    if layout == "tied":
        sources.append((generator, "electra", lambda key: not key.startswith("electra.")))
    else:
        own_embeddings = layout != "shared"
        sources.append((generator, "generator", lambda key: own_embeddings or not key.startswith("electra.embeddings.")))
    for state, scope, keep in sources:
        for key, value in state.items():
            if key == TIED or not keep(key):
                continue
            name, transposed = to_tf1_name(key, scope)
            variables[name] = value.T if transposed else value
            if slots:
                variables[name + "/adam_m"] = np.zeros_like(variables[name])
                variables[name + "/adam_v"] = np.ones_like(variables[name])
    return variables, config, generator_cfg, discriminator, {k: v for k, v in generator.items() if k != TIED}


def assert_same(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert actual[key].dtype == value.dtype and np.array_equal(actual[key], value), key


# ----------------------------------------------------------------------------- names per layout
@pytest.mark.parametrize("layout", ["shared", "untied", "untied_project", "tied"])
def test_each_layout_converts_both_networks(layout):
    variables, _, _, discriminator, generator = google_layout(layout)
    assert_same(google_tf1_to_canonical(variables, "discriminator"), discriminator)
    assert_same(google_tf1_to_canonical(variables, "generator"), generator)


def test_layout_names_are_google_s():
    variables, *_ = google_layout("shared")
    assert {"electra/embeddings/word_embeddings", "electra/embeddings_project/kernel", "generator/embeddings_project/kernel",
            "generator/encoder/layer_1/attention/self/query/kernel", "discriminator_predictions/dense_1/kernel",
            "generator_predictions/LayerNorm/gamma", "generator_predictions/output_bias",
            "electra/encoder/layer_0/output/dense/kernel/adam_m"} <= set(variables)
    assert not any(name.startswith("generator/embeddings/") for name in variables)
    untied, *_ = google_layout("untied")
    assert "generator/embeddings/word_embeddings" in untied and "generator/embeddings_project/kernel" not in untied
    tied, *_ = google_layout("tied")
    assert not any(name.startswith("generator/") for name in tied) and "generator_predictions/dense/kernel" in tied


def test_generator_reads_the_untied_embeddings_not_the_shared_ones():
    shared = np.ones((5, 3), np.float32)
    own = np.full((5, 4), 2.0, np.float32)
    variables = {"electra/embeddings/word_embeddings": shared, "generator/embeddings/word_embeddings": own,
                 "generator/encoder/layer_0/intermediate/dense/bias": np.zeros(7, np.float32)}
    assert_same(google_tf1_to_canonical(variables, "generator"), {"electra.embeddings.word_embeddings.weight": own,
                                                                   "electra.encoder.layer.0.intermediate.dense.bias": variables[
                                                                       "generator/encoder/layer_0/intermediate/dense/bias"]})
    assert_same(google_tf1_to_canonical(variables, "discriminator"), {"electra.embeddings.word_embeddings.weight": shared})


def test_projection_absent_when_widths_agree():
    variables, config, *_ , discriminator, _ = google_layout("shared", embedding_size=32)
    assert not config.has_embeddings_project and "electra/embeddings_project/kernel" not in variables
    assert_same(google_tf1_to_canonical(variables, "discriminator"), discriminator)


# ----------------------------------------------------------------------------- refusals
def test_another_model_is_refused_naming_its_first_variable():
    bert = {"bert/embeddings/word_embeddings": np.zeros((5, 3)), "cls/predictions/output_bias": np.zeros(5),
            "bert/encoder/layer_0/output/dense/kernel": np.zeros((3, 3)), "global_step": np.array(1)}
    with pytest.raises(CheckpointError, match=r"^bert/embeddings/word_embeddings: unexpected variable in an ELECTRA TF1 checkpoint"):
        google_tf1_to_canonical(bert, "discriminator")
    with pytest.raises(CheckpointError, match="TF2 object-based checkpoint"):
        google_tf1_to_canonical({"_CHECKPOINTABLE_OBJECT_GRAPH": np.zeros(1), "model/x/.ATTRIBUTES/VARIABLE_VALUE": np.zeros(1)}, "generator")
    with pytest.raises(CheckpointError, match=r"electra/embeddings/LayerNorm/scale: unknown leaf 'scale'"):
        google_tf1_to_canonical({"electra/embeddings/LayerNorm/scale": np.zeros(3)}, "discriminator")


def test_network_names_are_checked_before_the_path(tmp_path):
    with pytest.raises(ValueError, match=r"network must be 'discriminator' or 'generator', got 'teacher'"):
        google_tf1_to_canonical({}, "teacher")
    with pytest.raises(ValueError, match=r"nowhere: network must be 'discriminator' or 'generator', got 'Generator'"):
        load_google_checkpoint(tmp_path / "nowhere", "Generator")


# ----------------------------------------------------------------------------- config
def test_config_is_inferred_from_shapes_with_google_s_head_count():
    for hidden, heads in ((32, 1), (64, 1), (256, 4), (768, 12), (1024, 16)):
        config = tiny_config(hidden_size=hidden, num_attention_heads=heads, embedding_size=16, intermediate_size=4 * hidden,
                             num_hidden_layers=3, max_position_embeddings=40, type_vocab_size=2)
        inferred = infer_config(expected_shapes(config, "ElectraForPreTraining"))
        for field in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                      "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            assert getattr(inferred, field) == getattr(config, field), (hidden, field)
    with pytest.raises(CheckpointError, match=r"^ck: missing electra.encoder.layer.0.attention.self.query.weight"):
        infer_config({"electra.embeddings.word_embeddings.weight": (5, 3)}, "ck")


# ----------------------------------------------------------------------------- finding files
def touch_checkpoint(directory, name="model.ckpt-1000", shards=1):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.index").write_bytes(b"index")
    for i in range(shards):
        (directory / f"{name}.data-{i:05d}-of-{shards:05d}").write_bytes(b"data")
    return directory / name


def test_prefixes_and_directories_are_found(tmp_path):
    prefix = touch_checkpoint(tmp_path / "run")
    assert google_checkpoint_prefix(prefix) == prefix
    assert google_checkpoint_prefix(f"{prefix}.index") == prefix
    assert google_checkpoint_prefix(tmp_path / "run") == prefix  # the single *.index
    touch_checkpoint(tmp_path / "run", "model.ckpt-2000")
    with pytest.raises(CheckpointError, match=r"several TF1 checkpoints .*model.ckpt-1000.index, model.ckpt-2000.index"):
        google_checkpoint_prefix(tmp_path / "run")
    assert not is_google_checkpoint(tmp_path / "run")
    (tmp_path / "run" / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-2000"\n'
                                                 'all_model_checkpoint_paths: "model.ckpt-1000"\n')
    assert google_checkpoint_prefix(tmp_path / "run") == tmp_path / "run" / "model.ckpt-2000"
    # Moved from where it was written: the absolute path is looked up beside the `checkpoint` file.
    (tmp_path / "run" / "checkpoint").write_text('model_checkpoint_path: "/gone/models/model.ckpt-1000"\n')
    assert google_checkpoint_prefix(tmp_path / "run") == prefix
    assert is_google_checkpoint(tmp_path / "run") and is_google_checkpoint(prefix)


def test_what_is_no_tf1_checkpoint_says_what_it_found(tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "model.safetensors").write_bytes(b"")
    cases = {
        hf: r"hf: not a TF1 checkpoint directory \(no `checkpoint` file, no \*.index\); found config.json, model.safetensors$",
        hf / "config.json": r"config.json: a file, not a TF1 checkpoint prefix \(expected config.json.index beside it\)$",
        tmp_path / "model.ckpt-5": r"model.ckpt-5: no such file or directory, and no model.ckpt-5.index beside it$",
    }
    for path, message in cases.items():
        assert not is_google_checkpoint(path)
        with pytest.raises(CheckpointError, match=message):
            load_google_checkpoint(path, "discriminator")
    (hf / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-9"\n')
    with pytest.raises(CheckpointError, match=r"checkpoint: names 'model.ckpt-9', but no model.ckpt-9.index is there"):
        google_checkpoint_prefix(hf)


def test_missing_data_files_are_named_before_tensorflow_is_needed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as where TensorFlow is not installed
    prefix = touch_checkpoint(tmp_path, shards=3)
    (tmp_path / "model.ckpt-1000.data-00001-of-00003").unlink()
    with pytest.raises(CheckpointError, match=r"model.ckpt-1000.index: data shard\(s\) missing: model.ckpt-1000.data-00001-of-00003$"):
        load_google_checkpoint(prefix, "generator")
    for path in tmp_path.glob("*.data-*"):
        path.unlink()
    with pytest.raises(CheckpointError, match=r"its data file model.ckpt-1000.data-00000-of-00001 is missing$"):
        load_google_checkpoint(prefix, "generator")


def test_without_tensorflow_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    prefix = touch_checkpoint(tmp_path)
    with pytest.raises(ImportError, match=r"model.ckpt-1000: reading a Google TF1 checkpoint needs TensorFlow, which is not "
                                          r"installed: pip install 'electra\[tf\]'$"):
        load_google_checkpoint(tmp_path, "discriminator")
    assert is_google_checkpoint(prefix)  # finding one needs no TensorFlow
