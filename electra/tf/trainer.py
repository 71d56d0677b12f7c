"""Replaced-token-detection pretraining in TensorFlow/Keras 3: `ElectraPretrainer` and its trainer.

Mirrors `electra.pt.trainer`. `ElectraPretrainer` pairs a generator
(`ElectraForMaskedLM`) and a discriminator (`ElectraForPreTraining`) that share one
`ElectraEmbeddings` layer (word, position and token-type tables and the embedding
LayerNorm), with the generator's output layer reading the shared word table
(docs/pretraining-recipe.md, step 7). The generator head runs only at K prediction slots per
row (each row's chosen positions, gathered: static shapes); the Gumbel noise is
counter-based (`electra.common.pretraining.noise`), the same numbers as in electra.pt and
electra.flax.

Training checkpoints (`state_arrays`) use the PyTorch parameter names and layouts
(`param/discriminator.electra.embeddings.word_embeddings.weight`, Linear weights (out, in)),
so a run can be resumed in either backend.

Data parallelism: `PretrainingTrainer(..., strategy=tf.distribute.MirroredStrategy())`
(or `MultiWorkerMirroredStrategy`) splits each global batch over the replicas, normalises
both losses by the global counts and draws each row's Gumbel noise from its index in the
global batch, so a 2-way step equals the 1-way step on the same global batch (with dropout
off; with dropout on, the masks differ as the per-replica shapes do).
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from electra.common.config import ElectraConfig
from electra.common.outputs import ElectraPretrainerOutput
from electra.common.pretraining import noise, recipe
from electra.common.pretraining.masking import DEFAULT_MASK_PROB, IGNORE_INDEX, fixed_slots, max_predictions_for
from electra.common.pretraining.schedule import CLIP_NORM, LinearSchedule
from electra.tf import losses
from electra.tf.optim import ElectraAdamW
from electra.tf.tasks import ElectraForMaskedLM, ElectraForPreTraining

# --precision -> the Keras dtype policy the networks are built under (parameters stay float32).
# fp16 needs a loss scaler, which only the pt trainer has.
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16"}


def check_precision(precision: str) -> str:
    """The Keras policy of `precision`, or a ValueError naming the choices."""
    if precision not in POLICIES:
        hint = " (fp16 needs a loss scaler: use bf16, or --backend pt)" if precision == "fp16" else ""
        raise ValueError(f"precision must be one of {', '.join(POLICIES)} in the tf backend, got {precision!r}{hint}")
    return POLICIES[precision]


# noise.gumbel_noise in int64, keeping the low 32 bits after each product.
TF_OPS = noise.IntOps(tf.bitwise.bitwise_xor, tf.bitwise.right_shift, lambda x: tf.bitwise.bitwise_and(x, tf.constant(noise.MASK32, tf.int64)),
                      lambda x: tf.cast(x, tf.float32), tf.math.log)


def prediction_slots(mlm_labels: tf.Tensor, K: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(positions (B, K) int32, valid (B, K)): each row's chosen positions in increasing order,
    then unchosen ones marked invalid (a stable sort; no data-dependent shape)."""
    chosen = tf.not_equal(mlm_labels, IGNORE_INDEX)  # (B, L)
    positions = tf.argsort(tf.cast(~chosen, tf.int32), axis=1, stable=True)[:, :K]
    return positions, tf.gather(chosen, positions, batch_dims=1)


def slot_noise(key: tf.Tensor, row_offset, B, K: int, V: int) -> tf.Tensor:
    """`noise.gumbel_noise` (B, K, V) of global rows row_offset .. row_offset + B - 1.

    `key`: (2,) int64 tensor (`noise.noise_key`); `row_offset` and `B`: ints or int tensors."""
    key = tf.cast(key, tf.int64)
    rows = tf.reshape(tf.range(B, dtype=tf.int64) + tf.cast(row_offset, tf.int64), (-1, 1, 1))
    slots = tf.reshape(tf.range(K, dtype=tf.int64), (K, 1))
    return noise.gumbel_noise(key[0], key[1], rows, slots, tf.range(V, dtype=tf.int64), TF_OPS)


