"""Fine-tuning in PyTorch: `FinetuneTrainer`, the backend half of `electra finetune`.

The interface every backend's `FinetuneTrainer` implements (`electra.tf.finetuning` and
`electra.flax.finetuning` mirror this file; the backend-neutral loop is
`electra.commands.finetune`). As this backend's pretraining trainer
(`electra.pt.trainer.PretrainingTrainer`): `ElectraAdamW` (no bias correction, weight decay
except LayerNorm and biases), global-norm clipping at 1.0, dropout reseeded per step from
`recipe.step_seed(seed, step, "dropout")`. ELECTRA's fine-tuning recipe adds a layer-wise
learning rate (`electra.common.finetuning.recipe.layerwise_lr_multiplier`): one parameter
group per (multiplier, decay or not), stepping at lr x multiplier.

State arrays are keyed `param/`, `adam_m/`, `adam_v/` + canonical name (HF PyTorch keys,
Linear weights (out, in)), as the other backends' trainers, so a run moves between backends.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

import electra.pt
from electra.common.finetuning.recipe import layerwise_lr_multiplier
from electra.common.pretraining import recipe
from electra.common.pretraining.schedule import CLIP_NORM, LinearSchedule
from electra.pt.optim import ElectraAdamW

# --precision -> the autocast dtype of the forward pass (parameters and optimizer stay float32).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LABELS = ("labels", "start_positions", "end_positions")


class FinetuneTrainer:
    """A task model, its optimizer, schedule and per-step dropout seeds (see the module docstring).

    Args:
        model_dir: a checkpoint `from_pretrained` reads; a bare `ElectraModel` or discriminator
            gets a fresh head, drawn from `seed` (as the constructor initialises it).
        architecture: `ElectraForSequenceClassification`, `ElectraForTokenClassification` or
            `ElectraForQuestionAnswering` (any class of `electra.pt`).
        config_changes: config overrides (`num_labels`, `id2label`, `label2id`, `problem_type`).
        lr, weight_decay, layerwise_lr_decay: peak learning rate, AdamW's decoupled weight
            decay, the layer-wise decay factor (1.0: the same rate everywhere).
        warmup_steps, total_steps: the linear warmup, then linear decay to 0 at `total_steps`.
        seed: the head's initialisation and every step's dropout.
        precision: "fp32" or "bf16" (bfloat16 autocast, float32 parameters and optimizer).
    """

    def __init__(self, model_dir, architecture: str, config_changes: dict, *, lr: float, weight_decay: float,
                 layerwise_lr_decay: float, warmup_steps: int, total_steps: int, seed: int, precision: str = "fp32",
                 device: str | None = None):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} in the pt backend, got {precision!r}")
        if not isinstance(getattr(electra.pt, architecture, None), type):
            raise ValueError(f"unknown architecture {architecture!r} in electra.pt")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.step_seed(seed, 0, "init"))
            self.model = getattr(electra.pt, architecture).from_pretrained(os.fspath(model_dir), **config_changes).to(self.device)
        self.schedule = LinearSchedule(lr, warmup_steps, total_steps)
        self.seed = seed
        self.autocast = PRECISIONS[precision]
        self.named = list(self.model.named_parameters())
        layers = self.model.config.num_hidden_layers
        self.multipliers = {name: layerwise_lr_multiplier(name, layers, layerwise_lr_decay) for name, _ in self.named}
        # One ElectraAdamW per distinct multiplier (each holds a decay and a no-decay group).
        groups: dict[float, list] = {}
        for name, param in self.named:
            groups.setdefault(self.multipliers[name], []).append((name, param))
        self.optimizers = {multiplier: ElectraAdamW(params, lr=lr * multiplier, weight_decay=weight_decay) for multiplier, params in groups.items()}

    def _context(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def _tensors(self, batch: dict[str, np.ndarray], keys) -> dict[str, torch.Tensor]:
        tensors = {}
        for key in keys:
            if key in batch:
                value = np.asarray(batch[key])
                dtype = torch.float32 if np.issubdtype(value.dtype, np.floating) else torch.int64
                tensors[key] = torch.as_tensor(value, dtype=dtype, device=self.device)
        return tensors

    # ------------------------------------------------------------------ train
    def train_step(self, batch: dict[str, np.ndarray], step: int) -> dict[str, float]:
        """One optimizer step; dropout seeded from (seed, step). Returns loss, lr and the
        gradient norm before clipping, as Python floats."""
        lr = self.schedule(step)
        for multiplier, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = lr * multiplier
        self.model.train()
        torch.manual_seed(recipe.step_seed(self.seed, step, "dropout"))
        with self._context():
            loss = self.model(**self._tensors(batch, INPUTS + LABELS), return_dict=True).loss.float()
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP_NORM)
        for optimizer in self.optimizers.values():
            optimizer.step()
        loss_value, norm_value = torch.stack([loss.detach(), grad_norm.float()]).tolist()
        return {"loss": loss_value, "lr": lr, "grad_norm": norm_value}

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eval mode, labels not needed: `logits`, or `start_logits`/`end_logits`, as float32 NumPy."""
        self.model.eval()
        with self._context():
            out = self.model(**self._tensors(batch, INPUTS), return_dict=True)
        if getattr(out, "logits", None) is not None:
            return {"logits": out.logits.float().cpu().numpy()}
        return {"start_logits": out.start_logits.float().cpu().numpy(), "end_logits": out.end_logits.float().cpu().numpy()}

    # ------------------------------------------------------------------ files and state
    def save(self, directory) -> None:
        """`save_pretrained(directory)`: HF files, config with id2label/label2id/problem_type."""
        self.model.save_pretrained(directory)

    def _optimizer_of(self, name: str) -> ElectraAdamW:
        return self.optimizers[self.multipliers[name]]

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Weights and optimizer moments as float32 NumPy, keyed `param/`, `adam_m/`, `adam_v/`
        + canonical name (moments zero before the first step, as the other backends')."""
        arrays = {}
        for name, param in self.named:
            value = param.detach().float().cpu().numpy().copy()
            arrays[f"param/{name}"] = value
            state = self._optimizer_of(name).state.get(param)
            arrays[f"adam_m/{name}"] = state["exp_avg"].cpu().numpy().copy() if state else np.zeros_like(value)
            arrays[f"adam_v/{name}"] = state["exp_avg_sq"].cpu().numpy().copy() if state else np.zeros_like(value)
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (also reads the TensorFlow and Flax trainers'): every
        parameter must be present with its shape, all checked before any is assigned; absent
        moments start at zero, as a fresh optimizer."""
        missing = sorted(f"param/{name}" for name, _ in self.named if f"param/{name}" not in arrays)
        if missing:
            raise ValueError(f"training checkpoint lacks {len(missing)} parameters, e.g. {missing[:3]}")
        updates = []
        for name, param in self.named:
            values = []
            for prefix in ("param", "adam_m", "adam_v"):
                key = f"{prefix}/{name}"
                array = np.asarray(arrays[key], np.float32) if key in arrays else np.zeros(tuple(param.shape), np.float32)
                if tuple(array.shape) != tuple(param.shape):
                    raise ValueError(f"training checkpoint {key} has shape {tuple(array.shape)}, model has {tuple(param.shape)}")
                values.append(array)
            updates.append((name, param, values))
        with torch.no_grad():
            for name, param, (value, m, v) in updates:
                param.copy_(torch.from_numpy(value))
                self._optimizer_of(name).state[param] = {
                    "exp_avg": torch.tensor(m, device=self.device),
                    "exp_avg_sq": torch.tensor(v, device=self.device),
                }
