"""electra.pt models in HF's hands: the `PreTrainedModel` API users call (`return_dict`,
`num_parameters`, embeddings, `from_pretrained` overrides, resizing, gradient
checkpointing), transformers' `pipeline` and `Trainer`, each against HF 4.57's ELECTRA
built from the same seeded canonical weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

import electra  # noqa: E402
import electra.pt as ours  # noqa: E402
from conftest import tiny_config  # noqa: E402
from electra.common.errors import CheckpointError  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

B, L = 2, 7


def config_for(architecture):
    """The tiny config; two labels for QA, whose HF head has `num_labels` outputs (2 in practice)."""
    return tiny_config(id2label={0: "a", 1: "b"}) if architecture == "ElectraForQuestionAnswering" else tiny_config()


def both(architecture, config, seed=0):
    """(ours, HF's) `architecture` in eval mode with the same seeded canonical weights."""
    state = {k: torch.from_numpy(v) for k, v in random_state_dict(config, architecture, seed=seed).items()}
    mine = getattr(ours, architecture)(config)
    mine.load_state_dict(state)
    theirs = getattr(transformers, architecture)(transformers.ElectraConfig.from_dict(config.to_dict()))
    theirs.load_state_dict(state, strict=False)  # HF keeps position_ids buffers we do not
    theirs.tie_weights()
    return mine.eval(), theirs.eval()


def batch(config, labels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[1, -2:] = 0
    kwargs = dict(input_ids=ids, attention_mask=mask)
    if labels == "class":
        kwargs["labels"] = torch.tensor([0, 2])
    elif labels == "token":
        kwargs["labels"] = torch.randint(0, config.vocab_size, (B, L), generator=g)
    elif labels == "qa":
        kwargs.update(start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([3, 4]))
    return kwargs


def assert_tuples_close(mine, theirs):
    assert type(mine) is tuple and len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        if isinstance(b, tuple):
            assert_tuples_close(a, b)
        else:
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- return_dict
@pytest.mark.parametrize("architecture, labels", [
    ("ElectraModel", None),
    ("ElectraForPreTraining", "binary"),
    ("ElectraForMaskedLM", "token"),
    ("ElectraForSequenceClassification", "class"),
    ("ElectraForSequenceClassification", None),
    ("ElectraForQuestionAnswering", "qa"),
])
def test_return_dict_false_gives_hfs_tuple(architecture, labels):
    config = config_for(architecture)
    mine, theirs = both(architecture, config)
    kwargs = batch(config, labels)
    if labels == "binary":
        kwargs["labels"] = (kwargs["input_ids"] % 2)
    with torch.no_grad():
        for extra in ({}, {"output_hidden_states": True, "output_attentions": True}):
            a = mine(**kwargs, **extra, return_dict=False)
            b = theirs(**kwargs, **extra, return_dict=False)
            assert_tuples_close(a, b)
    if labels is not None:
        torch.testing.assert_close(a[0], mine(**kwargs).loss)  # loss first


def test_config_return_dict_and_output_defaults():
    config = tiny_config()
    mine, _ = both("ElectraForSequenceClassification", config)
    kwargs = batch(config, "class")
    with torch.no_grad():
        assert mine(**kwargs).hidden_states is None
        config.output_hidden_states = True  # read at call time, as HF's forwards do
        assert len(mine(**kwargs).hidden_states) == config.num_hidden_layers + 1
        assert mine(**kwargs, output_hidden_states=False).hidden_states is None
        config.return_dict = False
        out = mine(**kwargs)
        assert type(out) is tuple and len(out) == 3  # loss, logits, hidden_states
        assert type(mine(**kwargs, return_dict=True)) is ours.tasks.SequenceClassifierOutput


# ----------------------------------------------------------------------------- small API
def test_num_parameters_device_dtype_as_hf():
    config = tiny_config()
    for architecture in ("ElectraForMaskedLM", "ElectraForSequenceClassification"):
        mine, theirs = both(architecture, config)
        for kwargs in ({}, {"exclude_embeddings": True}, {"only_trainable": True}):
            assert mine.num_parameters(**kwargs) == theirs.num_parameters(**kwargs), (architecture, kwargs)
        mine.electra.embeddings.requires_grad_(False)
        theirs.electra.embeddings.requires_grad_(False)
        assert mine.num_parameters(only_trainable=True) == theirs.num_parameters(only_trainable=True)
        assert mine.device == theirs.device == torch.device("cpu") and mine.dtype == theirs.dtype == torch.float32
        assert mine.to(torch.bfloat16).dtype == torch.bfloat16
    assert ours.ElectraModel.main_input_name == "input_ids"


def test_set_embeddings_keep_the_tie():
    config = tiny_config()
    model = ours.ElectraForMaskedLM(config)
    table = torch.nn.Embedding(config.vocab_size, config.embedding_size)
    model.set_input_embeddings(table)
    assert model.get_input_embeddings() is table and model.get_output_embeddings().weight is table.weight
    head = torch.nn.Linear(config.embedding_size, config.vocab_size)
    model.set_output_embeddings(head)
    assert model.get_output_embeddings() is head and head.weight is table.weight
    assert model._keys_to_ignore_on_save == ["generator_lm_head.weight"]
    untied = ours.ElectraForMaskedLM(tiny_config(tie_word_embeddings=False))
    untied.set_output_embeddings(head := torch.nn.Linear(config.embedding_size, config.vocab_size))
    assert untied.generator_lm_head.weight is head.weight and untied._keys_to_ignore_on_save is None
    with pytest.raises(AttributeError, match="ElectraForSequenceClassification has no output embeddings"):
        ours.ElectraForSequenceClassification(config).set_output_embeddings(head)


# ----------------------------------------------------------------------------- from_pretrained overrides
def test_from_pretrained_config_overrides(tmp_path):
    config = tiny_config()
    mine, _ = both("ElectraForSequenceClassification", config)
    mine.save_pretrained(tmp_path)
    labels = {0: "neg", 1: "pos", 2: "mid"}
    loaded = ours.ElectraForSequenceClassification.from_pretrained(
        tmp_path, id2label=labels, label2id={v: k for k, v in labels.items()}, num_labels=3, output_hidden_states=True,
        classifier_dropout=0.3)
    assert loaded.config.id2label == labels and loaded.config.classifier_dropout == 0.3
    assert loaded.electra.config is loaded.config and mine.config.classifier_dropout is None  # a copy
    assert len(loaded(**batch(config)).hidden_states) == 3
    with pytest.raises(TypeError, match=r"not config attributes: \['not_a_field'\]"):
        ours.ElectraForSequenceClassification.from_pretrained(tmp_path, not_a_field=1)
    with pytest.raises(ValueError, match="num_labels=2 and id2label"):
        ours.ElectraForSequenceClassification.from_pretrained(tmp_path, num_labels=2, id2label=labels)


def test_head_of_another_size_needs_ignore_mismatched_sizes(tmp_path):
    config = tiny_config()
    mine, _ = both("ElectraForSequenceClassification", config)
    mine.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=r"classifier.out_proj.bias has shape \(3,\) in the checkpoint but \(5,\).*"
                                              r"ignore_mismatched_sizes=True"):
        ours.ElectraForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    with pytest.warns(UserWarning, match="newly initialised: classifier.out_proj.bias, classifier.out_proj.weight"):
        loaded = ours.ElectraForSequenceClassification.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True)
    hf = transformers.ElectraForSequenceClassification.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True)
    assert loaded.config.id2label == hf.config.id2label == {i: f"LABEL_{i}" for i in range(5)}
    # As HF: only the mismatched weights are new; the rest of the head is loaded.
    torch.testing.assert_close(loaded.classifier.dense.weight, mine.classifier.dense.weight)
    assert loaded.classifier.out_proj.weight.shape == hf.classifier.out_proj.weight.shape == (5, config.hidden_size)
    assert loaded.classifier.out_proj.bias.abs().max() == 0