@contextlib.contextmanager
def construction(seed: int | None, policy: str = "float32"):
    """Seed Python's `random` (what Keras initialisers draw from; None leaves it) and set the
    dtype policy for a model's construction only, restoring both after."""
    state, previous = random.getstate(), keras.mixed_precision.global_policy()
    try:
        if seed is not None:
            random.seed(recipe.step_seed(seed, 0, "init") % 2**31)
        keras.mixed_precision.set_global_policy(policy)
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
        random.setstate(state)


class ElectraPretrainer(keras.Model):
    """Generator + discriminator with shared embeddings.

    Args:
        discriminator_config, generator_config: the two networks (see
            `electra.common.config.generator_config`); they must agree on the embedding sizes.
        loss_weights: generator and discriminator loss weights (1 and 50 by default).
        temperature: sampling temperature of the generator.
        seed: seeds the weight initialisation (without touching the global Python, NumPy
            or TF RNGs); None draws from Python's global `random`.
        prior: the discriminator's output bias starts at `recipe.prior_logit(prior)` (the
            masking rate by default); None keeps HF's zero.
        unscored_ids: token ids whose positions the discriminator's loss and metrics leave
            out (`electra pretrain` passes [CLS] and [SEP]; `recipe.scored_positions`); empty
            (the default) scores every attended position, as HF.
        precision: "fp32" or "bf16" (the networks built under Keras' mixed_bfloat16 policy:
            bfloat16 compute, float32 variables; sampling and losses float32).
    """

    objective = "rtd"

    def __init__(
        self,
        discriminator_config: ElectraConfig,
        generator_config: ElectraConfig,
        loss_weights: recipe.LossWeights = recipe.LossWeights(),
        temperature: float = 1.0,
        seed: int | None = None,
        prior: float | None = DEFAULT_MASK_PROB,
        precision: str = "fp32",
        unscored_ids: tuple[int, ...] = (),
        **kwargs,
    ):
        super().__init__(**kwargs)
        recipe.check_pair(discriminator_config, generator_config)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        # Keras initialisers draw their seeds from Python's `random` when constructed: seed it
        # for the construction only (as pt's fork_rng), leaving the global state as it was.
        with construction(seed, check_precision(precision)):
            self.discriminator = ElectraForPreTraining(discriminator_config, name="discriminator")
            self.generator = ElectraForMaskedLM(generator_config, name="generator")
        # One embeddings layer in both networks (tables and LayerNorm); the generator head
        # reads `electra.embeddings.word_embeddings` at call time, so it follows.
        self.generator.electra.embeddings = self.discriminator.electra.embeddings
        self.loss_weights = loss_weights
        self.temperature = temperature
        self.seed = seed
        self.prior = prior
        self.unscored_ids = tuple(int(i) for i in unscored_ids)

    def scored(self, input_ids, attention_mask) -> tf.Tensor:
        """(B, L) bool: the attended positions less those of `unscored_ids` (`recipe.scored_positions`)."""
        scored = tf.ones_like(input_ids, tf.bool) if attention_mask is None else tf.cast(attention_mask, tf.bool)
        for token in self.unscored_ids:
            scored = scored & tf.not_equal(input_ids, tf.cast(token, input_ids.dtype))
        return scored

    def build(self, input_shape=None):
        self.discriminator.build()
        self.generator.build()
        if self.prior is not None:
            bias = self.discriminator.discriminator_predictions.dense_prediction.bias
            bias.assign(tf.fill(bias.shape, tf.constant(recipe.prior_logit(self.prior), bias.dtype)))
        self.built = True

    def named_variables(self) -> list[tuple[str, keras.Variable, bool]]:
        """(PyTorch parameter name, variable, transposed) for every variable, shared ones
        once under the discriminator (the names `electra.pt`'s `named_parameters` gives)."""
        if not self.built:
            self.build()
        named, seen = [], set()
        for prefix, model in (("discriminator.", self.discriminator), ("generator.", self.generator)):
            for key, (variable, transposed) in model.canonical_variables().items():
                if id(variable) not in seen:
                    seen.add(id(variable))
                    named.append((prefix + key, variable, transposed))
        return named

    def call(
        self,
        input_ids,
        masked_ids,
        mlm_labels,
        attention_mask=None,
        token_type_ids=None,
        gumbel_noise=None,
        noise_key=None,
        row_offset=0,
        max_predictions=None,
        training=False,
    ) -> ElectraPretrainerOutput:
        """One pretraining forward pass.

        Args:
            input_ids: (B, L) original token ids.
            masked_ids: (B, L) the generator's input ([MASK] at most chosen positions).
            mlm_labels: (B, L) original id at the chosen positions, -100 elsewhere.
            attention_mask, token_type_ids: (B, L).
            gumbel_noise: (B, L, V) float32 noise to sample with (tests inject it); the
                counter-based noise of `noise_key` otherwise.
            noise_key: the step's two 32-bit key words ((2,) int64, `noise.noise_key`; None:
                drawn from the global generator).
            row_offset: index of this batch's first row in the global batch (an int or int
                tensor): row b draws the noise of global row `row_offset + b`, so replicas and
                micro-batches sample what the whole batch does.
            max_predictions: K, the prediction slots per row (a Python int); default
                `masking.max_predictions_for` of the (eager) labels.
        Returns:
            `ElectraPretrainerOutput` with the losses, metrics, `sampled_ids` (B, L),
            `replaced` (B, L), and `generator_logits` (B, K, V) at the prediction slots.
        """
        input_ids = tf.convert_to_tensor(input_ids)
        mlm_labels = tf.convert_to_tensor(mlm_labels)
        K = max_predictions_for(mlm_labels.numpy()) if max_predictions is None else max_predictions
        positions, valid = prediction_slots(mlm_labels, K)  # (B, K)
        hidden = self.generator.electra(masked_ids, attention_mask, token_type_ids, training=training).last_hidden_state  # (B, L, Hg)
        gen_logits = tf.cast(self.generator.lm_logits(tf.gather(hidden, positions, batch_dims=1)), tf.float32)  # (B, K, V)
        targets = tf.where(valid, tf.cast(tf.gather(mlm_labels, positions, batch_dims=1), tf.int32), IGNORE_INDEX)  # (B, K)
        gen_loss = losses.masked_lm_loss(gen_logits, targets)

        B, V = tf.shape(gen_logits)[0], tf.shape(gen_logits)[2]
        if gumbel_noise is None:
            if noise_key is None:
                noise_key = tf.bitwise.bitwise_and(tf.random.get_global_generator().uniform_full_int((2,), tf.int64), noise.MASK32)
            sample_noise = slot_noise(noise_key, row_offset, B, K, V)
        else:
            sample_noise = tf.gather(tf.cast(gumbel_noise, tf.float32), positions, batch_dims=1)
        sampled = tf.argmax(tf.stop_gradient(gen_logits) / self.temperature + sample_noise, axis=-1, output_type=tf.int32)  # (B, K)
        originals = tf.gather(input_ids, positions, batch_dims=1)
        sampled = tf.where(valid, tf.cast(sampled, input_ids.dtype), originals)
        rows = tf.broadcast_to(tf.range(B)[:, None], tf.shape(positions))
        sampled_ids = tf.tensor_scatter_nd_update(input_ids, tf.stack([rows, positions], -1), sampled)
        replaced = tf.cast(tf.not_equal(sampled_ids, input_ids), tf.int32)  # (B, L)

        disc = self.discriminator(sampled_ids, attention_mask, token_type_ids, training=training)
        scored = self.scored(input_ids, attention_mask)  # (B, L) the positions the loss and metrics count
        disc_loss = losses.replaced_token_detection_loss(disc.logits, replaced, tf.cast(scored, tf.int32))
        loss = self.loss_weights.generator * gen_loss + self.loss_weights.discriminator * disc_loss

        predicted = tf.stop_gradient(disc.logits) > 0
        truth = tf.cast(replaced, tf.bool)
        counts = tf.stack([tf.reduce_sum(tf.cast(mask, tf.float32)) for mask in (  # (7,) recipe.METRIC_COUNTS
            tf.equal(tf.argmax(gen_logits, -1, output_type=tf.int32), targets) & valid,
            valid,
            tf.equal(predicted, truth) & scored,
            scored,
            predicted & truth & scored,
            predicted & scored,
            truth & scored,
        )])
        return ElectraPretrainerOutput(
            loss=loss,
            generator_loss=gen_loss,
            discriminator_loss=disc_loss,
            **recipe.metric_ratios(counts, tf.maximum),
            generator_logits=gen_logits,
            discriminator_logits=disc.logits,
            sampled_ids=sampled_ids,
            replaced=replaced,
            metric_counts=counts,
            prediction_positions=positions,
            prediction_mask=valid,
        )

    def export(self, directory: Path) -> None:
        """Write `discriminator/` and `generator/` in canonical format (HF-loadable)."""
        self.discriminator.save_pretrained(Path(directory) / "discriminator")
        self.generator.save_pretrained(Path(directory) / "generator")


