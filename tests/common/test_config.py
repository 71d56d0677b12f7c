"""ElectraConfig: HF 4.57's fields and defaults, config.json both ways, every validation error."""

from __future__ import annotations

import dataclasses
import json

import pytest
import transformers

from electra.common.config import ElectraConfig
from tests.conftest import tiny_config

# docs/reference.md section 1, with HF's names: the values every field must default to.
HF_DEFAULTS = dict(
    vocab_size=30522, embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
    intermediate_size=1024, hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
    summary_type="first", summary_use_proj=True, summary_activation="gelu", summary_last_dropout=0.1,
    pad_token_id=0, position_embedding_type="absolute", use_cache=True, classifier_dropout=None,
    tie_word_embeddings=True, is_decoder=False, add_cross_attention=False, problem_type=None,
)


def test_defaults_equal_hf():
    ours, hf = ElectraConfig(), transformers.ElectraConfig()
    for name, value in HF_DEFAULTS.items():
        assert getattr(ours, name) == getattr(hf, name) == value, name
    assert ours.num_labels == hf.num_labels == 2 and ours.id2label == hf.id2label == {0: "LABEL_0", 1: "LABEL_1"}
    fields = {f.name for f in dataclasses.fields(ElectraConfig)} - {"extra"}
    assert fields == set(HF_DEFAULTS) | {"id2label"}


def test_hf_reads_what_we_write(tmp_path):
    ours = tiny_config(position_embedding_type="relative_key", classifier_dropout=0.2, is_decoder=True,
                       add_cross_attention=True, problem_type="multi_label_classification",
                       extra={"architectures": ["ElectraForPreTraining"], "custom_key": [1, 2]})
    path = ours.save_pretrained(tmp_path)
    assert path == tmp_path / "config.json" and [p.name for p in tmp_path.iterdir()] == ["config.json"]
    hf = transformers.ElectraConfig.from_pretrained(tmp_path)
    for name in HF_DEFAULTS:
        assert getattr(hf, name) == getattr(ours, name), name
    assert hf.id2label == ours.id2label and hf.label2id == {"a": 0, "b": 1, "c": 2}
    assert hf.architectures == ["ElectraForPreTraining"] and hf.custom_key == [1, 2]


def test_we_read_what_hf_writes_and_keep_unknown_keys(tmp_path):
    hf = transformers.ElectraConfig(vocab_size=99, embedding_size=24, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=37, hidden_act="gelu_new",
                                    num_labels=3, summary_type="mean", layer_norm_eps=1e-7,
                                    architectures=["ElectraForMaskedLM"], my_setting={"a": 1})
    hf.save_pretrained(tmp_path / "hf")
    written = json.loads((tmp_path / "hf" / "config.json").read_text())
    ours = ElectraConfig.from_pretrained(tmp_path / "hf")
    for name in HF_DEFAULTS:
        assert getattr(ours, name) == getattr(hf, name), name
    assert ours.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert ours.extra["transformers_version"] == written["transformers_version"]
    assert ours.extra["my_setting"] == {"a": 1} and ours.extra["architectures"] == ["ElectraForMaskedLM"]
    # Written back: every key HF wrote survives with its value.
    ours.save_pretrained(tmp_path / "ours")
    again = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert {key: again[key] for key in written} == written
    assert ElectraConfig.from_pretrained(tmp_path / "ours" / "config.json") == ours


def test_dict_round_trip_and_num_labels():
    config = tiny_config(extra={"torch_dtype": "float32"})
    assert ElectraConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["model_type"] == "electra" and config.to_dict()["label2id"] == {"a": 0, "b": 1, "c": 2}
    assert ElectraConfig.from_dict({"num_labels": 4}).id2label == {i: f"LABEL_{i}" for i in range(4)}
    assert ElectraConfig.from_dict({"layer_norm_eps": 1}).layer_norm_eps == 1.0
    assert tiny_config().replace(num_labels=5).num_labels == 5


