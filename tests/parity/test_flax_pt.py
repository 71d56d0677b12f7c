"""Cross-backend parity: the same canonical weights in `electra.flax` and `electra.pt`
(and `electra.tf` where it is importable) give the same logits, hidden states,
attentions and losses within 1e-5, for every class and option, and one training step
(dropout off) gives the same loss and gradients within 1e-4.
"""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import electra.flax as ef  # noqa: E402
import electra.pt as ept  # noqa: E402
from electra.common.weights.layouts import hf_flax_to_canonical  # noqa: E402
from electra.common.weights.names import ARCHITECTURES  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

try:  # tests/ on sys.path (rootdir conftest) or tests as a package
    from conftest import tiny_config
except ImportError:
    from tests.conftest import tiny_config

ATOL = 1e-5
B, L, C = 2, 7, 3
RNG = np.random.default_rng(0)
IDS = RNG.integers(1, 99, size=(B, L))
MASK = np.array([[1] * L, [1] * (L - 3) + [0] * 3])
TYPES = RNG.integers(0, 3, size=(B, L))
HEAD_MASK = np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]], np.float32)

CONFIGS = {
    "absolute": dict(),
    "relative_key": dict(position_embedding_type="relative_key"),
    "relative_key_query": dict(position_embedding_type="relative_key_query"),
}


def config_for(architecture: str, variant: str):
    changes = dict(CONFIGS[variant], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, summary_last_dropout=0.0)
    if architecture == "ElectraForCausalLM":
        changes.update(is_decoder=True)
    return tiny_config(**changes)


def inputs_for(architecture: str) -> dict[str, np.ndarray]:
    if architecture == "ElectraForMultipleChoice":
        rep = lambda x: np.repeat(x[:, None], C, axis=1)  # noqa: E731
        ids = (rep(IDS) + 7 * np.arange(C)[None, :, None]) % 98 + 1  # (B, C, L), the choices differ
        return dict(input_ids=ids, attention_mask=rep(MASK), token_type_ids=rep(TYPES))
    return dict(input_ids=IDS, attention_mask=MASK, token_type_ids=TYPES)


def labels_for(architecture: str) -> dict[str, np.ndarray]:
    r = np.random.default_rng(1)
    return {
        "ElectraModel": {},
        "ElectraForPreTraining": {"labels": r.integers(0, 2, size=(B, L))},
        "ElectraForMaskedLM": {"labels": np.where(r.random((B, L)) < 0.5, r.integers(0, 99, size=(B, L)), -100)},
        "ElectraForCausalLM": {"labels": IDS},
        "ElectraForSequenceClassification": {"labels": r.integers(0, 3, size=(B,))},
        "ElectraForMultipleChoice": {"labels": r.integers(0, C, size=(B,))},
        "ElectraForTokenClassification": {"labels": np.where(MASK == 1, r.integers(0, 3, size=(B, L)), -100)},
        "ElectraForQuestionAnswering": {"start_positions": np.array([1, L]), "end_positions": np.array([3, 0])},
    }[architecture]


def pt_model(architecture, config, state):
    model = getattr(ept, architecture)(config)
    model.load_canonical_state_dict(state)
    return model.eval()


def flax_model(architecture, config, state):
    model = ef.MODEL_CLASSES[architecture](config)
    model.load_canonical_state_dict(state)
    return model


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


@pytest.mark.parametrize("variant", list(CONFIGS))
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_forward_matches_pt(architecture, variant):
    config = config_for(architecture, variant)
    state = random_state_dict(config, architecture, seed=3)
    pt, fx = pt_model(architecture, config, state), flax_model(architecture, config, state)
    inputs = inputs_for(architecture)
    labels = labels_for(architecture)
    head_mask = HEAD_MASK if variant == "absolute" else None
    ours = fx(**inputs, **labels, head_mask=head_mask, output_attentions=True, output_hidden_states=True)
    with torch.no_grad():
        theirs = pt(**{k: to_torch(v) for k, v in {**inputs, **labels}.items()},
                    head_mask=None if head_mask is None else to_torch(head_mask),
                    output_attentions=True, output_hidden_states=True)
    assert ours.keys() == theirs.keys()
    for key in theirs.keys():
        if key == "past_key_values":
            continue
        compare(getattr(ours, key), getattr(theirs, key), key)


