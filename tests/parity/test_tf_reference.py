"""electra.tf against HF `transformers` 4.57 TensorFlow ELECTRA (`TFElectra*`).

HF's TF classes need tf-keras (Keras 2), which cannot share a process with our Keras 3,
so `tests/hf_reference.py` builds them in a subprocess: HF PyTorch models from seeded
weights, converted by HF to its TF classes, saved as `tf_model.h5`, and run on fixed
inputs. Ours loads that `tf_model.h5` and must give the same outputs within 1e-5. The
attention mask is non-null with padded keys (HF TF adds -10000 where we add float32 min:
the same probabilities while every query sees at least one key). HF TF has no causal LM
and no relative positions; those are covered against HF PyTorch and electra.pt.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

import electra.tf as etf
from conftest import tiny_config
from electra.common.weights.checkpoint import read_state_dict
from tests.hf_reference import save_hf_references

ATOL = 1e-5
B, L, C = 2, 9, 3
TF_CLASSES = ["ElectraModel", "ElectraForPreTraining", "ElectraForMaskedLM", "ElectraForSequenceClassification",
              "ElectraForTokenClassification", "ElectraForQuestionAnswering"]
FIELDS = ("logits", "start_logits", "end_logits", "last_hidden_state", "hidden_states", "attentions")


def inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones(shape, np.int32)
    mask[1, ..., -3:] = 0
    mask[0, ..., 2] = 0
    return {"input_ids": rng.integers(1, 99, shape).astype(np.int32), "attention_mask": mask,
            "token_type_ids": rng.integers(0, 3, shape).astype(np.int32)}


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    # Two labels: HF's question-answering head has num_labels outputs and splits them in two.
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).replace(num_labels=2)
    root = tmp_path_factory.mktemp("hf_tf")
    paths = save_hf_references(root / "single", TF_CLASSES, config.to_dict(), seed=0, formats=("pt", "tf"), inputs=inputs((B, L)))
    paths.update(save_hf_references(root / "choice", ["ElectraForMultipleChoice"], config.to_dict(), seed=1, formats=("pt", "tf"),
                                    inputs=inputs((B, C, L), seed=1)))
    return paths


def outputs_of(out) -> dict[str, np.ndarray]:
    arrays = {}
    for name in FIELDS:
        value = getattr(out, name, None)
        if isinstance(value, tuple):
            arrays.update({f"{name}_{i}": np.asarray(v) for i, v in enumerate(value)})
        elif value is not None:
            arrays[name] = np.asarray(value)
    return arrays


@pytest.mark.parametrize("architecture", TF_CLASSES + ["ElectraForMultipleChoice"])
def test_tf_model_h5_loads_and_matches_hf_tf(architecture, references):
    paths = references[architecture]
    assert (paths["tf"] / "tf_model.h5").exists()
    model = getattr(etf, architecture).from_pretrained(paths["tf"])
    shape = (B, C, L) if architecture == "ElectraForMultipleChoice" else (B, L)
    out = model(**inputs(shape, seed=int(architecture == "ElectraForMultipleChoice")), output_hidden_states=True, output_attentions=True)
    ours = outputs_of(out)
    theirs = dict(np.load(paths["outputs_tf"]))
    expected = {k: theirs[k] for k in ours}  # every field we return, HF TF returned too
    assert len(expected) >= 2 * 2 + 1
    for key, value in expected.items():
        np.testing.assert_allclose(ours[key], value, atol=ATOL, rtol=0, err_msg=key)
    # The h5 and the PyTorch file hold the same weights once mapped to canonical names.
    h5, pt = read_state_dict(paths["tf"]), read_state_dict(paths["pt"])
    for key, value in h5.items():
        np.testing.assert_allclose(value, pt[key], atol=0, err_msg=key)
    # And HF TF agrees with HF PyTorch on the same inputs (the reference is consistent).
    np.testing.assert_allclose(np.load(paths["outputs_pt"])[next(iter(ours))], expected[next(iter(ours))], atol=ATOL)
