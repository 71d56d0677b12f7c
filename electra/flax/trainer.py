"""Replaced-token-detection pretraining in Flax: `ElectraPretrainer` and its trainer.

Mirrors `electra.pt.trainer`. The pretrainer's parameters are one tree
`{"discriminator": ..., "generator": ...}` holding ONE embeddings subtree,
`discriminator/electra/embeddings` (word, position and token-type tables and the embedding
LayerNorm); the generator's tree has no embeddings of its own and reads the shared ones
(so gradients from both losses add up in the one subtree), and its output layer is tied to
the shared word table (docs/pretraining-recipe.md, step 7).

The generator head runs only at the masked positions. As in every backend, the chosen
positions of each row are gathered into K slots (K = `max_predictions`, the row maximum
rounded up to a multiple of 8 when not given; unused slots are ignored), which gives the
same losses as the full (B, L, V) logits at a fraction of the cost with static shapes. The
Gumbel noise is counter-based (`electra.common.pretraining.noise`, in uint32), the same
numbers as in electra.pt and electra.tf.

Canonical names: `state_arrays` uses the PyTorch pretrainer's parameter names and layouts
("param/discriminator.electra.embeddings.word_embeddings.weight", Linear weights (out, in)),
so training checkpoints move between backends.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from electra.common import validation
from electra.common.config import ElectraConfig
from electra.common.outputs import ElectraPretrainerOutput
from electra.common.pretraining import noise, recipe
from electra.common.pretraining.masking import DEFAULT_MASK_PROB, IGNORE_INDEX, fixed_slots, max_predictions_for
from electra.common.pretraining.prefetch import StagedBatch
from electra.common.pretraining.schedule import CLIP_NORM, LinearSchedule
from electra.common.weights.layouts import canonical_to_hf_flax, hf_flax_to_canonical
from electra.flax import losses, prng
from electra.flax.optim import clip_by_global_norm, decay_mask, electra_adamw
from electra.flax.tasks import ElectraForMaskedLM, ElectraForPreTraining

# --precision -> the compute dtype (parameters and optimizer state stay float32). fp16 needs a
# loss scaler, which only the pt trainer has.
DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def check_precision(precision: str):
    """The compute dtype of `precision`, or a ValueError naming the choices."""
    if precision not in DTYPES:
        hint = " (fp16 needs a loss scaler: use bf16, or --backend pt)" if precision == "fp16" else ""
        raise ValueError(f"precision must be one of {', '.join(DTYPES)} in the flax backend, got {precision!r}{hint}")
    return DTYPES[precision]


# noise.gumbel_noise in uint32, whose products wrap modulo 2^32 by themselves.
JAX_OPS = noise.IntOps(operator.xor, operator.rshift, lambda x: x, lambda x: x.astype(jnp.float32), jnp.log)


def slot_noise(key: jax.Array, row_offset, B: int, K: int, V: int) -> jax.Array:
    """`noise.gumbel_noise` (B, K, V) of global rows row_offset .. row_offset + B - 1.

    `key`: uint32[2] (`noise.noise_key`); `row_offset`: an int or int array (traced is fine)."""
    key = jnp.asarray(key, jnp.uint32)
    rows = (jnp.arange(B, dtype=jnp.uint32) + jnp.asarray(row_offset).astype(jnp.uint32)).reshape(B, 1, 1)
    return noise.gumbel_noise(key[0], key[1], rows, jnp.arange(K, dtype=jnp.uint32).reshape(K, 1), jnp.arange(V, dtype=jnp.uint32), JAX_OPS)


def prediction_slots(mlm_labels: jax.Array, K: int) -> tuple[jax.Array, jax.Array]:
    """(positions (B, K), valid (B, K)): each row's chosen positions in increasing order, then
    unchosen ones marked invalid."""
    chosen = mlm_labels != IGNORE_INDEX  # (B, L)
    positions = jnp.argsort(~chosen, axis=1, stable=True)[:, :K]  # chosen first, in order
    return positions, jnp.take_along_axis(chosen, positions, axis=1)


def first_argmax(x: jax.Array) -> jax.Array:
    """`jnp.argmax(x, axis=-1)` (the first maximum) through `lax.top_k`. XLA fuses the
    elementwise work producing `x` (here the Gumbel noise: random bits and two logs) into an
    argmax's variadic reduction, where it does not vectorise: 5-6x slower on CPU for the
    (B, K, V) sampling. top_k reads a materialised `x` and keeps the lowest index among equal
    values, as argmax does."""
    return jax.lax.top_k(x, 1)[1][..., 0]


class ElectraPretrainer:
    """Generator + discriminator with shared embeddings.

    Args:
        discriminator_config, generator_config: the two networks (see
            `electra.common.config.generator_config`); they must agree on the embedding sizes.
        loss_weights: generator and discriminator loss weights (1 and 50 by default).
        temperature: sampling temperature of the generator.
        seed: initialises the parameters.
        prior: the discriminator's output bias starts at `recipe.prior_logit(prior)` (the
            masking rate by default); None keeps HF's zero.
        unscored_ids: token ids whose positions the discriminator's loss and metrics leave
            out (`electra pretrain` passes [CLS] and [SEP]; `recipe.scored_positions`); empty
            (the default) scores every attended position, as HF.
        precision: "fp32" or "bf16" (the compute dtype; parameters stay float32; sampling and
            losses are float32).
        gradient_checkpointing: recompute each layer in the backward pass.
    """

    objective = "rtd"

    def __init__(
        self,
        discriminator_config: ElectraConfig,
        generator_config: ElectraConfig,
        loss_weights: recipe.LossWeights = recipe.LossWeights(),
        temperature: float = 1.0,
        *,
        seed: int = 0,
        prior: float | None = DEFAULT_MASK_PROB,
        precision: str = "fp32",
        gradient_checkpointing: bool = False,
        unscored_ids: tuple[int, ...] = (),
    ):
        recipe.check_pair(discriminator_config, generator_config)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        kwargs = dict(dtype=check_precision(precision), gradient_checkpointing=gradient_checkpointing)
        self.discriminator = ElectraForPreTraining(discriminator_config, seed=seed, **kwargs)
        self.generator = ElectraForMaskedLM(generator_config, seed=seed + 1, **kwargs)
        if prior is not None:
            head = self.discriminator.params["discriminator_predictions"]["dense_prediction"]
            head["bias"] = jnp.full_like(head["bias"], recipe.prior_logit(prior))
        generator = dict(self.generator.params)
        generator["electra"] = {k: v for k, v in generator["electra"].items() if k != "embeddings"}
        self.params = {"discriminator": self.discriminator.params, "generator": generator}
        self.generator.params = self.discriminator.params = None  # the pretrainer's tree is the one copy
        self.loss_weights = loss_weights
        self.temperature = temperature
        self.unscored_ids = tuple(int(i) for i in unscored_ids)

    def scored(self, input_ids: jax.Array, attention_mask: jax.Array | None) -> jax.Array:
        """(B, L) bool: the attended positions less those of `unscored_ids` (`recipe.scored_positions`)."""
        scored = jnp.ones(jnp.shape(input_ids), bool) if attention_mask is None else jnp.asarray(attention_mask).astype(bool)
        for token in self.unscored_ids:
            scored = scored & (jnp.asarray(input_ids) != token)
        return scored

    @staticmethod
    def generator_params(params: dict) -> dict:
        """The generator's full tree: its own parameters plus the shared embeddings."""
        generator = params["generator"]
        shared = params["discriminator"]["electra"]["embeddings"]
        return {**generator, "electra": {**generator["electra"], "embeddings": shared}}

    def apply(self, params, input_ids, masked_ids, mlm_labels, attention_mask=None, token_type_ids=None,
              gumbel_noise=None, noise_key=None, dropout_rng=None, train: bool = False, max_predictions: int | None = None,
              row_offset=0):
        """One pretraining forward pass, a pure function of `params` (jit, grad).

        Args:
            input_ids: (B, L) original token ids.
            masked_ids: (B, L) the generator's input ([MASK] at most chosen positions).
            mlm_labels: (B, L) original id at the chosen positions, -100 elsewhere.
            attention_mask, token_type_ids: (B, L).
            gumbel_noise: (B, L, V) float32 noise to sample with (tests inject it); the
                counter-based noise of `noise_key` otherwise.
            noise_key: the step's two 32-bit key words (uint32[2], `noise.noise_key`).
            dropout_rng: a key for dropout (needed when `train`).
            max_predictions: K, static; default `max_predictions_for(mlm_labels)` (concrete labels).
            row_offset: index of these rows' first in the global batch (an int or traced):
                row b draws the noise of global row `row_offset + b`, so micro-batches sample
                what the whole batch does.
        Returns:
            `ElectraPretrainerOutput`; `generator_logits` (B, K, V) at the prediction slots.
        """
        K = max_predictions if max_predictions is not None else max_predictions_for(mlm_labels)
        gen_rng = disc_rng = None
        if dropout_rng is not None:
            gen_rng, disc_rng = jax.random.split(prng.fast_key(dropout_rng))
        positions, valid = prediction_slots(mlm_labels, K)  # (B, K)
        targets = jnp.where(valid, jnp.take_along_axis(mlm_labels, positions, axis=1), IGNORE_INDEX)

        def generator_logits(module):
            hidden = module.electra(masked_ids, attention_mask, token_type_ids, train=train).last_hidden_state  # (B, L, Hg)
            return module.lm_logits(jnp.take_along_axis(hidden, positions[..., None], axis=1))  # (B, K, V)

        gen_logits = self.generator.module.apply(
            {"params": self.generator_params(params)}, method=generator_logits,
            rngs={"dropout": gen_rng} if gen_rng is not None else {},
        )
        gen_loss = losses.masked_lm_loss(gen_logits, targets)

        logits32 = jax.lax.stop_gradient(gen_logits.astype(jnp.float32))
        if gumbel_noise is None:
            sample_noise = slot_noise(noise_key, row_offset, *logits32.shape)
        else:
            sample_noise = jnp.take_along_axis(jnp.asarray(gumbel_noise, jnp.float32), positions[..., None], axis=1)
        sampled = first_argmax(logits32 / self.temperature + sample_noise).astype(input_ids.dtype)  # (B, K)
        originals = jnp.take_along_axis(input_ids, positions, axis=1)
        rows = jnp.arange(input_ids.shape[0])[:, None]
        sampled_ids = input_ids.at[rows, positions].set(jnp.where(valid, sampled, originals))
        replaced = (sampled_ids != input_ids).astype(jnp.int32)  # (B, L)

        disc = self.discriminator.module.apply(
            {"params": params["discriminator"]}, sampled_ids, attention_mask, token_type_ids,
            train=train, rngs={"dropout": disc_rng} if disc_rng is not None else {},
        )
        attended = self.scored(input_ids, attention_mask)  # (B, L) the positions the loss and metrics count
        disc_loss = losses.replaced_token_detection_loss(disc.logits, replaced, attended.astype(jnp.int32))
        loss = self.loss_weights.generator * gen_loss + self.loss_weights.discriminator * disc_loss

        gen_predictions = jax.lax.stop_gradient(jnp.argmax(gen_logits, axis=-1))  # (B, K)
        predicted = jax.lax.stop_gradient(disc.logits) > 0
        truth = replaced.astype(bool)
        counts = jnp.stack([jnp.sum(mask, dtype=jnp.float32) for mask in (  # (7,) recipe.METRIC_COUNTS
            (gen_predictions == targets) & valid,
            valid,
            (predicted == truth) & attended,
            attended,
            predicted & truth & attended,
            predicted & attended,
            truth & attended,
        )])
        return ElectraPretrainerOutput(
            loss=loss,
            generator_loss=gen_loss,
            discriminator_loss=disc_loss,
            **recipe.metric_ratios(counts, jnp.maximum),
            generator_logits=gen_logits,
            discriminator_logits=disc.logits,
            sampled_ids=sampled_ids,
            replaced=replaced,
            metric_counts=counts,
            prediction_positions=positions,
            prediction_mask=valid,
        )

    def __call__(self, input_ids, masked_ids, mlm_labels, attention_mask=None, token_type_ids=None,
                 gumbel_noise=None, noise_key=None, *, params=None, dropout_rng=None, train: bool = False):
        """`apply` on concrete inputs, checked first (K from the labels)."""
        config = self.discriminator.config
        arrays = dict(input_ids=input_ids, masked_ids=masked_ids, mlm_labels=mlm_labels,
                      attention_mask=attention_mask, token_type_ids=token_type_ids)
        arrays = {k: None if v is None else np.asarray(v) for k, v in arrays.items()}
        B, L = validation.check_inputs(config, input_ids=arrays["input_ids"].shape,
                                       attention_mask=None if attention_mask is None else arrays["attention_mask"].shape,
                                       token_type_ids=None if token_type_ids is None else arrays["token_type_ids"].shape)
        for name in ("masked_ids", "mlm_labels"):
            validation.check_labels(name, arrays[name].shape, (B, L))
        for name in ("input_ids", "masked_ids"):
            validation.check_range(name, int(arrays[name].min()), int(arrays[name].max()), config.vocab_size, "vocab_size")
        if gumbel_noise is not None:
            validation.check_labels("gumbel_noise", np.shape(gumbel_noise), (B, L, config.vocab_size))
        elif noise_key is None:
            raise ValueError("pass gumbel_noise or a noise_key (two 32-bit words, noise.noise_key) to sample the replacements")
        if train and dropout_rng is None:
            raise ValueError("train=True needs a dropout_rng (a jax.random key)")
        K = max_predictions_for(arrays["mlm_labels"])
        inputs = {k: None if v is None else jnp.asarray(v, jnp.int32) for k, v in arrays.items()}
        return self.apply(self.params if params is None else params, **inputs, gumbel_noise=gumbel_noise, noise_key=noise_key,
                          dropout_rng=dropout_rng, train=train, max_predictions=K)

    def export(self, directory: Path, params: dict) -> None:
        """Write `discriminator/` and `generator/` in canonical format (HF-loadable) from the trained `params`."""
        for name, model, tree in (
            ("discriminator", self.discriminator, params["discriminator"]),
            ("generator", self.generator, self.generator_params(params)),
        ):
            model.params = tree
            try:
                model.save_pretrained(Path(directory) / name)
            finally:
                model.params = None


