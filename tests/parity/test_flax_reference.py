"""electra.flax against HF `transformers` 4.57 Flax ELECTRA (`FlaxElectra*`).

HF builds each class from seeded canonical weights (in a subprocess, `tests/hf_reference.py`),
converts it to its Flax class and saves `flax_model.msgpack`; ours loads that file with
`from_pretrained` and must give HF Flax's logits, hidden states and attentions within 1e-5.
`token_type_ids` are passed explicitly, since HF's Flax classes default them to ones.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

import electra.flax as ef
from conftest import tiny_config
from electra.common.weights.random import random_state_dict
from tests.hf_reference import save_hf_references

ATOL = 1e-5
B, L, C = 2, 9, 3
ENCODERS = ["ElectraModel", "ElectraForPreTraining", "ElectraForMaskedLM", "ElectraForSequenceClassification",
            "ElectraForTokenClassification", "ElectraForQuestionAnswering"]
# (architectures, config changes, input shape): one HF subprocess per group.
GROUPS = {
    # HF's question-answering head has num_labels outputs and splits them in two: 2 labels.
    "encoders": (ENCODERS, {"id2label": {0: "a", 1: "b"}}, (B, L)),
    "choices": (["ElectraForMultipleChoice"], {}, (B, C, L)),
    "decoder": (["ElectraForCausalLM"], {"is_decoder": True}, (B, L)),
}


def group_inputs(shape) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    mask = np.ones(shape, np.int32)
    mask[1, ..., -3:] = 0
    return {
        "input_ids": rng.integers(1, 99, shape).astype(np.int32),
        "attention_mask": mask,
        "token_type_ids": rng.integers(0, 3, shape).astype(np.int32),
    }


@pytest.fixture(scope="module", params=list(GROUPS))
def reference(request, tmp_path_factory):
    architectures, changes, shape = GROUPS[request.param]
    config = tiny_config(**changes)
    states = {a: random_state_dict(config, a, seed=11) for a in architectures}
    inputs = group_inputs(shape)
    paths = save_hf_references(tmp_path_factory.mktemp(request.param), architectures, config.to_dict(),
                               formats=("pt", "flax"), states=states, inputs=inputs)
    return architectures, config, inputs, paths


FIELDS = ("last_hidden_state", "logits", "start_logits", "end_logits")


def test_hf_flax_msgpack_loads_and_gives_hf_flax_outputs(reference):
    architectures, config, inputs, paths = reference
    for architecture in architectures:
        folder = paths[architecture]["flax"]
        assert (folder / "flax_model.msgpack").exists() and not (folder / "model.safetensors").exists()
        model = ef.MODEL_CLASSES[architecture].from_pretrained(folder)
        ours = model(**inputs, output_hidden_states=True, output_attentions=True)
        for framework in ("flax", "pt"):
            theirs = dict(np.load(paths[architecture][f"outputs_{framework}"]))
            compared = 0
            for name, expected in theirs.items():
                field, _, index = name.rpartition("_") if name[-1].isdigit() else (name, "", "")
                if field in ("hidden_states", "attentions"):
                    value = getattr(ours, field)[int(index)]
                elif name in FIELDS:
                    value = getattr(ours, name)
                else:
                    continue
                np.testing.assert_allclose(np.asarray(value), expected, atol=ATOL, rtol=0,
                                           err_msg=f"{architecture} {name} vs HF {framework}")
                compared += 1
            n_layers = config.num_hidden_layers
            assert compared >= 1 + 2 * n_layers + 1, f"{architecture}: only {compared} arrays compared with HF {framework}"


def test_hf_state_and_ours_agree_key_for_key(reference):
    architectures, config, _inputs, paths = reference
    for architecture in architectures:
        model = ef.MODEL_CLASSES[architecture].from_pretrained(paths[architecture]["flax"])
        ours = model.canonical_state_dict()
        hf = {k: v for k, v in np.load(paths[architecture]["state"]).items() if not k.endswith("position_ids")}
        assert set(ours) == set(hf), set(ours) ^ set(hf)
        for key, value in hf.items():
            np.testing.assert_allclose(ours[key], value, atol=1e-7, rtol=0, err_msg=f"{architecture} {key}")
