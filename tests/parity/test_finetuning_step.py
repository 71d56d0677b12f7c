"""Cross-backend parity of one fine-tuning step (`electra.<backend>.finetuning.FinetuneTrainer`).

The same canonical weights (a tiny checkpoint in tmp_path), the same batch and dropout off give,
for every task of `electra finetune` (single-label, regression and multi-label sequence
classification, token classification, question answering):
- the loss of `electra.pt`'s model and its gradients (torch autograd, then clipped to norm 1),
  reproduced by the tf and flax trainers' `train_step` (loss to 1e-5, gradient norm, the
  gradients read back from Adam's first moment m = (1 - beta1) g, to 1e-4);
- the updated weights of the original ELECTRA update, computed here in NumPy from those
  gradients with each parameter's layer-wise rate: p - lr x multiplier x (m / (sqrt(v) + eps)
  + weight_decay x p), decay except LayerNorm and biases (1e-4);
- with `electra.pt.finetuning` present, the PyTorch trainer's state after the step equals the
  tf and flax trainers' (1e-4).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import tiny_config  # noqa: E402
from electra.common.pretraining.schedule import ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON, CLIP_NORM, decays  # noqa: E402
from electra.common.weights.checkpoint import write_pretrained  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

LOSS_ATOL = 1e-5
GRAD_ATOL = 1e-4
B, L = 3, 10
LR, WEIGHT_DECAY, LAYER_DECAY = 1e-3, 0.01, 0.8
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)


def task_batch(task: str, num_labels: int, vocab_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs as the finetune loop gives them (int64; row 1 padded, two segments) and the task's labels."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1, vocab_size, (B, L)).astype(np.int64)
    attention_mask = np.ones((B, L), np.int64)
    attention_mask[1, 7:] = 0
    token_type_ids = np.zeros((B, L), np.int64)
    token_type_ids[:, 5:] = 1
    batch = dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
    if task == "single_label":
        batch["labels"] = np.array([0, 2, 1], np.int64)
    elif task == "regression":
        batch["labels"] = np.array([0.5, -1.25, 2.0], np.float32)
    elif task == "multi_label":
        batch["labels"] = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 1]], np.float32)
    elif task == "token":
        labels = rng.integers(0, num_labels, (B, L)).astype(np.int64)
        labels[:, 0] = labels[1, 7:] = labels[2, 3] = -100
        batch["labels"] = labels
    else:
        batch["start_positions"] = np.array([2, 6, 0], np.int64)
        batch["end_positions"] = np.array([4, 6, 0], np.int64)
    return batch


# task -> (architecture, config changes); num_labels of the checkpoint's head.
TASKS = {
    "single_label": ("ElectraForSequenceClassification", dict(num_labels=3, problem_type="single_label_classification")),
    "regression": ("ElectraForSequenceClassification", dict(num_labels=1, problem_type="regression")),
    "multi_label": ("ElectraForSequenceClassification", dict(num_labels=3, problem_type="multi_label_classification")),
    "token": ("ElectraForTokenClassification", dict(num_labels=3)),
    "qa": ("ElectraForQuestionAnswering", dict(num_labels=2)),
}


def checkpoint(directory, task: str):
    """A tiny `architecture` checkpoint with seeded weights and dropout off; returns (config, canonical state)."""
    architecture, changes = TASKS[task]
    labels = {i: f"L{i}" for i in range(changes["num_labels"])}
    config = tiny_config(**NO_DROPOUT, **{**changes, "id2label": labels, "label2id": {v: k for k, v in labels.items()}})
    state = random_state_dict(config, architecture, seed=5)
    write_pretrained(directory, config, state, architecture)
    return config, state


def make_trainer(backend: str, directory, task: str, total_steps: int = 10):
    import importlib

    module = importlib.import_module(f"electra.{backend}.finetuning")
    architecture, changes = TASKS[task]
    return module.FinetuneTrainer(directory, architecture, dict(changes), lr=LR, weight_decay=WEIGHT_DECAY, layerwise_lr_decay=LAYER_DECAY, warmup_steps=0,
                                  total_steps=total_steps, seed=0)


def pt_reference(directory, task: str, batch):
    """electra.pt's loss, gradient norm and clipped gradients (canonical names) on these weights."""
    import electra.pt

    architecture, _ = TASKS[task]
    model = getattr(electra.pt, architecture).from_pretrained(directory)
    model.train()  # dropout is off in the config, so train mode only checks that
    out = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
    out.loss.backward()
    norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM))
    grads = {name: p.grad.numpy().copy() for name, p in model.named_parameters()}
    return float(out.loss.detach()), norm, grads