class MaskedLMPretrainer(keras.Model):
    """The paper's masked-LM baseline (`electra pretrain --objective mlm`): one
    `ElectraForMaskedLM` of the discriminator's size, its output layer reading its word table,
    trained on the same masked batches as `ElectraPretrainer` without a generator.

    Mirrors `electra.pt.trainer.MaskedLMPretrainer`: the call takes the pretrainer's inputs and
    returns its output type (`discriminator_loss` 0, the discriminator's metric counts 0);
    `export` writes `mlm/`.

    Args:
        config: the network (a discriminator's config).
        seed, precision: as `ElectraPretrainer`'s.
    """

    objective = "mlm"
    loss_weights = recipe.LossWeights(generator=1.0, discriminator=0.0)
    unscored_ids = ()  # no discriminator: the trainer's token count is the attended tokens'
    scored = ElectraPretrainer.scored

    def __init__(self, config: ElectraConfig, seed: int | None = None, precision: str = "fp32", **kwargs):
        super().__init__(**kwargs)
        if not config.tie_word_embeddings:
            raise ValueError("the masked-LM network's output layer must be tied to its word embeddings (tie_word_embeddings=True)")
        with construction(seed, check_precision(precision)):
            self.mlm = ElectraForMaskedLM(config, name="mlm")

    def build(self, input_shape=None):
        self.mlm.build()
        self.built = True

    def named_variables(self) -> list[tuple[str, keras.Variable, bool]]:
        """(PyTorch parameter name, variable, transposed) for every variable (`mlm.` names)."""
        if not self.built:
            self.build()
        return [("mlm." + key, variable, transposed) for key, (variable, transposed) in self.mlm.canonical_variables().items()]

    def call(self, input_ids, masked_ids, mlm_labels, attention_mask=None, token_type_ids=None, gumbel_noise=None,
             noise_key=None, row_offset=0, max_predictions=None, training=False) -> ElectraPretrainerOutput:
        """`ElectraPretrainer.call`'s arguments; nothing is sampled, so the noise arguments are
        unused. `generator_logits` (B, K, V) at the prediction slots."""
        mlm_labels = tf.convert_to_tensor(mlm_labels)
        K = max_predictions_for(mlm_labels.numpy()) if max_predictions is None else max_predictions
        positions, valid = prediction_slots(mlm_labels, K)  # (B, K)
        hidden = self.mlm.electra(masked_ids, attention_mask, token_type_ids, training=training).last_hidden_state  # (B, L, H)
        logits = tf.cast(self.mlm.lm_logits(tf.gather(hidden, positions, batch_dims=1)), tf.float32)  # (B, K, V)
        targets = tf.where(valid, tf.cast(tf.gather(mlm_labels, positions, batch_dims=1), tf.int32), IGNORE_INDEX)  # (B, K)
        loss = losses.masked_lm_loss(logits, targets)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), targets) & valid, tf.float32))
        masked = tf.reduce_sum(tf.cast(valid, tf.float32))
        counts = tf.concat([tf.stack([correct, masked]), tf.zeros([len(recipe.METRIC_COUNTS) - 2])], 0)
        return ElectraPretrainerOutput(
            loss=loss,
            generator_loss=loss,
            discriminator_loss=tf.zeros(()),
            generator_accuracy=correct / masked,
            generator_logits=logits,
            metric_counts=counts,
            prediction_positions=positions,
            prediction_mask=valid,
        )

    def export(self, directory: Path) -> None:
        """Write `mlm/` in canonical format (HF-loadable)."""
        self.mlm.save_pretrained(Path(directory) / "mlm")


