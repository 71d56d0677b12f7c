"""Cross-backend parity: the same canonical weights in `electra.tf` and `electra.pt` give
the same logits, hidden states, attentions, caches and losses within 1e-5 for every class
and option (absolute / relative_key / relative_key_query, head mask, padding masks with
zeros anywhere, decoder with cross-attention and cache), and one training step (dropout
off) gives the same loss and gradients within 1e-4.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

torch = pytest.importorskip("torch")

import electra.pt as ept  # noqa: E402
import electra.tf as etf  # noqa: E402
from conftest import tiny_config  # noqa: E402
from electra.common.weights.names import ARCHITECTURES, tied_keys  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

ATOL = 1e-5
B, L, C = 2, 7, 3
RNG = np.random.default_rng(0)
IDS = RNG.integers(1, 99, size=(B, L)).astype(np.int32)
MASK = np.array([[0, 1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]], np.int32)  # zeros first, inside and last
TYPES = RNG.integers(0, 3, size=(B, L)).astype(np.int32)
HEAD_MASK = np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]], np.float32)
VARIANTS = {
    "absolute": dict(),
    "relative_key": dict(position_embedding_type="relative_key"),
    "relative_key_query": dict(position_embedding_type="relative_key_query"),
}


def config_for(architecture: str, variant: str, **changes):
    changes = dict(VARIANTS[variant], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, summary_last_dropout=0.0, **changes)
    if architecture == "ElectraForCausalLM":
        changes.update(is_decoder=True)
    return tiny_config(**changes)


def inputs_for(architecture: str) -> dict[str, np.ndarray]:
    if architecture == "ElectraForMultipleChoice":
        rep = lambda x: np.repeat(x[:, None], C, axis=1)  # noqa: E731
        ids = (rep(IDS) + 7 * np.arange(C)[None, :, None]) % 98 + 1  # (B, C, L), the choices differ
        return dict(input_ids=ids.astype(np.int32), attention_mask=rep(MASK), token_type_ids=rep(TYPES))
    return dict(input_ids=IDS, attention_mask=MASK, token_type_ids=TYPES)


def labels_for(architecture: str) -> dict[str, np.ndarray]:
    r = np.random.default_rng(1)
    return {
        "ElectraModel": {},
        "ElectraForPreTraining": {"labels": r.integers(0, 2, size=(B, L)).astype(np.int32)},
        "ElectraForMaskedLM": {"labels": np.where(r.random((B, L)) < 0.5, r.integers(0, 99, size=(B, L)), -100).astype(np.int32)},
        "ElectraForCausalLM": {"labels": IDS},
        "ElectraForSequenceClassification": {"labels": r.integers(0, 3, size=(B,)).astype(np.int32)},
        "ElectraForMultipleChoice": {"labels": r.integers(0, C, size=(B,)).astype(np.int32)},
        "ElectraForTokenClassification": {"labels": np.where(MASK == 1, r.integers(0, 3, size=(B, L)), -100).astype(np.int32)},
        "ElectraForQuestionAnswering": {"start_positions": np.array([1, L], np.int32), "end_positions": np.array([3, 0], np.int32)},
    }[architecture]


def models(architecture, config, seed):
    state = random_state_dict(config, architecture, seed=seed)
    pt = getattr(ept, architecture)(config)
    pt.load_canonical_state_dict(state)
    ours = getattr(etf, architecture)(config)
    ours.load_canonical_state_dict(state)
    return ours, pt.eval()


def to_torch(x):
    x = np.asarray(x)
    return torch.from_numpy(x if x.dtype.kind == "f" else x.astype(np.int64))


def compare(ours, theirs, name: str, atol: float = ATOL) -> None:
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs), name
        for i, (a, b) in enumerate(zip(ours, theirs)):
            compare(a, b, f"{name}[{i}]", atol)
        return
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(np.asarray(ours), theirs, atol=atol, rtol=0, err_msg=name)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_matches_pt(architecture, variant):
    ours_model, pt = models(architecture, config_for(architecture, variant), seed=3)
    inputs, labels = inputs_for(architecture), labels_for(architecture)
    head_mask = HEAD_MASK if variant != "relative_key" else None
    ours = ours_model(**inputs, **labels, head_mask=head_mask, output_attentions=True, output_hidden_states=True)
    with torch.no_grad():
        theirs = pt(**{k: to_torch(v) for k, v in {**inputs, **labels}.items()},
                    head_mask=None if head_mask is None else to_torch(head_mask), output_attentions=True, output_hidden_states=True)
    assert ours.keys() == theirs.keys()
    for key in theirs.keys():
        compare(getattr(ours, key), getattr(theirs, key), key)


def test_sequence_classification_problem_types_and_classifier_dropout_match_pt():
    for problem_type, num_labels, labels in (
        ("regression", 1, np.array([0.5, -1.0], np.float32)),
        ("multi_label_classification", 3, np.array([[1, 0, 1], [0, 0, 1]], np.float32)),
        ("single_label_classification", 3, np.array([2, 0], np.int32)),
    ):
        config = config_for("ElectraForSequenceClassification", "absolute", problem_type=problem_type, classifier_dropout=0.3).replace(num_labels=num_labels)
        ours_model, pt = models("ElectraForSequenceClassification", config, seed=4)
        ours = ours_model(IDS, attention_mask=MASK, labels=labels)
        with torch.no_grad():
            theirs = pt(to_torch(IDS), attention_mask=to_torch(MASK), labels=to_torch(labels))
        compare(ours.loss, theirs.loss, problem_type)
        compare(ours.logits, theirs.logits, problem_type)


@pytest.mark.parametrize("variant", ["absolute", "relative_key_query"])
def test_decoder_cross_attention_and_cache_match_pt(variant):
    config = config_for("ElectraForCausalLM", variant, add_cross_attention=True)
    ours_model, pt = models("ElectraForCausalLM", config, seed=5)
    encoder = np.random.default_rng(2).normal(size=(B, 4, 32)).astype(np.float32)
    encoder_mask = np.array([[1, 0, 1, 1], [1, 1, 0, 0]], np.int32)
    kwargs = dict(encoder_hidden_states=encoder, encoder_attention_mask=encoder_mask)
    pt_kwargs = {k: to_torch(v) for k, v in kwargs.items()}
    ours = ours_model(IDS[:, :5], attention_mask=MASK[:, :5], **kwargs, head_mask=HEAD_MASK, output_attentions=True, output_hidden_states=True, use_cache=True)
    with torch.no_grad():
        theirs = pt(to_torch(IDS[:, :5]), attention_mask=to_torch(MASK[:, :5]), **pt_kwargs, head_mask=to_torch(HEAD_MASK),
                    output_attentions=True, output_hidden_states=True, use_cache=True)
    for key in ("logits", "hidden_states", "attentions", "cross_attentions", "past_key_values"):
        compare(getattr(ours, key), getattr(theirs, key), key)
    past, pt_past = ours.past_key_values, theirs.past_key_values
    for t in (5, 6):  # two cached steps on both sides
        ours = ours_model(IDS[:, t : t + 1], attention_mask=MASK[:, : t + 1], **kwargs, past_key_values=past)
        with torch.no_grad():
            theirs = pt(to_torch(IDS[:, t : t + 1]), attention_mask=to_torch(MASK[:, : t + 1]), **pt_kwargs, past_key_values=pt_past, use_cache=True)
        compare(ours.logits, theirs.logits, f"cached step {t} logits")
        past, pt_past = ours.past_key_values, theirs.past_key_values
    compare(past, pt_past, "final cache")


@pytest.mark.parametrize("architecture", ["ElectraForPreTraining", "ElectraForMaskedLM", "ElectraForMultipleChoice", "ElectraForQuestionAnswering"])
def test_training_step_gradients_match_pt(architecture):
    config = config_for(architecture, "relative_key_query")
    ours_model, pt = models(architecture, config, seed=6)
    inputs, labels = inputs_for(architecture), labels_for(architecture)
    variables = ours_model.canonical_variables()
    with tf.GradientTape() as tape:
        loss = ours_model(**inputs, **labels, training=True).loss
    grads = tape.gradient(loss, [v for v, _ in variables.values()])
    pt.train()  # dropout rates are 0: the same numbers as eval, with autograd
    pt_loss = pt(**{k: to_torch(v) for k, v in {**inputs, **labels}.items()}).loss
    pt_loss.backward()
    compare(loss, pt_loss, "loss", atol=1e-5)
    theirs = {k: p.grad for k, p in pt.named_parameters() if k not in tied_keys(config, architecture)}
    assert set(variables) == set(theirs), set(variables) ^ set(theirs)
    for (key, (_, transposed)), grad in zip(variables.items(), grads):
        if grad is None:  # unused table (absolute positions in a relative model)
            assert theirs[key] is None, key
            continue
        grad = tf.convert_to_tensor(grad).numpy()  # IndexedSlices for embedding tables
        compare(grad.T if transposed else grad, theirs[key], f"grad {key}", atol=1e-4)