# ----------------------------------------------------------------------------- resize, checkpointing
@pytest.mark.parametrize("tie", [True, False])
def test_resize_token_embeddings_as_hf(tie):
    config = tiny_config(tie_word_embeddings=tie)
    mine, theirs = both("ElectraForMaskedLM", config)
    torch.manual_seed(0)
    new_mine = mine.resize_token_embeddings(103, pad_to_multiple_of=8)
    new_theirs = theirs.resize_token_embeddings(103, pad_to_multiple_of=8)
    assert new_mine.num_embeddings == new_theirs.num_embeddings == 104
    assert mine.config.vocab_size == theirs.config.vocab_size == 104 and mine.electra.config.vocab_size == 104
    assert (mine.generator_lm_head.weight is mine.get_input_embeddings().weight) == tie
    assert torch.equal(new_mine.weight[:99], new_theirs.weight[:99])
    # New rows and biases: ours the old mean, HF's drawn around it with 1e-9 x the covariance
    # (a spread of about 3e-5 standard deviations).
    torch.testing.assert_close(new_mine.weight, new_theirs.weight, atol=1e-4, rtol=0)
    torch.testing.assert_close(mine.generator_lm_head.bias, theirs.generator_lm_head.bias, atol=1e-4, rtol=0)
    torch.testing.assert_close(mine.generator_lm_head.weight, theirs.generator_lm_head.weight, atol=1e-4, rtol=0)
    ids = torch.tensor([[5, 100, 103, 7]])
    with torch.no_grad():
        torch.testing.assert_close(mine(ids).logits, theirs(ids).logits, atol=1e-3, rtol=0)
    assert mine.resize_token_embeddings() is new_mine  # no size: nothing changes, as HF
    assert mine.resize_token_embeddings(pad_to_multiple_of=64).num_embeddings == 128
    assert mine.resize_token_embeddings(50, mean_resizing=False).num_embeddings == mine.config.vocab_size == 50