def expected_update(params: dict[str, np.ndarray], grads: dict[str, np.ndarray], num_layers: int) -> dict[str, np.ndarray]:
    """One step of ELECTRA's AdamW from zero moments at rate LR x the layer-wise multiplier."""
    from electra.common.finetuning.recipe import layerwise_lr_multiplier

    updated = {}
    for name, g in grads.items():
        m, v = (1 - ADAM_BETA1) * g, (1 - ADAM_BETA2) * g * g
        update = m / (np.sqrt(v) + ADAM_EPSILON) + (WEIGHT_DECAY * params[name] if decays(name) else 0.0)
        updated[name] = params[name] - LR * layerwise_lr_multiplier(name, num_layers, LAYER_DECAY) * update
    return updated


@pytest.fixture(scope="module", params=list(TASKS))
def case(request, tmp_path_factory):
    """(task, config, canonical weights, batch, pt's loss / norm / grads) for one task."""
    task = request.param
    directory = tmp_path_factory.mktemp(task)
    config, state = checkpoint(directory, task)
    batch = task_batch(task, config.num_labels, config.vocab_size)
    loss, norm, grads = pt_reference(directory, task, batch)
    return dict(task=task, directory=directory, config=config, state=state, batch=batch, loss=loss, norm=norm, grads=grads)


@pytest.mark.parametrize("backend", ["tf", "flax"])
def test_one_step_equals_pytorch_loss_gradients_and_update(case, backend):
    pytest.importorskip({"tf": "tensorflow", "flax": "flax"}[backend])
    trainer = make_trainer(backend, case["directory"], case["task"])
    before = trainer.state_arrays()
    assert {k[len("param/"):] for k in before if k.startswith("param/")} == set(case["grads"])
    for name, value in case["state"].items():
        np.testing.assert_array_equal(before[f"param/{name}"], value, err_msg=name)

    metrics = trainer.train_step(case["batch"], 0)
    assert set(metrics) == {"loss", "lr", "grad_norm"} and all(type(v) is float for v in metrics.values())
    assert metrics["lr"] == pytest.approx(LR)
    assert metrics["loss"] == pytest.approx(case["loss"], abs=LOSS_ATOL)
    assert metrics["grad_norm"] == pytest.approx(case["norm"], abs=GRAD_ATOL)
    assert case["norm"] > CLIP_NORM or case["task"] == "qa"  # clipping is exercised (the QA loss is smaller)

    after = trainer.state_arrays()
    expected = expected_update(case["state"], case["grads"], case["config"].num_hidden_layers)
    for name, grad in case["grads"].items():
        np.testing.assert_allclose(after[f"adam_m/{name}"] / (1 - ADAM_BETA1), grad, atol=GRAD_ATOL, err_msg=name)
        np.testing.assert_allclose(after[f"param/{name}"], expected[name], atol=GRAD_ATOL, err_msg=name)
    # Layer-wise rates: Adam's first step moves each weight by about its rate, 0.8^4 of the head's in the embeddings.
    head = {"token": "classifier.weight", "qa": "qa_outputs.weight"}.get(case["task"], "classifier.out_proj.weight")
    step_of = lambda name: np.abs(after[f"param/{name}"] - case["state"][name]).max()  # noqa: E731
    assert step_of("electra.embeddings.word_embeddings.weight") / step_of(head) == pytest.approx(LAYER_DECAY**4, rel=1e-2)


def test_pytorch_trainer_state_equals_tf_and_flax_after_a_step(case):
    pytest.importorskip("electra.pt.finetuning")
    states = {}
    for backend in ("pt", "tf", "flax"):
        trainer = make_trainer(backend, case["directory"], case["task"])
        metrics = trainer.train_step(case["batch"], 0)
        assert metrics["loss"] == pytest.approx(case["loss"], abs=LOSS_ATOL), backend
        states[backend] = trainer.state_arrays()
    for backend in ("tf", "flax"):
        assert set(states[backend]) == set(states["pt"]), backend
        for key, value in states["pt"].items():
            np.testing.assert_allclose(states[backend][key], value, atol=GRAD_ATOL, err_msg=f"{backend} {key}")