def test_sequence_classification_problem_types_match_pt():
    for problem_type, num_labels, labels in (
        ("regression", 1, np.array([0.5, -1.0], np.float32)),
        ("multi_label_classification", 3, np.array([[1, 0, 1], [0, 0, 1]], np.float32)),
    ):
        config = tiny_config(problem_type=problem_type, hidden_dropout_prob=0.0).replace(num_labels=num_labels)
        state = random_state_dict(config, "ElectraForSequenceClassification", seed=4)
        pt = pt_model("ElectraForSequenceClassification", config, state)
        fx = flax_model("ElectraForSequenceClassification", config, state)
        ours = fx(IDS, attention_mask=MASK, labels=labels)
        with torch.no_grad():
            theirs = pt(to_torch(IDS), attention_mask=to_torch(MASK), labels=to_torch(labels))
        compare(ours.loss, theirs.loss, problem_type)
        compare(ours.logits, theirs.logits, problem_type)


def test_decoder_cross_attention_and_cache_match_pt():
    config = tiny_config(is_decoder=True, add_cross_attention=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    state = random_state_dict(config, "ElectraForCausalLM", seed=5)
    pt, fx = pt_model("ElectraForCausalLM", config, state), flax_model("ElectraForCausalLM", config, state)
    encoder = np.random.default_rng(2).normal(size=(B, 4, 32)).astype(np.float32)
    encoder_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
    ours = fx(IDS[:, :5], attention_mask=MASK[:, :5], encoder_hidden_states=encoder, encoder_attention_mask=encoder_mask,
              output_attentions=True, use_cache=True)
    with torch.no_grad():
        theirs = pt(to_torch(IDS[:, :5]), attention_mask=to_torch(MASK[:, :5]), encoder_hidden_states=to_torch(encoder),
                    encoder_attention_mask=to_torch(encoder_mask), output_attentions=True, use_cache=True)
    for key in ("logits", "attentions", "cross_attentions", "past_key_values"):
        compare(getattr(ours, key), getattr(theirs, key), key)
    # One cached step on both sides.
    ours2 = fx(IDS[:, 5:6], attention_mask=MASK[:, :6], encoder_hidden_states=encoder, encoder_attention_mask=encoder_mask,
               past_key_values=ours.past_key_values)
    with torch.no_grad():
        theirs2 = pt(to_torch(IDS[:, 5:6]), attention_mask=to_torch(MASK[:, :6]), encoder_hidden_states=to_torch(encoder),
                     encoder_attention_mask=to_torch(encoder_mask), past_key_values=theirs.past_key_values, use_cache=True)
    compare(ours2.logits, theirs2.logits, "cached step logits")


@pytest.mark.parametrize("architecture", ["ElectraForPreTraining", "ElectraForMaskedLM", "ElectraForMultipleChoice"])
def test_training_step_gradients_match_pt(architecture):
    config = config_for(architecture, "absolute")
    state = random_state_dict(config, architecture, seed=6)
    pt, fx = pt_model(architecture, config, state), flax_model(architecture, config, state)
    inputs, labels = inputs_for(architecture), labels_for(architecture)

    def loss_fn(params):
        return fx(**inputs, **labels, params=params).loss

    loss, grads = jax.value_and_grad(loss_fn)(fx.params)
    pt.train()  # dropout rates are 0: the same numbers as eval, with autograd
    pt_loss = pt(**{k: to_torch(v) for k, v in {**inputs, **labels}.items()}).loss
    pt_loss.backward()
    compare(loss, pt_loss, "loss", atol=1e-4)
    ours = hf_flax_to_canonical(jax.tree_util.tree_map(np.asarray, grads))
    theirs = {k: p.grad for k, p in pt.named_parameters()}
    if config.tie_word_embeddings and "generator_lm_head.weight" in theirs:
        theirs.pop("generator_lm_head.weight")  # the same Parameter as the word table: its gradient is already summed there
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    for key, grad in theirs.items():
        compare(ours[key], grad, f"grad {key}", atol=1e-4)


def test_tf_backend_matches_flax():
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed")
    tf_class = importlib.import_module("electra.tf").ElectraForPreTraining  # a broken electra.tf fails here
    config = config_for("ElectraForPreTraining", "absolute")
    state = random_state_dict(config, "ElectraForPreTraining", seed=7)
    tf_model = tf_class(config)
    tf_model.load_canonical_state_dict(state)
    fx = flax_model("ElectraForPreTraining", config, state)
    labels = labels_for("ElectraForPreTraining")
    ours = fx(IDS, attention_mask=MASK, token_type_ids=TYPES, **labels, output_hidden_states=True)
    theirs = tf_model(IDS, attention_mask=MASK, token_type_ids=TYPES, **labels, output_hidden_states=True)
    compare(ours.logits, np.asarray(theirs.logits), "logits")
    compare(ours.loss, np.asarray(theirs.loss), "loss")
    compare(ours.hidden_states, [np.asarray(h) for h in theirs.hidden_states], "hidden_states")


def test_pretraining_step_matches_pt():
    """Same weights, batch and injected Gumbel noise: the same losses, metrics and samples
    (1e-5) and the same gradients (1e-4), parameter for parameter under the pt names."""
    from electra.common.config import generator_config
    from electra.common.pretraining import recipe
    from electra.common.weights.layouts import canonical_to_hf_flax
    from electra.flax.trainer import ElectraPretrainer, max_predictions_for
    from electra.pt.trainer import ElectraPretrainer as PtPretrainer

    disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    gen = generator_config(disc, 0.5)
    torch.manual_seed(0)
    pt = PtPretrainer(disc, gen).train()  # dropout rates are 0
    fx = ElectraPretrainer(disc, gen)
    pt_names = {n: p.detach().numpy() for n, p in pt.named_parameters()}
    params = jax.tree_util.tree_map(jnp.asarray, canonical_to_hf_flax(pt_names, tie_word_embeddings=False))
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(fx.params)

    rng = np.random.default_rng(3)
    ids = rng.integers(5, 99, size=(B, L))
    mask = np.array(MASK)
    chosen = (rng.random((B, L)) < 0.4) & (mask == 1)
    chosen[:, 1] = True
    batch = dict(input_ids=ids, masked_ids=np.where(chosen, 4, ids), mlm_labels=np.where(chosen, ids, -100),
                 attention_mask=mask, token_type_ids=TYPES)
    noise = recipe.gumbel(np.random.default_rng(4).random((B, L, 99), dtype=np.float32))
    K = max_predictions_for(batch["mlm_labels"])

    def loss_fn(p):
        out = fx.apply(p, **{k: jnp.asarray(v, jnp.int32) for k, v in batch.items()}, gumbel_noise=noise, max_predictions=K)
        return out.loss, out

    (_, ours), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    theirs = pt(**{k: to_torch(v) for k, v in batch.items()}, gumbel_noise=torch.from_numpy(noise))
    theirs.loss.backward()
    for key in ("loss", "generator_loss", "discriminator_loss", "generator_accuracy", "discriminator_accuracy",
                "discriminator_precision", "discriminator_recall", "discriminator_logits"):
        compare(getattr(ours, key), getattr(theirs, key).detach().float(), key)
    np.testing.assert_array_equal(np.asarray(ours.sampled_ids), theirs.sampled_ids.numpy())
    ours_grads = hf_flax_to_canonical(jax.tree_util.tree_map(np.asarray, grads))
    theirs_grads = {n: p.grad for n, p in pt.named_parameters()}
    assert set(ours_grads) == set(theirs_grads)
    for name, grad in theirs_grads.items():
        compare(ours_grads[name], grad, f"grad {name}", atol=1e-4)