_INPUTS = ("input_ids", "masked_ids", "mlm_labels", "attention_mask", "token_type_ids")


def _seed(seed: int, step: int, stream: str) -> tf.Tensor:
    """(2,) int64: the two 32-bit words of `recipe.step_seed` (a stateless seed; the noise key of `noise.noise_key`)."""
    return tf.constant(noise.noise_key(seed, step, stream), tf.int64)


class DataParallelWorkers:
    """The workers of a data-parallel run: `MultiWorkerMirroredStrategy` over the workers
    named in `TF_CONFIG` when it is set, else `MirroredStrategy` over the visible devices
    of this process. `trainer_args` go to `PretrainingTrainer`; only the chief writes files."""

    def __init__(self):
        if os.environ.get("TF_CONFIG"):
            self.strategy = tf.distribute.MultiWorkerMirroredStrategy()
            self.is_chief = self.strategy.cluster_resolver.task_id == 0
        else:
            self.strategy = tf.distribute.MirroredStrategy()
            self.is_chief = True
        self.replicas = self.strategy.num_replicas_in_sync
        self.trainer_args = {"strategy": self.strategy}

    def barrier(self) -> None:
        """Wait for every worker (after the chief has written the shared files): a sum over
        all replicas completes only once every worker has joined it."""
        self.strategy.reduce(tf.distribute.ReduceOp.SUM, self.strategy.run(lambda: tf.constant(1.0)), axis=None)


