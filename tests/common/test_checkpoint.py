"""Checkpoint files: HF 4.57's own files read to HF's state dict, our files loaded by HF,
strict matching, damaged files and atomic writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from electra.common import files
from electra.common.errors import CheckpointError
from electra.common.weights.checkpoint import (
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    match_state_dict,
    parse_shard_size,
    read_state_dict,
    write_pretrained,
    write_state_dict,
)
from electra.common.weights.loading import load_pretrained
from electra.common.weights.random import random_state_dict
from tests.conftest import tiny_config
from tests.hf_reference import FORMATS, save_hf_references

TIED = "generator_lm_head.weight"
WORD = "electra.embeddings.word_embeddings.weight"
REFERENCE_ARCHITECTURES = (
    "ElectraModel",
    "ElectraForPreTraining",
    "ElectraForMaskedLM",
    "ElectraForSequenceClassification",
    "ElectraForMultipleChoice",
    "ElectraForTokenClassification",
    "ElectraForQuestionAnswering",
)


def assert_same(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(actual[key], value, err_msg=key)


# ----------------------------------------------------------------------------- HF reference files
@pytest.fixture(scope="module")
def hf_files(tmp_path_factory):
    pytest.importorskip("transformers")
    config = tiny_config(id2label={0: "a", 1: "b"})  # HF's QA head has num_labels outputs and needs 2
    paths = save_hf_references(tmp_path_factory.mktemp("hf"), REFERENCE_ARCHITECTURES, config.to_dict(), seed=0, formats=FORMATS)
    return config, paths


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("architecture", REFERENCE_ARCHITECTURES)
def test_reads_hf_files_as_hf_state_dict(hf_files, architecture, fmt):
    config, paths = hf_files
    hf_state = {k: v for k, v in np.load(paths[architecture]["state"]).items() if not k.endswith("position_ids")}
    state = read_state_dict(paths[architecture][fmt])
    # HF's safetensors, TF and Flax files hold no tied LM-head weight; torch.save (.bin) keeps it.
    assert_same(state, {k: v for k, v in hf_state.items() if k != TIED or fmt.startswith("pt_bin")})
    full, new, unused = match_state_dict(state, config, architecture, source=fmt)
    assert (new, unused) == ([], [])
    assert_same(full, hf_state)


def test_hf_loads_our_files(tmp_path):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = tiny_config()
    for architecture, shard in (("ElectraForMaskedLM", None), ("ElectraForMultipleChoice", 20_000)):
        state = random_state_dict(config, architecture, seed=5)
        write_pretrained(tmp_path / architecture, config, state, architecture, max_shard_size=shard)
        model, info = getattr(transformers, architecture).from_pretrained(tmp_path / architecture, output_loading_info=True)
        assert not any(info.values()), info
        hf_state = {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
        assert_same(hf_state, state)
        saved = json.loads((tmp_path / architecture / "config.json").read_text())
        assert saved["architectures"] == [architecture] and "architectures" not in config.extra


def test_load_pretrained_fine_tuning_flow(tmp_path):
    config = tiny_config()
    write_pretrained(tmp_path, config, random_state_dict(config, "ElectraForPreTraining"), "ElectraForPreTraining")
    loaded_config, state, new, unused = load_pretrained(tmp_path, "ElectraForSequenceClassification")
    assert loaded_config == config.replace(extra={"architectures": ["ElectraForPreTraining"]})
    assert new == ["classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias", "classifier.out_proj.weight"]
    assert unused == ["discriminator_predictions.dense.bias", "discriminator_predictions.dense.weight",
                      "discriminator_predictions.dense_prediction.bias", "discriminator_predictions.dense_prediction.weight"]
    assert not any(key.startswith("classifier") for key in state)


# ----------------------------------------------------------------------------- safetensors writing
def test_write_read_round_trip_keeps_dtypes_and_widens_halves(tmp_path):
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int64),
             "c": np.array([0.5, -2.0], np.float16), "d": np.zeros((0, 4), np.float64)}
    write_state_dict(tmp_path, state)
    read = read_state_dict(tmp_path)
    assert {k: v.dtype for k, v in read.items()} == {"a": np.float32, "b": np.int64, "c": np.float32, "d": np.float64}
    assert_same(read, state)
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    assert_same(safetensors_numpy.load_file(tmp_path / WEIGHTS_NAME), state)


def test_reads_bfloat16_as_float32(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    values = torch.tensor([[1.5, -3.25], [1e-3, 7e4]], dtype=torch.bfloat16)
    save_file({"x": values}, tmp_path / "w.safetensors")
    torch.save({"x": values}, tmp_path / "w.bin")
    expected = values.float().numpy()
    for name in ("w.safetensors", "w.bin"):
        read = read_state_dict(tmp_path / name)["x"]
        assert read.dtype == np.float32
        np.testing.assert_array_equal(read, expected)


def test_sharded_write_and_stale_files(tmp_path):
    state = {f"k{i}": np.full((10,), i, np.float32) for i in range(5)}  # 40 bytes each
    files_written = write_state_dict(tmp_path, state, max_shard_size=100)
    assert [f.name for f in files_written] == [
        "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", WEIGHTS_INDEX_NAME]
    index = json.loads((tmp_path / WEIGHTS_INDEX_NAME).read_text())
    assert index == {"metadata": {"total_parameters": 50, "total_size": 200}, "weight_map": {
        "k0": "model-00001-of-00003.safetensors", "k1": "model-00001-of-00003.safetensors",
        "k2": "model-00002-of-00003.safetensors", "k3": "model-00002-of-00003.safetensors", "k4": "model-00003-of-00003.safetensors"}}
    assert_same(read_state_dict(tmp_path), state)
    (tmp_path / "notes.txt").write_text("kept")
    write_state_dict(tmp_path, state)  # now unsharded: the shards and index go
    assert sorted(p.name for p in tmp_path.iterdir()) == [WEIGHTS_NAME, "notes.txt"]
    write_state_dict(tmp_path, state, max_shard_size=150)  # sharded again: model.safetensors goes
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", WEIGHTS_INDEX_NAME, "notes.txt"]
    with pytest.raises(ValueError, match="max_shard_size"):
        write_state_dict(tmp_path, state, max_shard_size=0)


def test_metadata_has_format(tmp_path):
    from safetensors import safe_open

    write_state_dict(tmp_path, {"a": np.zeros(2, np.float32)}, metadata={"note": "x"})
    with safe_open(tmp_path / WEIGHTS_NAME, framework="numpy") as handle:
        assert handle.metadata() == {"format": "pt", "note": "x"}


def test_failed_write_leaves_old_files_and_no_temp(tmp_path, monkeypatch):
    config = tiny_config()
    old = random_state_dict(config, "ElectraForMaskedLM", seed=1)
    write_pretrained(tmp_path, config, old, "ElectraForMaskedLM")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_pretrained(tmp_path, config, random_state_dict(config, "ElectraForMaskedLM", seed=2), "ElectraForMaskedLM")
    with pytest.raises(OSError, match="disk full"):
        write_state_dict(tmp_path, old, max_shard_size=2_000)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ----------------------------------------------------------------------------- damaged files
def hf_like_files(tmp_path) -> dict[str, os.PathLike]:
    """One small valid file of every kind we read."""
    torch = pytest.importorskip("torch")
    import h5py
    from flax.serialization import msgpack_serialize

    state = {"electra.embeddings.LayerNorm.weight": np.ones(4, np.float32), "electra.embeddings.LayerNorm.bias": np.zeros(4, np.float32)}
    write_state_dict(tmp_path / "st", state)
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "pytorch_model.bin")
    tree = {"electra": {"embeddings": {"LayerNorm": {"scale": np.ones(4, np.float32), "bias": np.zeros(4, np.float32)}}}}
    (tmp_path / "flax_model.msgpack").write_bytes(msgpack_serialize(tree))
    with h5py.File(tmp_path / "tf_model.h5", "w") as handle:  # Keras 2's layout, as HF's TF models save it
        handle.attrs["layer_names"] = [b"electra", b"qa_outputs"]
        handle["electra/m/electra/embeddings/LayerNorm/gamma:0"] = np.ones(4, np.float32)
        handle["electra"].attrs["weight_names"] = [b"m/electra/embeddings/LayerNorm/gamma:0"]
        handle["qa_outputs/m/qa_outputs/bias:0"] = np.zeros(2, np.float32)
        handle["qa_outputs"].attrs["weight_names"] = [b"m/qa_outputs/bias:0"]
    for name in ("pytorch_model.bin", "flax_model.msgpack", "tf_model.h5"):
        assert read_state_dict(tmp_path / name)["electra.embeddings.LayerNorm.weight"].shape == (4,)
    return {"safetensors": tmp_path / "st" / WEIGHTS_NAME, "bin": tmp_path / "pytorch_model.bin",
            "msgpack": tmp_path / "flax_model.msgpack", "h5": tmp_path / "tf_model.h5"}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_files_raise_checkpoint_error_naming_the_file(tmp_path, damage):
    for kind, path in hf_like_files(tmp_path).items():
        data = path.read_bytes()
        damaged = {"garbage": b"\x93NUMPY not a checkpoint at all" * 7, "truncated": data[: len(data) // 2], "empty": b""}[damage]
        path.write_bytes(damaged)
        with pytest.raises(CheckpointError, match=str(path.name)) as info:
            read_state_dict(path)
        assert str(path) in str(info.value), kind


def safetensors_bytes(header: bytes, data: bytes = b"") -> bytes:
    return len(header).to_bytes(8, "little") + header + data


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff" * 8, "invalid safetensors header size"),
        (safetensors_bytes(b"[1, 2]"), "not a JSON object"),
        (safetensors_bytes(b"{not json"), "invalid safetensors header"),
        (safetensors_bytes(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', bytes(8)), r"w: data offsets \[0, 16\] do not fit"),
        (safetensors_bytes(b'{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}', bytes(16)), r"w: data offsets \[0, 16\] do not fit"),
        (safetensors_bytes(b'{"w":{"dtype":"Q99","shape":[1],"data_offsets":[0,4]}}', bytes(4)), "w: invalid header entry"),
        (safetensors_bytes(b'{"w":{"dtype":"F32","data_offsets":[0,4]}}', bytes(4)), "w: invalid header entry"),
    ],
)
def test_wrong_safetensors_headers(tmp_path, content, message):
    path = tmp_path / WEIGHTS_NAME
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        read_state_dict(tmp_path)
    assert str(path) in str(info.value)


def test_missing_checkpoint_lists_what_was_looked_for(tmp_path):
    with pytest.raises(CheckpointError, match="model.safetensors, model.safetensors.index.json, pytorch_model.bin.*tf_model.h5"):
        read_state_dict(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_state_dict(tmp_path / "absent.safetensors")
    (tmp_path / "weights.npz").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="weights.npz: unknown checkpoint format"):
        read_state_dict(tmp_path / "weights.npz")


# ----------------------------------------------------------------------------- shard indexes
def write_index(directory, weight_map) -> None:
    (directory / WEIGHTS_INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def test_shard_paths_leaving_the_directory_are_refused(tmp_path):
    outside = tmp_path / "outside"
    write_state_dict(outside, {"a": np.zeros(2, np.float32)})
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "link.safetensors").symlink_to(outside / WEIGHTS_NAME)
    for name in (str(outside / WEIGHTS_NAME), "../outside/model.safetensors", "link.safetensors", ""):
        write_index(ckpt, {"a": name})
        with pytest.raises(CheckpointError, match="shard path .* (leaves|is not a file name inside) the checkpoint directory"):
            read_state_dict(ckpt)


def test_index_inconsistencies(tmp_path):
    write_state_dict(tmp_path, {"a": np.zeros(2, np.float32), "b": np.ones(2, np.float32)}, max_shard_size=8)
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    write_index(tmp_path, {**shards, "c": "model-00009-of-00009.safetensors"})
    with pytest.raises(CheckpointError, match="model-00009-of-00009.safetensors is missing"):
        read_state_dict(tmp_path)
    write_index(tmp_path, {"a": shards["b"], "b": shards["b"]})
    with pytest.raises(CheckpointError, match="model-00001-of-00002.safetensors' is not listed|in no shard: a"):
        read_state_dict(tmp_path)
    write_index(tmp_path, {"a": shards["b"], "b": shards["a"]})
    with pytest.raises(CheckpointError, match="model-00001-of-00002.safetensors: holds 'a', which the index places in 'model-00002"):
        read_state_dict(tmp_path)
    write_state_dict(tmp_path / "dup", {"a": np.zeros(2, np.float32), "b": np.ones(2, np.float32)})
    os.replace(tmp_path / "dup" / WEIGHTS_NAME, tmp_path / shards["b"])  # shard 2 now holds "a" too
    write_index(tmp_path, shards)
    with pytest.raises(CheckpointError, match="'a' is in two shards"):
        read_state_dict(tmp_path)


# ----------------------------------------------------------------------------- matching
@pytest.fixture
def mlm():
    config = tiny_config()
    return config, random_state_dict(config, "ElectraForMaskedLM", seed=4)


def test_match_prefix_resolution_and_ignored_buffers():
    config = tiny_config()
    bare = random_state_dict(config, "ElectraModel")
    full, new, unused = match_state_dict({**bare, "embeddings.position_ids": np.arange(64)}, config, "ElectraForTokenClassification")
    assert sorted(full) == sorted("electra." + k for k in bare) and new == ["classifier.bias", "classifier.weight"] and unused == []
    head = random_state_dict(config, "ElectraForQuestionAnswering")
    full, new, unused = match_state_dict({**head, "electra.embeddings.position_ids": np.arange(64)}, config, "ElectraModel")
    assert_same(full, bare | {k.removeprefix("electra."): v for k, v in head.items() if k.startswith("electra.")})
    assert (new, unused) == ([], ["qa_outputs.bias", "qa_outputs.weight"])


def test_match_tied_key_absent_or_equal(mlm):
    config, state = mlm
    absent = {k: v for k, v in state.items() if k != TIED}
    full, new, unused = match_state_dict(absent, config, "ElectraForMaskedLM")
    assert full[TIED] is full[WORD] and (new, unused) == ([], [])
    assert_same(match_state_dict(state, config, "ElectraForCausalLM")[0], state)
    untied = config.replace(tie_word_embeddings=False)
    with pytest.raises(CheckpointError, match="partial ElectraForMaskedLM head, missing generator_lm_head.weight"):
        match_state_dict(absent, untied, "ElectraForMaskedLM")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("electra.encoder.layer.1.output.dense.bias"),
         r"f.bin: missing key\(s\) for ElectraForMaskedLM: electra.encoder.layer.1.output.dense.bias"),
        (lambda s: s.update({"electra.pooler.dense.weight": np.zeros(2, np.float32)}),
         r"f.bin: unexpected key\(s\) for ElectraForMaskedLM: electra.pooler.dense.weight"),
        (lambda s: s.update({"electra.embeddings.LayerNorm.bias": np.zeros(23, np.float32)}),
         r"f.bin: electra.embeddings.LayerNorm.bias has shape \(23,\) in the checkpoint but \(24,\) in ElectraForMaskedLM with this config"),
        (lambda s: s.pop("generator_predictions.LayerNorm.bias"), "partial ElectraForMaskedLM head, missing generator_predictions.LayerNorm.bias"),
        (lambda s: s.update({TIED: s[TIED] + 1}), "generator_lm_head.weight is tied to electra.embeddings.word_embeddings.weight but holds different values"),
        (lambda s: s.update({"generator_lm_head.bias": np.zeros(99, np.int32)}), "generator_lm_head.bias has dtype int32"),
        (lambda s: s.update({"generator_lm_head.bias": np.full(99, np.nan, np.float32)}), "generator_lm_head.bias holds NaN"),
    ],
)
def test_match_errors_name_file_and_key(mlm, change, message):
    config, state = mlm
    state = dict(state)
    change(state)
    with pytest.raises(CheckpointError, match=message):
        match_state_dict(state, config, "ElectraForMaskedLM", source="f.bin")


def test_match_lists_first_missing_keys_and_count():
    config = tiny_config()
    with pytest.raises(CheckpointError, match=r"\(and \d+ more, \d+ in all\)"):
        match_state_dict({}, config, "ElectraModel")


def test_save_refuses_incomplete_state(tmp_path, mlm):
    config, state = mlm
    headless = {k: v for k, v in state.items() if k.startswith("electra.")}
    with pytest.raises(CheckpointError, match="state to save: not a complete ElectraForMaskedLM state"):
        write_pretrained(tmp_path, config, headless, "ElectraForMaskedLM")
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- every format, bad input
NEW_FORMATS = {"pytorch": "pytorch_model", "tf": "tf_model", "flax": "flax_model"}
# The library each format is written with: torch is absent from the framework-free environment.
FORMAT_LIBRARIES = {"safetensors": "safetensors", "pytorch": "torch", "tf": "h5py", "flax": "msgpack"}


def needs(*formats: str) -> None:
    for fmt in formats:
        pytest.importorskip(FORMAT_LIBRARIES[fmt], reason=f"the {fmt} format is written with {FORMAT_LIBRARIES[fmt]}")


def test_unknown_format_and_bad_shard_sizes_write_nothing(tmp_path, mlm):
    config, state = mlm
    with pytest.raises(ValueError, match=r"unknown format 'onnx'; expected one of \['safetensors', 'pytorch', 'tf', 'flax'\]"):
        write_pretrained(tmp_path, config, state, "ElectraForMaskedLM", format="onnx")
    for size in (0, -5, True, "5 parsecs", "GB", "1.5GB", "0KB", 2.5):
        with pytest.raises(ValueError, match="max_shard_size"):
            write_pretrained(tmp_path, config, state, "ElectraForMaskedLM", max_shard_size=size)
    assert not any(tmp_path.iterdir())


def test_parse_shard_size_as_hf():
    assert [parse_shard_size(s) for s in ("5GB", "500MB", "20KB", "2GiB", "3mib", "1KiB", "8Gb", "8kb", 123)] == [
        5 * 10**9, 500 * 10**6, 20_000, 2 * 2**30, 3 * 2**20, 1024, 10**9, 1000, 123]


@pytest.mark.parametrize("fmt", NEW_FORMATS)
@pytest.mark.parametrize("shard", [None, 20_000])
def test_truncated_file_of_each_format_names_it(tmp_path, mlm, fmt, shard):
    needs(fmt)
    config, state = mlm
    written = write_pretrained(tmp_path, config, state, "ElectraForMaskedLM", format=fmt, max_shard_size=shard)
    if shard:
        assert written[-2].name == f"{written[0].name.split('-')[0]}.{written[0].suffix[1:]}.index.json"
    victim = written[0]
    assert victim.name.startswith(NEW_FORMATS[fmt])
    full = victim.read_bytes()
    victim.write_bytes(full[: len(full) // 2])
    with pytest.raises(CheckpointError, match=victim.name) as info:
        read_state_dict(tmp_path)
    assert str(victim) in str(info.value)


@pytest.mark.parametrize("fmt", ["safetensors", *NEW_FORMATS])
def test_saving_another_format_removes_the_earlier_weights(tmp_path, mlm, fmt):
    needs(fmt, "flax", "tf")
    config, state = mlm
    write_pretrained(tmp_path, config, state, "ElectraForMaskedLM", format="safetensors", max_shard_size=20_000)
    write_pretrained(tmp_path, config, state, "ElectraForMaskedLM", format="flax" if fmt != "flax" else "tf")
    (tmp_path / "notes.txt").write_text("kept")
    written = write_pretrained(tmp_path, config, state, "ElectraForMaskedLM", format=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([written[0].name, "config.json", "notes.txt"])
    assert_same(match_state_dict(read_state_dict(tmp_path), config, "ElectraForMaskedLM")[0], state)


# ----------------------------------------------------------------------------- Google TF1 checkpoints
def test_load_pretrained_google_checkpoints_need_network(tmp_path, mlm, monkeypatch):
    from electra.common.weights import google

    config, state = mlm
    tf1 = tmp_path / "tf1"
    tf1.mkdir()
    (tf1 / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-10"\n')
    (tf1 / "model.ckpt-10.index").write_bytes(b"")
    calls = []

    def fake_load(path, network, given=None):
        calls.append((path, network, given))
        return config, {k: v for k, v in state.items() if k != TIED}

    monkeypatch.setattr(google, "load_google_checkpoint", fake_load)
    with pytest.raises(ValueError, match="is a Google TF1 checkpoint, which holds two networks: pass network='discriminator'"):
        load_pretrained(tf1, "ElectraForMaskedLM")
    loaded, matched, new, unused = load_pretrained(tf1, "ElectraForMaskedLM", network="generator", output_hidden_states=True)
    assert calls == [(tf1, "generator", None)] and (new, unused) == ([], []) and loaded.output_hidden_states
    assert_same(matched, state)
    write_pretrained(tmp_path / "hf", config, state, "ElectraForMaskedLM")
    with pytest.raises(ValueError, match=r"network='generator' picks a network of a Google TF1 checkpoint, but .*hf is not one"):
        load_pretrained(tmp_path / "hf", "ElectraForMaskedLM", network="generator")


def test_load_pretrained_from_a_weights_file_with_config_beside(tmp_path, mlm):
    config, state = mlm
    write_pretrained(tmp_path, config, state, "ElectraForMaskedLM", format="tf", max_shard_size=20_000)
    loaded, matched, new, unused = load_pretrained(tmp_path / "tf_model.h5.index.json", "ElectraModel", vocab_size=config.vocab_size)
    assert loaded == config.replace(extra={"architectures": ["ElectraForMaskedLM"]}) and new == []
    assert unused == sorted(k for k in state if not k.startswith("electra.") and k != TIED)
    assert_same(matched, {k.removeprefix("electra."): v for k, v in state.items() if k.startswith("electra.")})
    smaller = config.replace(vocab_size=98)
    with pytest.raises(CheckpointError, match=r"electra.embeddings.word_embeddings.weight has shape \(99, 24\) in the checkpoint but \(98, 24\) "
                                              r"in ElectraForMaskedLM with this config \(mismatched: electra.embeddings.word_embeddings.weight, "
                                              r"generator_lm_head.bias\); pass ignore_mismatched_sizes=True"):
        load_pretrained(tmp_path, "ElectraForMaskedLM", smaller)
    _, matched, new, unused = load_pretrained(tmp_path, "ElectraForMaskedLM", smaller, ignore_mismatched_sizes=True)
    assert new == [WORD, "generator_lm_head.bias", TIED] and unused == []  # the tied head follows its table
    assert_same(matched, {k: v for k, v in state.items() if k not in new})