@pytest.mark.parametrize("changes, message", [
    (dict(vocab_size=0), "vocab_size must be a positive int, got 0"),
    (dict(hidden_size=32.0), "hidden_size must be a positive int, got 32.0"),
    (dict(num_hidden_layers=True), "num_hidden_layers must be a positive int, got True"),
    (dict(embedding_size=-1), "embedding_size must be a positive int"),
    (dict(num_attention_heads=0), "num_attention_heads must be a positive int"),
    (dict(intermediate_size=0), "intermediate_size must be a positive int"),
    (dict(max_position_embeddings=0), "max_position_embeddings must be a positive int"),
    (dict(type_vocab_size=0), "type_vocab_size must be a positive int"),
    (dict(num_attention_heads=5), r"hidden_size \(32\) must be divisible by num_attention_heads \(5\)"),
    (dict(hidden_act="mish"), r"hidden_act must be one of \[.*'gelu'.*\], got 'mish'"),
    (dict(position_embedding_type="rotary"), "position_embedding_type must be one of"),
    (dict(summary_type="max"), "summary_type must be one of"),
    (dict(summary_activation="mish"), "summary_activation must be one of"),
    (dict(problem_type="ranking"), "problem_type must be one of"),
    (dict(hidden_dropout_prob=1.0), r"hidden_dropout_prob must be a number in \[0, 1\), got 1.0"),
    (dict(attention_probs_dropout_prob=-0.1), "attention_probs_dropout_prob must be a number in"),
    (dict(summary_last_dropout="0.1"), "summary_last_dropout must be a number in"),
    (dict(classifier_dropout=1.5), "classifier_dropout must be a number in"),
    (dict(layer_norm_eps=0.0), "layer_norm_eps must be a positive finite number"),
    (dict(initializer_range=float("inf")), "initializer_range must be a positive finite number"),
    (dict(pad_token_id=99), r"pad_token_id must be an int in \[0, vocab_size=99\), got 99"),
    (dict(use_cache=1), "use_cache must be a bool, got 1"),
    (dict(add_cross_attention=True), "add_cross_attention=True requires is_decoder=True"),
    (dict(id2label={}), "id2label must name at least one label"),
    (dict(id2label={0: "a", 2: "b"}), r"id2label keys must be 0..num_labels-1, got \[0, 2\]"),
    (dict(hidden_size=76800, num_attention_heads=4, intermediate_size=307200),
     r"sizes need .* GiB of float32 parameters .*hidden_size=76800.* over the bound of 64 GiB"),
], ids=lambda value: str(value)[:40])
def test_validation_errors(changes, message):
    with pytest.raises(ValueError, match=r"ElectraConfig\..*" + message if "sizes need" not in message else message):
        tiny_config(**changes)


@pytest.mark.parametrize("text, message", [
    ("{not json", r"config.json: not valid JSON"),
    ("[1, 2]", r"config.json: expected a JSON object, got list"),
    ('{"hidden_size": "256"}', r"config.json: ElectraConfig.hidden_size must be a positive int, got '256'"),
    ('{"hidden_act": ["gelu"]}', r"config.json: ElectraConfig.hidden_act must be one of"),
    ('{"use_cache": "yes"}', r"config.json: ElectraConfig.use_cache must be a bool"),
    ('{"hidden_dropout_prob": null}', r"config.json: ElectraConfig.hidden_dropout_prob must be a number"),
    ('{"id2label": ["a", "b"]}', r"config.json: id2label must map integer ids to names"),
    ('{"id2label": {"x": "a"}}', r"config.json: id2label must map integer ids to names"),
    ('{"num_labels": 0}', r"config.json: num_labels must be a positive int, got 0"),
    ('{"model_type": "bert"}', r"config.json: model_type is 'bert', expected 'electra'"),
    ('{"vocab_size": {"a": 1}}', r"config.json: .*vocab_size"),
])
def test_bad_config_files_name_the_file(tmp_path, text, message):
    (tmp_path / "config.json").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=str(tmp_path).replace("\\", "\\\\") + "/" + message):
        ElectraConfig.from_pretrained(tmp_path)


