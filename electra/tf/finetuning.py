"""Fine-tuning in TensorFlow/Keras 3: `FinetuneTrainer`, the backend half of `electra finetune`.

Mirrors `electra.pt.finetuning` (the interface of every backend's `FinetuneTrainer`; the
backend-neutral loop is `electra.commands.finetune`) and this backend's pretraining trainer
(`electra.tf.trainer.PretrainingTrainer`): `ElectraAdamW` (no bias correction, weight decay
except LayerNorm and biases), global-norm clipping, dropout reseeded per step from
`recipe.step_seed(seed, step, "dropout")`, one `tf.function` step. ELECTRA's fine-tuning
recipe adds a layer-wise learning rate (`electra.common.finetuning.recipe.layerwise_lr_multiplier`):
the variables are grouped by multiplier, one optimizer per group stepping at lr x multiplier.

State arrays are keyed like the PyTorch trainer's (`param/<canonical name>`, `adam_m/...`,
`adam_v/...`, Linear weights (out, in)), so a run moves between backends.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

import electra.tf
from electra.common.pretraining import recipe
from electra.common.pretraining.schedule import CLIP_NORM, LinearSchedule
from electra.tf.optim import ElectraAdamW
from electra.tf.trainer import POLICIES, construction

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LABELS = ("labels", "start_positions", "end_positions")


class FinetuneTrainer:
    """A task model, its optimizer, schedule and per-step dropout seeds (see the module docstring).

    Args:
        model_dir: a checkpoint `from_pretrained` reads; a bare `ElectraModel` or discriminator
            gets a fresh head, drawn from `seed`.
        architecture: `ElectraForSequenceClassification`, `ElectraForTokenClassification` or
            `ElectraForQuestionAnswering` (any class of `electra.tf`).
        config_changes: config overrides (`num_labels`, `id2label`, `label2id`, `problem_type`).
        lr, weight_decay, layerwise_lr_decay: peak learning rate, AdamW's decoupled weight
            decay, the layer-wise decay factor (1.0: the same rate everywhere).
        warmup_steps, total_steps: the linear warmup, then linear decay to 0 at `total_steps`.
        seed: the head's initialisation and every step's dropout.
        precision: "fp32" or "bf16" (bfloat16 compute, float32 parameters and optimizer).
    """

    def __init__(self, model_dir, architecture: str, config_changes: dict, *, lr: float, weight_decay: float,
                 layerwise_lr_decay: float, warmup_steps: int, total_steps: int, seed: int, precision: str = "fp32"):
        from electra.common.finetuning.recipe import layerwise_lr_multiplier

        if precision not in POLICIES:
            raise ValueError(f"precision must be one of {', '.join(POLICIES)} in the tf backend, got {precision!r}")
        if not isinstance(getattr(electra.tf, architecture, None), type):
            raise ValueError(f"unknown architecture {architecture!r} in electra.tf")
        with construction(seed, POLICIES[precision]):
            self.model = getattr(electra.tf, architecture).from_pretrained(os.fspath(model_dir), **config_changes)
        self.schedule = LinearSchedule(lr, warmup_steps, total_steps)
        self.seed = seed
        self.named = [(name, variable, transposed) for name, (variable, transposed) in self.model.canonical_variables().items()]
        layers = self.model.config.num_hidden_layers
        self.multipliers = [layerwise_lr_multiplier(name, layers, layerwise_lr_decay) for name, _, _ in self.named]
        # One optimizer per distinct multiplier: ElectraAdamW steps all its variables at one rate.
        self.groups: dict[float, list[int]] = {}
        for i, multiplier in enumerate(self.multipliers):
            self.groups.setdefault(multiplier, []).append(i)
        self.optimizers = {
            multiplier: ElectraAdamW(((self.named[i][0], self.named[i][1]) for i in indices), weight_decay=weight_decay)
            for multiplier, indices in self.groups.items()
        }
        self.dropouts = [layer for layer in self.model._flatten_layers() if hasattr(layer, "seed_generator")]  # rate > 0 only
        self._step = tf.function(self._train_fn, reduce_retracing=True)
        self._predict = tf.function(self._predict_fn, reduce_retracing=True)

    # ------------------------------------------------------------------ train
    def _train_fn(self, batch, lr, dropout_seed):
        for i, layer in enumerate(self.dropouts):
            layer.seed_generator.state.assign(tf.stack([dropout_seed, tf.constant(i, tf.int64)]))
        variables = [variable for _, variable, _ in self.named]
        with tf.GradientTape() as tape:
            loss = tf.cast(self.model(**batch, training=True).loss, tf.float32)
        grads = [tf.zeros(v.shape) if g is None else tf.convert_to_tensor(g) for g, v in zip(tape.gradient(loss, variables), variables)]
        grads, grad_norm = tf.clip_by_global_norm(grads, CLIP_NORM)
        for multiplier, indices in self.groups.items():
            self.optimizers[multiplier].apply([grads[i] for i in indices], lr * multiplier)
        return loss, grad_norm

    def train_step(self, batch: dict[str, np.ndarray], step: int) -> dict[str, float]:
        """One optimizer step; dropout seeded from (seed, step). Returns loss, lr and the
        gradient norm before clipping, as Python floats."""
        lr = self.schedule(step)
        dropout_seed = recipe.step_seed(self.seed, step, "dropout")
        tensors = _tensors({k: batch[k] for k in INPUTS + LABELS if k in batch})
        loss, grad_norm = self._step(tensors, tf.constant(lr, tf.float32), tf.constant(dropout_seed, tf.int64))
        return {"loss": float(loss), "lr": lr, "grad_norm": float(grad_norm)}

    # ------------------------------------------------------------------ predict
    def _predict_fn(self, batch):
        out = self.model(**batch, training=False)
        if getattr(out, "logits", None) is not None:
            return {"logits": tf.cast(out.logits, tf.float32)}
        return {"start_logits": tf.cast(out.start_logits, tf.float32), "end_logits": tf.cast(out.end_logits, tf.float32)}

    def predict(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eval mode, labels not needed: `logits`, or `start_logits`/`end_logits`, as float32 NumPy."""
        outputs = self._predict(_tensors({k: batch[k] for k in INPUTS if k in batch}))
        return {k: v.numpy() for k, v in outputs.items()}

    # ------------------------------------------------------------------ files and state
    def save(self, directory) -> None:
        """`save_pretrained(directory)`: HF files, config with id2label/label2id/problem_type."""
        self.model.save_pretrained(directory)

    def _moments(self) -> list[tuple[tf.Variable, tf.Variable]]:
        """(m, v) of every variable, in `self.named` order."""
        moments = [None] * len(self.named)
        for multiplier, indices in self.groups.items():
            optimizer = self.optimizers[multiplier]
            for i, m, v in zip(indices, optimizer.exp_avg, optimizer.exp_avg_sq):
                moments[i] = (m, v)
        return moments

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Weights and optimizer moments as float32 NumPy, keyed `param/`, `adam_m/`, `adam_v/`
        + canonical name, in PyTorch layout (Linear weights (out, in))."""
        arrays = {}
        for (name, variable, transposed), (m, v) in zip(self.named, self._moments()):
            for prefix, value in (("param", variable), ("adam_m", m), ("adam_v", v)):
                array = np.array(keras.ops.convert_to_numpy(value), dtype=np.float32)
                arrays[f"{prefix}/{name}"] = array.T.copy() if transposed else array
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (also reads the PyTorch and Flax trainers'): every
        parameter must be present with its shape, all checked before any is assigned;
        absent moments start at zero, as a fresh optimizer."""
        missing = sorted(f"param/{name}" for name, _, _ in self.named if f"param/{name}" not in arrays)
        if missing:
            raise ValueError(f"training checkpoint lacks {len(missing)} parameters, e.g. {missing[:3]}")
        updates = []
        for (name, variable, transposed), (m, v) in zip(self.named, self._moments()):
            expected = tuple(reversed(variable.shape)) if transposed else tuple(variable.shape)
            for prefix, target in (("param", variable), ("adam_m", m), ("adam_v", v)):
                key = f"{prefix}/{name}"
                array = np.asarray(arrays[key], np.float32) if key in arrays else np.zeros(expected, np.float32)
                if tuple(array.shape) != expected:
                    raise ValueError(f"training checkpoint {key} has shape {tuple(array.shape)}, model has {expected}")
                updates.append((target, array.T if transposed else array))
        for target, array in updates:
            target.assign(array)


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
    """The batch as tensors: integer arrays as int32, float labels (regression, multi-label) as float32."""
    tensors = {}
    for key, value in batch.items():
        value = np.asarray(value)
        tensors[key] = tf.constant(value, tf.float32 if np.issubdtype(value.dtype, np.floating) else tf.int32)
    return tensors