class MaskedLMPretrainer:
    """The paper's masked-LM baseline (`electra pretrain --objective mlm`): one
    `ElectraForMaskedLM` of the discriminator's size, its output layer tied to the word table,
    trained on the same masked batches as `ElectraPretrainer` without a generator.

    Mirrors `electra.pt.trainer.MaskedLMPretrainer`: `apply` takes the pretrainer's arguments
    and returns its output type (`discriminator_loss` 0, the discriminator's metric counts 0);
    the parameters are one tree `{"mlm": ...}`; `export` writes `mlm/`. The head runs at the
    K prediction slots, as the generator's does.

    Args:
        config: the network (a discriminator's config).
        seed: initialises the parameters.
        precision, gradient_checkpointing: as `ElectraPretrainer`'s.
    """

    objective = "mlm"
    loss_weights = recipe.LossWeights(generator=1.0, discriminator=0.0)
    unscored_ids = ()  # no discriminator: the trainer's token count is the attended tokens'
    scored = ElectraPretrainer.scored

    def __init__(self, config: ElectraConfig, *, seed: int = 0, precision: str = "fp32", gradient_checkpointing: bool = False):
        if not config.tie_word_embeddings:
            raise ValueError("the masked-LM network's output layer must be tied to its word embeddings (tie_word_embeddings=True)")
        self.mlm = ElectraForMaskedLM(config, seed=seed, dtype=check_precision(precision), gradient_checkpointing=gradient_checkpointing)
        self.params = {"mlm": self.mlm.params}
        self.mlm.params = None  # the pretrainer's tree is the one copy

    def apply(self, params, input_ids, masked_ids, mlm_labels, attention_mask=None, token_type_ids=None,
              gumbel_noise=None, noise_key=None, dropout_rng=None, train: bool = False, max_predictions: int | None = None,
              row_offset=0):
        """`ElectraPretrainer.apply`'s arguments and output; nothing is sampled, so `input_ids`,
        `gumbel_noise`, `noise_key` and `row_offset` are unused. `generator_logits` (B, K, V) at the prediction slots."""
        K = max_predictions if max_predictions is not None else max_predictions_for(mlm_labels)
        positions, valid = prediction_slots(mlm_labels, K)  # (B, K)
        targets = jnp.where(valid, jnp.take_along_axis(mlm_labels, positions, axis=1), IGNORE_INDEX)

        def slot_logits(module):
            hidden = module.electra(masked_ids, attention_mask, token_type_ids, train=train).last_hidden_state  # (B, L, H)
            return module.lm_logits(jnp.take_along_axis(hidden, positions[..., None], axis=1))  # (B, K, V)

        logits = self.mlm.module.apply({"params": params["mlm"]}, method=slot_logits,
                                       rngs={"dropout": prng.fast_key(dropout_rng)} if dropout_rng is not None else {})
        loss = losses.masked_lm_loss(logits, targets)
        predictions = jax.lax.stop_gradient(jnp.argmax(logits, axis=-1))  # (B, K)
        counts = jnp.zeros(len(recipe.METRIC_COUNTS), jnp.float32)
        counts = counts.at[0].set(jnp.sum((predictions == targets) & valid, dtype=jnp.float32)).at[1].set(jnp.sum(valid, dtype=jnp.float32))
        return ElectraPretrainerOutput(
            loss=loss,
            generator_loss=loss,
            discriminator_loss=jnp.zeros((), jnp.float32),
            generator_accuracy=counts[0] / counts[1],
            generator_logits=logits,
            metric_counts=counts,
        )

    def export(self, directory: Path, params: dict) -> None:
        """Write `mlm/` in canonical format (HF-loadable) from the trained `params`."""
        self.mlm.params = params["mlm"]
        try:
            self.mlm.save_pretrained(Path(directory) / "mlm")
        finally:
            self.mlm.params = None