@pytest.mark.parametrize("kwargs", [None, {"use_reentrant": True}, {"use_reentrant": False}])
def test_gradient_checkpointing_gives_the_same_gradients(kwargs):
    config = tiny_config(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model = ours.ElectraForSequenceClassification(config).train()
    inputs = batch(config, "class")

    def gradients():
        torch.manual_seed(3)
        model.zero_grad()
        model(**inputs).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    plain = gradients()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    assert model.is_gradient_checkpointing
    checkpointed = gradients()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-6, rtol=0, msg=name)
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing
    with pytest.raises(ValueError, match=r"only use_reentrant is supported, got \['debug'\]"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"debug": True})


# ----------------------------------------------------------------------------- pipelines
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]  # 99 = tiny vocab_size

PIPELINES = {
    "text-classification": ("ElectraForSequenceClassification", (["w1 w2 w3", "w40 w5 w61 w7"],), {"top_k": None}),
    "token-classification": ("ElectraForTokenClassification", ("w1 w2 w3 w17 w9",), {}),
    "fill-mask": ("ElectraForMaskedLM", ("w1 [MASK] w3 w4",), {}),
    "question-answering": ("ElectraForQuestionAnswering", (), {"question": "w1 w2", "context": "w3 w4 w5 w6 w7 w8"}),
    "feature-extraction": ("ElectraModel", ("w1 w2 w3",), {}),
}


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    vocab = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    return {"ours": electra.ElectraTokenizerFast(vocab_file=str(vocab)),
            "hf": transformers.BertTokenizerFast(vocab_file=str(vocab))}


def assert_same_result(mine, theirs):
    if isinstance(theirs, dict):
        assert mine.keys() == theirs.keys()
        for key in theirs:
            assert_same_result(mine[key], theirs[key])
    elif isinstance(theirs, list):
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            assert_same_result(a, b)
    elif isinstance(theirs, (float, np.floating)):
        assert math.isclose(mine, theirs, abs_tol=1e-5)
    else:
        assert mine == theirs