def test_unreadable_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no config file at {tmp_path}/config.json"):
        ElectraConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_bytes(b'{"vocab_size": "\xff"}')
    with pytest.raises(ValueError, match=f"{tmp_path}/config.json: not UTF-8 text"):
        ElectraConfig.from_pretrained(tmp_path / "config.json")


# ----------------------------------------------------------------- HF's label and runtime attributes
@pytest.mark.parametrize("kwargs", [
    dict(num_labels=3),
    dict(label2id={"neg": 0, "pos": 1}, id2label={0: "neg", 1: "pos"}),
    dict(num_labels=2, id2label={0: "neg", 1: "pos"}),
    dict(id2label={"0": "x", "1": "y", "2": "z"}),
], ids=str)
def test_label_constructor_arguments_as_hf(kwargs):
    ours, hf = ElectraConfig(**kwargs), transformers.ElectraConfig(**kwargs)
    assert ours.id2label == hf.id2label and ours.num_labels == hf.num_labels
    # HF leaves label2id None when only id2label is given; ours is always the inverse.
    assert ours.label2id == {label: i for i, label in hf.id2label.items()} and hf.label2id in (None, ours.label2id)


def test_label2id_alone_sets_id2label_to_its_inverse():
    # HF keeps label2id and id2label apart (here id2label would stay LABEL_0, LABEL_1); ours
    # keeps one map, so a label2id given alone names the labels.
    config = ElectraConfig(label2id={"pos": 1, "neg": 0})
    assert config.id2label == {0: "neg", 1: "pos"} and config.num_labels == 2
    with pytest.raises(ValueError, match="label2id must map names to the ids 0..num_labels-1"):
        ElectraConfig(label2id={"a": 0, "b": 2})
    with pytest.raises(ValueError, match="num_labels must be a positive int, got 0"):
        ElectraConfig(num_labels=0)


def test_labels_are_assignable_as_in_hf():
    ours, hf = tiny_config(), transformers.ElectraConfig(id2label={0: "a", 1: "b", 2: "c"})
    for config in (ours, hf):
        config.num_labels = 3  # the same count keeps the names
    assert ours.id2label == hf.id2label == {0: "a", 1: "b", 2: "c"}
    for config in (ours, hf):
        config.num_labels = 5  # a new count renames
    assert ours.id2label == hf.id2label and ours.label2id == hf.label2id and ours.num_labels == 5
    ours.id2label = {"0": "neg", "1": "pos"}
    assert ours.id2label == {0: "neg", 1: "pos"} and ours.label2id == {"neg": 0, "pos": 1} and ours.num_labels == 2
    ours.label2id = {"no": 1, "yes": 0}
    assert ours.id2label == {0: "yes", 1: "no"}
    assert json.loads(ours.to_json_string())["id2label"] == {"0": "yes", "1": "no"}
    assert ours.replace(label2id={"p": 0}).id2label == {0: "p"}


def test_hf_runtime_attributes():
    ours, hf = ElectraConfig(), transformers.ElectraConfig()
    for name in ("output_attentions", "output_hidden_states", "return_dict", "torchscript", "use_return_dict", "_commit_hash"):
        assert getattr(ours, name) == getattr(hf, name), name
    # Unset, none is written: config.json keeps exactly its keys.
    assert not {"output_attentions", "output_hidden_states", "return_dict", "torchscript"} & set(ours.to_dict())
    with pytest.raises(AttributeError, match="no attribute 'no_such_setting'"):
        ours.no_such_setting


def test_set_runtime_attributes_are_written_and_read_by_hf(tmp_path):
    ours = tiny_config()
    ours.return_dict = False
    ours.output_hidden_states = True
    assert ours.use_return_dict is False and ours.output_hidden_states is True
    ours.save_pretrained(tmp_path)
    hf = transformers.ElectraConfig.from_pretrained(tmp_path)
    assert hf.return_dict is False and hf.use_return_dict is False and hf.output_hidden_states is True
    again = ElectraConfig.from_pretrained(tmp_path)
    assert again == ours and again.use_return_dict is False
    ours.return_dict, ours.torchscript = True, True
    assert ours.use_return_dict is False  # as HF: torchscript forces tuples