def data_parallel_mesh(devices=None) -> Mesh:
    """A one-axis ("data") mesh over `devices` (default: every device); batches split along it."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


class DataParallelWorkers:
    """The workers of a data-parallel run: a mesh over every JAX device, across hosts after
    `jax.distributed.initialize()` (called when JAX_COORDINATOR_ADDRESS is set).
    `trainer_args` go to `PretrainingTrainer`; only the chief (process 0) writes files."""

    def __init__(self):
        if os.environ.get("JAX_COORDINATOR_ADDRESS"):
            jax.distributed.initialize()
        self.is_chief = jax.process_index() == 0
        mesh = data_parallel_mesh()
        self.replicas = mesh.size
        self.trainer_args = {"mesh": mesh}

    def barrier(self) -> None:
        """Wait for every process (after the chief has written the shared files)."""
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("electra-pretrain")


class PretrainingTrainer:
    """Optimizer, schedule and per-step randomness around an `ElectraPretrainer`.

    The backend-neutral loop (`electra.commands.pretrain`) calls `train_step`, `evaluate`,
    `state_arrays`/`load_state_arrays` and `export`; arrays cross the boundary as NumPy.
    Every random draw of step k comes from `recipe.step_seed(seed, k, ...)`, so a resumed
    run repeats the uninterrupted one exactly.

    Args:
        mesh: optional device mesh (`data_parallel_mesh`) for data parallelism: parameters
            and optimizer state replicated, batches split along the mesh's first axis (the
            global batch size must divide by its size). The step computes the same global
            mean loss as on one device.
        max_predictions: the most masked positions a row can have (the masking's cap). Given,
            every batch uses the same K (it rounded up to a multiple of 8), so the train and
            evaluation steps compile once; a batch with more raises ValueError. Without it, K
            follows each batch (`max_predictions_for`) and every new K compiles again.
        grad_accum: the batch runs as this many micro-batches whose gradients add up before
            the one optimizer step (equal to the whole batch at once with dropout off; the
            noise is a function of each row's index in the whole batch).
    """

    def __init__(self, pretrainer: ElectraPretrainer, schedule: LinearSchedule, *, seed: int = 0,
                 clip_norm: float = CLIP_NORM, mesh: Mesh | None = None, max_predictions: int | None = None, grad_accum: int = 1):
        if max_predictions is not None and max_predictions < 1:
            raise ValueError(f"max_predictions must be >= 1, got {max_predictions}")
        if grad_accum < 1:
            raise ValueError(f"grad_accum must be >= 1, got {grad_accum}")
        self.grad_accum = grad_accum
        self.max_predictions = max_predictions
        self.model = pretrainer
        self.schedule = schedule
        self.seed = seed
        self.clip_norm = clip_norm
        self.mesh = mesh
        self.optimizer = electra_adamw(decay_mask(pretrainer.params))
        # A copy: the jitted step donates its buffers, and the pretrainer keeps its own.
        self.params = self._replicate(jax.tree_util.tree_map(jnp.array, pretrainer.params))
        self.opt_state = self._replicate(self.optimizer.init(pretrainer.params))
        self._train = jax.jit(self._train_fn, static_argnames=("max_predictions",), donate_argnums=(0, 1))
        self._eval = jax.jit(self._eval_fn, static_argnames=("max_predictions",))

    # ------------------------------------------------------------------ placement
    def _replicate(self, tree):
        if self.mesh is None:
            return tree
        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec()))

    def _batch(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        arrays = {k: np.asarray(v, np.int32) for k, v in batch.items()}
        if self.mesh is None:
            return {k: jnp.asarray(v) for k, v in arrays.items()}
        size = self.mesh.devices.size
        B = next(iter(arrays.values())).shape[0]
        if B % size:
            raise ValueError(f"batch size {B} must divide by the number of devices in the mesh ({size})")
        sharding = NamedSharding(self.mesh, PartitionSpec(self.mesh.axis_names[0]))
        return {k: jax.device_put(v, sharding) for k, v in arrays.items()}

    def stage(self, batch: dict[str, np.ndarray]) -> StagedBatch:
        """The batch on the device (sharded over the mesh) ahead of its step, where the
        prefetching thread calls it (`electra pretrain --prefetch`): `jax.device_put` is
        asynchronous, so the copy overlaps the running step. `train_step` and `evaluate` take it
        as they take the NumPy batch."""
        return StagedBatch(batch, self._batch(batch))

    def _on_device(self, batch: dict) -> dict[str, jax.Array]:
        return batch.device if isinstance(batch, StagedBatch) else self._batch(batch)

    def _slots(self, mlm_labels: np.ndarray) -> int:
        """K for this batch (`masking.fixed_slots`: one shape for every step when the trainer knows `max_predictions`)."""
        return fixed_slots(mlm_labels, self.max_predictions)

    def _key(self, step: int, stream: str) -> jax.Array:
        return prng.key(recipe.step_seed(self.seed, step, stream) & 0x7FFFFFFF)

    def _noise_key(self, step: int, stream: str) -> jax.Array:
        return self._replicate(jnp.asarray(noise.noise_key(self.seed, step, stream), jnp.uint32))

    # ------------------------------------------------------------------ steps
    def _train_fn(self, params, opt_state, batch, lr, noise_key, dropout_rng, max_predictions):
        B = batch["input_ids"].shape[0]
        micro = B // self.grad_accum
        weights = self.model.loss_weights

        def counts(part):  # (chosen positions, scored tokens)
            return jnp.stack([jnp.sum(part["mlm_labels"] != IGNORE_INDEX, dtype=jnp.float32),
                              jnp.sum(self.model.scored(part["input_ids"], part["attention_mask"]), dtype=jnp.float32)])

        total = counts(batch)
        grads, sums = None, 0.0
        # `grad_accum` micro-batches (unrolled); each loss is its share of the whole batch's mean,
        # and each row draws the noise of its index in the whole batch.
        for i in range(self.grad_accum):
            part = {k: v[i * micro:(i + 1) * micro] for k, v in batch.items()}
            share = counts(part) / total

            def loss_fn(p, part=part, share=share, i=i):
                out = self.model.apply(p, **part, noise_key=noise_key, train=True, max_predictions=max_predictions,
                                       dropout_rng=dropout_rng if i == 0 else jax.random.fold_in(dropout_rng, i),
                                       row_offset=i * micro)
                shares = (out.generator_loss * share[0], out.discriminator_loss * share[1])
                return weights.generator * shares[0] + weights.discriminator * shares[1], (out, shares)

            (loss, (out, shares)), part_grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            grads = part_grads if grads is None else jax.tree_util.tree_map(jnp.add, grads, part_grads)
            # The losses (shares of the whole batch's means) and the metric counts add up over the parts.
            sums += jnp.concatenate([jnp.stack([loss, *shares]).astype(jnp.float32), out.metric_counts])
        grads, grad_norm = clip_by_global_norm(grads, self.clip_norm)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        params = jax.tree_util.tree_map(lambda p, u: p - (lr * u).astype(p.dtype), params, updates)
        # The whole batch's losses and metric counts (summed over the mesh by XLA), then grad_norm: (10,).
        return params, opt_state, jnp.concatenate([sums, grad_norm.astype(jnp.float32)[None]])

    def train_step(self, batch: dict[str, np.ndarray], step: int) -> recipe.StepMetrics:
        """One optimizer step on a masked batch (input_ids, masked_ids, mlm_labels, attention_mask,
        token_type_ids); its metrics stay on the device until read (`recipe.StepMetrics`)."""
        lr = self.schedule(step)
        K = self._slots(batch["mlm_labels"])
        rows = len(batch["input_ids"])
        devices = 1 if self.mesh is None else self.mesh.devices.size
        if rows % self.grad_accum or (rows // self.grad_accum) % devices:
            raise ValueError(f"--grad-accum {self.grad_accum} must divide the {rows} rows of the batch into micro-batches "
                             f"that divide by the {devices} device(s)")
        self.params, self.opt_state, values = self._train(
            self.params, self.opt_state, self._on_device(batch), jnp.float32(lr),
            self._noise_key(step, "gumbel"), self._key(step, "dropout"), max_predictions=K,
        )
        return recipe.StepMetrics(values, lambda v: jax.device_get(v).tolist(), lr)  # read from the device when looked at

    def _eval_fn(self, params, batch, noise_key, max_predictions):
        out = self.model.apply(params, **batch, noise_key=noise_key, max_predictions=max_predictions)
        positions, valid = prediction_slots(batch["mlm_labels"], max_predictions)
        targets = jnp.take_along_axis(batch["mlm_labels"], positions, axis=1)
        correct = jnp.argmax(out.generator_logits, axis=-1) == targets  # (B, K)
        # None for a MaskedLMPretrainer, which has no discriminator.
        return out.discriminator_logits, out.replaced, correct, valid, out.generator_loss, out.discriminator_loss

    def evaluate(self, batch: dict[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
        """Held-out forward without dropout: the generator's (or masked-LM network's) hits and
        loss, and for replaced-token detection the discriminator's scores and labels for AUC."""
        K = self._slots(batch["mlm_labels"])
        scores, replaced, correct, valid, gen_loss, disc_loss = jax.device_get(
            self._eval(self.params, self._on_device(batch), self._noise_key(step, "eval-gumbel"), max_predictions=K)
        )
        result = {"generator_correct": np.asarray(correct)[np.asarray(valid)], "generator_loss": np.float64(gen_loss)}
        if self.model.objective == "mlm":
            return result
        return result | {
            "scores": np.asarray(scores, np.float32),
            "replaced": np.asarray(replaced),
            "valid": recipe.scored_positions(batch["input_ids"], batch["attention_mask"], self.model.unscored_ids),
            "discriminator_loss": np.float64(disc_loss),
        }

    # ------------------------------------------------------------------ state
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Weights and optimizer moments as NumPy, keyed by the PyTorch pretrainer's parameter
        names in canonical layout (shared ones once)."""
        arrays = {}
        host = jax.device_get({"param": self.params, "adam_m": self.opt_state.mu, "adam_v": self.opt_state.nu})
        for prefix, tree in host.items():
            for name, value in hf_flax_to_canonical(tree).items():
                arrays[f"{prefix}/{name}"] = np.array(value, np.float32, order="C")  # kernels come transposed
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `state_arrays` (also reads the PyTorch trainer's); every parameter must
        be present with its shape. Absent moments start at zero, as a fresh optimizer."""
        expected = {name: value.shape for name, value in hf_flax_to_canonical(jax.device_get(self.params)).items()}
        missing = sorted(f"param/{n}" for n in expected if f"param/{n}" not in arrays)
        if missing:
            raise ValueError(f"training checkpoint lacks {len(missing)} parameters, e.g. {missing[:3]}")
        trees = {}
        for prefix in ("param", "adam_m", "adam_v"):
            state = {}
            for name, shape in expected.items():
                key = f"{prefix}/{name}"
                value = arrays.get(key)
                if value is None:
                    value = np.zeros(shape, np.float32)
                elif tuple(value.shape) != tuple(shape):
                    raise ValueError(f"training checkpoint {key} has shape {value.shape}, model has {tuple(shape)}")
                state[name] = np.asarray(value, np.float32)
            trees[prefix] = jax.tree_util.tree_map(jnp.asarray, canonical_to_hf_flax(state, tie_word_embeddings=False))
        self.params = self._replicate(trees["param"])
        self.opt_state = self._replicate(type(self.opt_state)(mu=trees["adam_m"], nu=trees["adam_v"]))

    def export(self, directory: Path) -> None:
        """Write the trained networks in canonical format (HF-loadable): `discriminator/` and
        `generator/`, or `mlm/` for a `MaskedLMPretrainer`."""
        self.model.export(directory, jax.device_get(self.params))


__all__ = ["ElectraPretrainer", "MaskedLMPretrainer", "PretrainingTrainer", "data_parallel_mesh", "max_predictions_for", "prediction_slots"]