@pytest.mark.parametrize("tokenizer", ["ours", "hf"])
@pytest.mark.parametrize("task", list(PIPELINES))
def test_pipeline_matches_hf(task, tokenizer, tokenizers):
    architecture, args, kwargs = PIPELINES[task]
    config = config_for(architecture)
    mine, theirs = both(architecture, config)
    got = transformers.pipeline(task, model=mine, tokenizer=tokenizers[tokenizer], framework="pt")(*args, **kwargs)
    want = transformers.pipeline(task, model=theirs, tokenizer=tokenizers["hf"], framework="pt")(*args, **kwargs)
    assert_same_result(got, want)


# ----------------------------------------------------------------------------- Trainer
class SaveConfigCallback(transformers.TrainerCallback):
    """The documented recipe: Trainer saves only the state dict of a model that is not HF's
    `PreTrainedModel`; this adds `config.json` to every checkpoint it writes."""

    def on_save(self, args, state, control, model=None, **kwargs):
        folder = Path(args.output_dir) / f"{transformers.trainer_utils.PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        model.config.save_pretrained(folder)


@pytest.mark.parametrize("architecture", ["ElectraForSequenceClassification", "ElectraForMaskedLM"])
def test_trainer_trains_saves_reloads_evaluates(architecture, tmp_path):
    pytest.importorskip("accelerate")
    config = tiny_config()
    torch.manual_seed(0)
    model = getattr(ours, architecture)(config)
    g = torch.Generator().manual_seed(0)
    classify = architecture == "ElectraForSequenceClassification"
    data = [{"input_ids": torch.randint(5, 99, (8,), generator=g),
             "labels": torch.randint(0, 3, (), generator=g) if classify else torch.randint(5, 99, (8,), generator=g)}
            for _ in range(8)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=2, save_steps=2, per_device_train_batch_size=4, per_device_eval_batch_size=4,
        learning_rate=1e-2, report_to=[], use_cpu=True, disable_tqdm=True,
        save_safetensors=classify)  # a tied generator head: safetensors refuses shared tensors in a plain state dict
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, eval_dataset=data[:4],
                                   callbacks=[SaveConfigCallback()])
    trainer.train()
    assert not torch.equal(model.electra.encoder.layer[0].output.dense.weight, before["electra.encoder.layer.0.output.dense.weight"])
    checkpoint = tmp_path / "checkpoint-2"
    assert (checkpoint / "config.json").exists()
    reloaded = getattr(ours, architecture).from_pretrained(checkpoint)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value, atol=0, rtol=0, msg=key)

    model.eval()
    with torch.no_grad():
        direct = model(**{k: torch.stack([d[k] for d in data[:4]]) for k in ("input_ids", "labels")})
    metrics = trainer.evaluate()
    assert math.isclose(metrics["eval_loss"], direct.loss.item(), rel_tol=1e-5)
    prediction = trainer.predict(data[:4])
    np.testing.assert_allclose(prediction.predictions, direct.logits.numpy(), atol=1e-5)
    unlabelled = trainer.predict([{"input_ids": d["input_ids"]} for d in data[:4]])
    np.testing.assert_allclose(unlabelled.predictions, direct.logits.numpy(), atol=1e-5)


def test_generate_and_the_pretrainer_work_when_the_config_asks_for_tuples():
    """`config.return_dict = False` changes what users get, not what our own callers read."""
    from electra.common.config import generator_config
    from electra.pt.trainer import ElectraPretrainer
    from tests.conftest import masked_batch

    torch.manual_seed(0)
    model = ours.ElectraForCausalLM(tiny_config(is_decoder=True)).eval()
    ids = torch.tensor([[5, 6, 7]])
    expected = model.generate(ids, max_new_tokens=4)
    model.config.return_dict = False
    assert isinstance(model(ids), tuple)
    assert torch.equal(model.generate(ids, max_new_tokens=4), expected)
    disc = tiny_config()
    pretrainer = ElectraPretrainer(disc, generator_config(disc, 0.5)).eval()
    batch = {k: torch.as_tensor(v) for k, v in masked_batch(disc.vocab_size).items()}
    before = pretrainer(**batch, noise_key=(0, 1)).loss
    pretrainer.discriminator.config.return_dict = False
    pretrainer.generator.config.return_dict = False
    assert torch.equal(pretrainer(**batch, noise_key=(0, 1)).loss, before)