class PretrainingTrainer:
    """Optimizer, schedule and per-step randomness around an `ElectraPretrainer`.

    The backend-neutral loop (`electra.commands.pretrain`) calls `train_step`, `evaluate`,
    `state_arrays`/`load_state_arrays` and `export`; arrays cross the boundary as NumPy.
    Every random draw of step k comes from `recipe.step_seed(seed, k, ...)` (Gumbel noise
    from a stateless seed, dropout by resetting each Dropout layer's seed state), so a
    resumed run repeats the uninterrupted one exactly.

    Args:
        strategy: a `tf.distribute.Strategy` (e.g. `MirroredStrategy`) for data-parallel
            steps: each replica runs its share of the batch and the gradients are summed;
            losses are normalised by the global counts, so a step equals the
            single-device step on the same global batch. None: the default strategy.
        jit_compile: compile the step with XLA. Off by default: on CPU the XLA step is
            slower (benchmarks-tf.md). Both draw the same Gumbel noise and dropout masks
            (`electra.tf.prng`), so a step gives the same numbers with and without XLA.
        max_predictions: the masking's cap on chosen positions per row; a batch with more
            is refused (as in every backend's trainer).
        grad_accum: each replica's rows run as this many micro-batches whose gradients add
            up before the one optimizer step (equal to the whole batch at once with dropout off).
    """

    def __init__(self, pretrainer: ElectraPretrainer, schedule: LinearSchedule, *, seed: int = 0, clip_norm: float = CLIP_NORM,
                 strategy: tf.distribute.Strategy | None = None, jit_compile: bool = False, max_predictions: int | None = None,
                 grad_accum: int = 1):
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
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.named = pretrainer.named_variables()
            self.optimizer = ElectraAdamW((name, variable) for name, variable, _ in self.named)
        self.dropouts = [layer for layer in pretrainer._flatten_layers() if hasattr(layer, "seed_generator")]  # rate > 0 only
        self._step = tf.function(self._distributed_step, jit_compile=jit_compile, reduce_retracing=True)

    # ------------------------------------------------------------------ train
    def _replica_step(self, batch, gumbel_seed, K):
        ctx = tf.distribute.get_replica_context()

        def counts(part):  # (chosen positions, scored tokens) of a part of the batch
            chosen = tf.cast(tf.not_equal(part["mlm_labels"], IGNORE_INDEX), tf.float32)
            return tf.stack([tf.reduce_sum(chosen), tf.reduce_sum(tf.cast(self.model.scored(part["input_ids"], part["attention_mask"]), tf.float32))])

        total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, counts(batch))  # the global batch's counts
        micro = tf.shape(batch["input_ids"])[0] // self.grad_accum
        offset = ctx.replica_id_in_sync_group * micro * self.grad_accum  # this replica's first row in the global batch
        variables = [v for v in self.optimizer.variables]
        weights = self.model.loss_weights
        grads, sums = None, 0.0
        # The replica's rows as `grad_accum` micro-batches; each loss is its share of the global mean.
        for i in range(self.grad_accum):
            part = {k: tf.split(v, self.grad_accum, axis=0)[i] for k, v in batch.items()}
            part_counts = counts(part)
            share_gen, share_disc = part_counts[0] / total[0], part_counts[1] / total[1]
            with tf.GradientTape() as tape:
                out = self.model(**part, noise_key=gumbel_seed, row_offset=offset + i * micro, max_predictions=K, training=True)
                loss = weights.generator * out.generator_loss * share_gen + weights.discriminator * out.discriminator_loss * share_disc
            part_grads = [tf.convert_to_tensor(g) if g is not None else tf.zeros(v.shape) for g, v in zip(tape.gradient(loss, variables), variables)]
            grads = part_grads if grads is None else [a + b for a, b in zip(grads, part_grads)]
            # The losses (shares of the global means) and the metric counts add up over the parts and replicas.
            sums += tf.concat([tf.stack([loss, out.generator_loss * share_gen, out.discriminator_loss * share_disc]), out.metric_counts], 0)
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        sums = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sums)
        return grads, sums

    def _distributed_step(self, batch, lr, gumbel_seed, dropout_seed, K):
        """The step (K prediction slots per row, a Python int: one trace per K); returns (10,):
        the summed losses and metric counts (`recipe.step_metrics`), then grad_norm."""
        for i, layer in enumerate(self.dropouts):
            layer.seed_generator.state.assign(tf.stack([dropout_seed, tf.constant(i, tf.int64)]))
        data = self.strategy.experimental_distribute_values_from_function(lambda ctx: self._shard(batch, ctx))
        grads, sums = self.strategy.run(lambda part, key: self._replica_step(part, key, K), args=(data, gumbel_seed))
        grads = [self.strategy.experimental_local_results(g)[0] for g in grads]
        sums = self.strategy.experimental_local_results(sums)[0]
        grads, grad_norm = tf.clip_by_global_norm(grads, self.clip_norm)
        self.optimizer.apply(grads, lr)
        return tf.concat([sums, [grad_norm]], 0)

    def _shard(self, batch, ctx):
        """This replica's rows of the global batch (contiguous, in replica order)."""
        n, i = ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group
        return {k: tf.split(v, n, axis=0)[i] for k, v in batch.items()}

    def _slots(self, mlm_labels: np.ndarray) -> int:
        """K for this batch (`masking.fixed_slots`: one shape for every step when the trainer knows `max_predictions`)."""
        return fixed_slots(mlm_labels, self.max_predictions)

    def stage(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch as it is (the pt and flax trainers move it toward the device ahead of the
        step here; this one copies it in `train_step`)."""
        return batch

    def _tensors(self, batch: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
        return {k: tf.constant(np.asarray(batch[k]), tf.int32) for k in _INPUTS}

    def train_step(self, batch: dict[str, np.ndarray], step: int) -> recipe.StepMetrics:
        """One optimizer step on a masked batch (input_ids, masked_ids, mlm_labels, attention_mask,
        token_type_ids); its metrics stay on the device until read (`recipe.StepMetrics`)."""
        rows = len(batch["input_ids"])
        if rows % self.strategy.num_replicas_in_sync:
            raise ValueError(f"batch size {rows} must be a multiple of the {self.strategy.num_replicas_in_sync} replicas")
        if (rows // self.strategy.num_replicas_in_sync) % self.grad_accum:
            raise ValueError(f"--grad-accum {self.grad_accum} does not divide each replica's "
                             f"{rows // self.strategy.num_replicas_in_sync} rows of the batch")
        K = self._slots(batch["mlm_labels"])
        lr = self.schedule(step)
        dropout_seed = recipe.step_seed(self.seed, step, "dropout")
        with self.strategy.scope():
            values = self._step(self._tensors(batch), tf.constant(lr, tf.float32), _seed(self.seed, step, "gumbel"),
                                tf.constant(dropout_seed, tf.int64), K)
        return recipe.StepMetrics(values, lambda v: v.numpy().tolist(), lr)  # read from the device when looked at

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, batch: dict[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
        """Held-out forward without dropout: the generator's (or masked-LM network's) hits and
        loss, and for replaced-token detection the discriminator's scores and labels for AUC."""
        tensors = self._tensors(batch)
        out = self.model(**tensors, noise_key=_seed(self.seed, step, "eval-gumbel"), max_predictions=self._slots(batch["mlm_labels"]),
                         training=False)
        targets = np.take_along_axis(np.asarray(batch["mlm_labels"]), out.prediction_positions.numpy(), axis=1)
        result = {  # per chosen position, in row-major order
            "generator_correct": (out.generator_logits.numpy().argmax(-1) == targets)[out.prediction_mask.numpy()],
            "generator_loss": np.float64(out.generator_loss),
        }
        if self.model.objective == "mlm":
            return result
        return result | {
            "scores": out.discriminator_logits.numpy().astype(np.float32),
            "replaced": out.replaced.numpy(),
            "valid": self.model.scored(tensors["input_ids"], tensors["attention_mask"]).numpy(),
            "discriminator_loss": np.float64(out.discriminator_loss),
        }

    # ------------------------------------------------------------------ state
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Weights and optimizer moments as NumPy, keyed by PyTorch parameter name and in
        PyTorch layout (Linear weights (out, in)), shared ones once."""
        arrays = {}
        for (name, variable, transposed), m, v in zip(self.named, self.optimizer.exp_avg, self.optimizer.exp_avg_sq):
            for prefix, value in (("param", variable), ("adam_m", m), ("adam_v", v)):
                array = np.array(keras.ops.convert_to_numpy(value), dtype=np.float32)
                arrays[f"{prefix}/{name}"] = array.T.copy() if transposed else array
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `state_arrays`; every parameter must be present with its shape.
        Moments may be absent (a checkpoint from before the first step): zeros then."""
        expected = {f"param/{name}" for name, _, _ in self.named}
        missing = sorted(expected - arrays.keys())
        if missing:
            raise ValueError(f"training checkpoint lacks {len(missing)} parameters, e.g. {missing[:3]}")
        updates = []
        for (name, variable, transposed), m, v in zip(self.named, self.optimizer.exp_avg, self.optimizer.exp_avg_sq):
            for prefix, target in (("param", variable), ("adam_m", m), ("adam_v", v)):
                key = f"{prefix}/{name}"
                if key in arrays:
                    array = np.asarray(arrays[key], np.float32)
                    array = array.T if transposed else array
                else:
                    array = np.zeros(tuple(target.shape), np.float32)
                if tuple(array.shape) != tuple(target.shape):
                    shape = array.T.shape if transposed else array.shape
                    expected = tuple(reversed(target.shape)) if transposed else tuple(target.shape)
                    raise ValueError(f"training checkpoint {key} has shape {shape}, model has {expected}")
                updates.append((target, array))
        for target, array in updates:
            target.assign(array)

    def export(self, directory: Path) -> None:
        """Write the trained networks in canonical format (HF-loadable): `discriminator/` and
        `generator/`, or `mlm/` for a `MaskedLMPretrainer`."""
        self.model.export(directory)
