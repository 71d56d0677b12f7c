"""Fine-tuning in Flax: `FinetuneTrainer`, the backend half of `electra finetune`.

Mirrors `electra.pt.finetuning` (the interface of every backend's `FinetuneTrainer`; the
backend-neutral loop is `electra.commands.finetune`) and this backend's pretraining trainer
(`electra.flax.trainer.PretrainingTrainer`): `electra_adamw` (no bias correction, weight
decay except LayerNorm and biases), global-norm clipping, a dropout key per step from
`recipe.step_seed(seed, step, "dropout")`, one `jax.jit` step. ELECTRA's fine-tuning recipe
adds a layer-wise learning rate (`electra.common.finetuning.recipe.layerwise_lr_multiplier`):
a tree of per-parameter multipliers, p <- p - lr x multiplier x update.

State arrays are keyed like the PyTorch trainer's (`param/<canonical name>`, `adam_m/...`,
`adam_v/...`, Linear weights (out, in)), so a run moves between backends.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

import electra.flax
from electra.common.pretraining import recipe
from electra.common.pretraining.schedule import CLIP_NORM, LinearSchedule
from electra.common.weights.layouts import canonical_to_hf_flax, hf_flax_to_canonical
from electra.flax import prng
from electra.flax.optim import ElectraAdamState, clip_by_global_norm, decay_mask, electra_adamw
from electra.flax.trainer import DTYPES

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LABELS = ("labels", "start_positions", "end_positions")


class FinetuneTrainer:
    """A task model, its optimizer, schedule and per-step dropout keys (see the module docstring).

    Args:
        model_dir: a checkpoint `from_pretrained` reads; a bare `ElectraModel` or discriminator
            gets a fresh head, drawn from `seed`.
        architecture: `ElectraForSequenceClassification`, `ElectraForTokenClassification` or
            `ElectraForQuestionAnswering` (any class of `electra.flax`).
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

        if precision not in DTYPES:
            raise ValueError(f"precision must be one of {', '.join(DTYPES)} in the flax backend, got {precision!r}")
        if not isinstance(getattr(electra.flax, architecture, None), type):
            raise ValueError(f"unknown architecture {architecture!r} in electra.flax")
        self.model = getattr(electra.flax, architecture).from_pretrained(os.fspath(model_dir), seed=seed, dtype=DTYPES[precision],
                                                                         **config_changes)
        self.schedule = LinearSchedule(lr, warmup_steps, total_steps)
        self.seed = seed
        layers = self.model.config.num_hidden_layers
        names = hf_flax_to_canonical(jax.tree_util.tree_map(lambda _: np.float32(0), self.model.params))
        multipliers = {name: np.float32(layerwise_lr_multiplier(name, layers, layerwise_lr_decay)) for name in names}
        self.multipliers = jax.tree_util.tree_map(jnp.asarray, canonical_to_hf_flax(multipliers, tie_word_embeddings=False))
        self.optimizer = electra_adamw(decay_mask(self.model.params), weight_decay=weight_decay)
        # A copy: the jitted step donates its buffers, and the model keeps its own.
        self.params = jax.tree_util.tree_map(jnp.array, self.model.params)
        self.opt_state = self.optimizer.init(self.params)
        self._train = jax.jit(self._train_fn, donate_argnums=(0, 1))
        self._predict = jax.jit(self._predict_fn)

    # ------------------------------------------------------------------ train
    def _key(self, step: int, stream: str) -> jax.Array:
        return prng.key(recipe.step_seed(self.seed, step, stream) & 0x7FFFFFFF)

    def _train_fn(self, params, opt_state, batch, lr, dropout_rng):
        def loss_fn(p):
            out = self.model.module.apply({"params": p}, **batch, train=True, rngs={"dropout": prng.fast_key(dropout_rng)})
            return out.loss.astype(jnp.float32)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        grads, grad_norm = clip_by_global_norm(grads, CLIP_NORM)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        params = jax.tree_util.tree_map(lambda p, u, m: p - (lr * m * u).astype(p.dtype), params, updates, self.multipliers)
        return params, opt_state, loss, grad_norm

    def train_step(self, batch: dict[str, np.ndarray], step: int) -> dict[str, float]:
        """One optimizer step; dropout keyed by (seed, step). Returns loss, lr and the
        gradient norm before clipping, as Python floats."""
        arrays = self._checked({k: batch[k] for k in INPUTS + LABELS if k in batch})
        lr = self.schedule(step)
        self.params, self.opt_state, loss, grad_norm = self._train(self.params, self.opt_state, arrays, jnp.float32(lr),
                                                                   self._key(step, "dropout"))
        return {"loss": float(loss), "lr": lr, "grad_norm": float(grad_norm)}

    # ------------------------------------------------------------------ predict
    def _predict_fn(self, params, batch):
        out = self.model.module.apply({"params": params}, **batch, train=False)
        if getattr(out, "logits", None) is not None:
            return {"logits": out.logits.astype(jnp.float32)}
        return {"start_logits": out.start_logits.astype(jnp.float32), "end_logits": out.end_logits.astype(jnp.float32)}

    def predict(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Eval mode, labels not needed: `logits`, or `start_logits`/`end_logits`, as float32 NumPy."""
        arrays = self._checked({k: batch[k] for k in INPUTS if k in batch})
        return {k: np.asarray(v) for k, v in jax.device_get(self._predict(self.params, arrays)).items()}

    def _checked(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        """The batch checked as the model checks a call (shapes, id and label ranges: the jitted
        step cannot, and JAX would clamp an index out of range), as int32 / float32 arrays."""
        arrays = {}
        for key, value in batch.items():
            value = np.asarray(value)
            arrays[key] = value.astype(np.float32 if np.issubdtype(value.dtype, np.floating) else np.int32)
        self.model._validate(dict(arrays), self.model.label_names)
        return {k: jnp.asarray(v) for k, v in arrays.items()}

    # ------------------------------------------------------------------ files and state
    def save(self, directory) -> None:
        """`save_pretrained(directory)`: HF files, config with id2label/label2id/problem_type."""
        self.model.params = jax.device_get(self.params)
        self.model.save_pretrained(directory)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Weights and optimizer moments as float32 NumPy, keyed `param/`, `adam_m/`, `adam_v/`
        + canonical name, in PyTorch layout (Linear weights (out, in))."""
        arrays = {}
        host = jax.device_get({"param": self.params, "adam_m": self.opt_state.mu, "adam_v": self.opt_state.nu})
        for prefix, tree in host.items():
            for name, value in hf_flax_to_canonical(tree).items():
                arrays[f"{prefix}/{name}"] = np.array(value, np.float32, order="C")  # kernels come transposed
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (also reads the PyTorch and TensorFlow trainers'): every
        parameter must be present with its shape, all checked before any is assigned;
        absent moments start at zero, as a fresh optimizer."""
        expected = {name: value.shape for name, value in hf_flax_to_canonical(jax.device_get(self.params)).items()}
        missing = sorted(f"param/{name}" for name in expected if f"param/{name}" not in arrays)
        if missing:
            raise ValueError(f"training checkpoint lacks {len(missing)} parameters, e.g. {missing[:3]}")
        trees = {}
        for prefix in ("param", "adam_m", "adam_v"):
            state = {}
            for name, shape in expected.items():
                key = f"{prefix}/{name}"
                value = np.asarray(arrays[key], np.float32) if key in arrays else np.zeros(shape, np.float32)
                if tuple(value.shape) != tuple(shape):
                    raise ValueError(f"training checkpoint {key} has shape {tuple(value.shape)}, model has {tuple(shape)}")
                state[name] = value
            trees[prefix] = jax.tree_util.tree_map(jnp.asarray, canonical_to_hf_flax(state, tie_word_embeddings=False))
        self.params = trees["param"]
        self.opt_state = ElectraAdamState(mu=trees["adam_m"], nu=trees["adam_v"])
