"""Replaced-token-detection pretraining in PyTorch: `ElectraPretrainer` and its trainer.

`ElectraPretrainer` pairs a generator (`ElectraForMaskedLM`) and a discriminator
(`ElectraForPreTraining`) that share one `ElectraEmbeddings` module (word, position and
token-type tables and the embedding LayerNorm), with the generator's output layer tied to
the shared word table (docs/pretraining-recipe.md, step 7). The generator head runs only at
K prediction slots per row (each row's chosen positions, gathered; `prediction_slots`),
which gives the same losses as the full (B, L, V) logits at a fraction of the cost, with
shapes that do not depend on the data; the Gumbel noise is counter-based
(`electra.common.pretraining.noise`), the same numbers as in electra.tf and electra.flax.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from electra.common.config import ElectraConfig
from electra.common.outputs import ElectraPretrainerOutput
from electra.common.pretraining import noise, recipe
from electra.common.pretraining.masking import (
    DEFAULT_MASK_PROB,
    IGNORE_INDEX,
    check_max_predictions,
    fixed_slots,
    max_predictions_for,
    most_predictions,
)
from electra.common.pretraining.schedule import CLIP_NORM, LinearSchedule
from electra.pt import losses
from electra.pt.optim import ElectraAdamW
from electra.pt.tasks import ElectraForMaskedLM, ElectraForPreTraining

# --precision -> the autocast dtype of the forward pass (parameters and optimizer stay float32).
AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# noise.gumbel_noise in int64, keeping the low 32 bits after each product.
TORCH_OPS = noise.IntOps(torch.bitwise_xor, torch.bitwise_right_shift, lambda x: x & noise.MASK32,
                         lambda x: x.to(torch.float32), torch.log)


def prediction_slots(mlm_labels: torch.Tensor, K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions (B, K), valid (B, K)): each row's chosen positions in increasing order, then
    unchosen ones marked invalid (a stable sort; no data-dependent shape)."""
    chosen = mlm_labels != IGNORE_INDEX  # (B, L)
    positions = torch.argsort((~chosen).to(torch.int8), dim=1, stable=True)[:, :K]
    return positions, chosen.gather(1, positions)


# Elements per piece of an eager CPU draw: its int64 temporaries then stay in cache. The
# whole (8, 24, 30522) draw of a small-preset step as one expression takes 400 ms on 2
# cores, in pieces 33 ms (what a torch.rand draw of the same size takes).
NOISE_PIECE = 2**19


def slot_noise(key, row_offset: int, B: int, K: int, V: int, device) -> torch.Tensor:
    """`noise.gumbel_noise` (B, K, V) of global rows row_offset .. row_offset + B - 1, on `device`.

    `key`: (2,) int64 tensor or two ints (`noise.noise_key`); None draws one from the global
    RNG. One expression when compiled (inductor fuses it) or on an accelerator; on an eager
    CPU, pieces of about `NOISE_PIECE` elements (the same numbers)."""
    if key is None:
        key = torch.randint(0, 2**32, (2,), dtype=torch.int64)
    key = torch.as_tensor(key, dtype=torch.int64).to(device)
    arange = lambda n: torch.arange(n, dtype=torch.int64, device=device)  # noqa: E731
    rows, slots, vocab = (arange(B) + row_offset).view(B, 1, 1), arange(K).view(K, 1), arange(V)
    if torch.compiler.is_compiling() or torch.device(device).type != "cpu":
        return noise.gumbel_noise(key[0], key[1], rows, slots, vocab, TORCH_OPS)
    rows, slots = rows.expand(B, K, 1).reshape(-1, 1, 1), slots.view(1, K, 1).expand(B, K, 1).reshape(-1, 1, 1)
    out = torch.empty((B * K, 1, V), dtype=torch.float32, device=device)
    piece = max(1, NOISE_PIECE // V)
    for start in range(0, B * K, piece):
        part = slice(start, start + piece)
        out[part] = noise.gumbel_noise(key[0], key[1], rows[part], slots[part], vocab, TORCH_OPS)
    return out.view(B, K, V)


@contextlib.contextmanager
def seeded_init(seed: int | None):
    """Weights initialised from `recipe.step_seed(seed, 0, "init")` without touching the global
    torch RNG (None: drawn from it)."""
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(recipe.step_seed(seed, 0, "init"))
        yield


class ElectraPretrainer(nn.Module):
    """Generator + discriminator with shared embeddings.

    Args:
        discriminator_config, generator_config: the two networks (see
            `electra.common.config.generator_config`); they must agree on the embedding sizes.
        loss_weights: generator and discriminator loss weights (1 and 50 by default).
        temperature: sampling temperature of the generator.
        seed: seeds the weight initialisation (without touching the global torch RNG);
            None draws from the global RNG.
        prior: the discriminator's output bias starts at `recipe.prior_logit(prior)` (the
            masking rate by default); None keeps HF's zero.
        unscored_ids: token ids whose positions the discriminator's loss and metrics leave
            out (`electra pretrain` passes [CLS] and [SEP], which are never replaced;
            `recipe.scored_positions`); empty (the default) scores every attended position, as HF.
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
        unscored_ids: tuple[int, ...] = (),
    ):
        super().__init__()
        recipe.check_pair(discriminator_config, generator_config)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        with seeded_init(seed):
            self.discriminator = ElectraForPreTraining(discriminator_config)
            self.generator = ElectraForMaskedLM(generator_config)
        if prior is not None:
            with torch.no_grad():
                self.discriminator.discriminator_predictions.dense_prediction.bias.fill_(recipe.prior_logit(prior))
        # One embeddings module in both networks: tables and LayerNorm shared, then re-tie
        # the generator head to the shared word table.
        self.generator.electra.embeddings = self.discriminator.electra.embeddings
        self.generator.tie_weights()
        self.loss_weights = loss_weights
        self.temperature = temperature
        self.unscored_ids = tuple(int(i) for i in unscored_ids)

    def forward(
        self,
        input_ids: torch.Tensor,
        masked_ids: torch.Tensor,
        mlm_labels: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        gumbel_noise: torch.Tensor | None = None,
        noise_key: torch.Tensor | tuple[int, int] | None = None,
        row_offset: int = 0,
        normalizers: tuple | None = None,
        max_predictions: int | None = None,
    ) -> ElectraPretrainerOutput:
        """One pretraining forward pass, with static shapes and no host round trip when
        `max_predictions` is given (`torch.compile(fullgraph=True)` traces it whole).

        Args:
            input_ids: (B, L) original token ids.
            masked_ids: (B, L) the generator's input ([MASK] at most chosen positions).
            mlm_labels: (B, L) original id at the chosen positions, -100 elsewhere.
            attention_mask, token_type_ids: (B, L).
            gumbel_noise: (B, L, V) float32 noise to sample with (tests inject it); the
                counter-based noise of `noise_key` otherwise.
            noise_key: the step's two 32-bit key words (`noise.noise_key`; a (2,) int64
                tensor keeps a compiled step from specialising on them); None draws them
                from the global torch RNG.
            row_offset: index of this batch's first row in the global batch: row b draws
                the noise of global row `row_offset + b`, so a batch split across
                data-parallel workers or micro-batches samples what the whole batch does.
            normalizers: (masked positions, scored tokens) of the global batch (ints or
                0-d tensors): the losses are then this shard's sums over those counts, which
                add up over the shards to the global means. None: this batch's own counts.
            max_predictions: K, the prediction slots per row (at least the most chosen
                positions of a row); default `masking.max_predictions_for` of the labels
                (a host round trip).
        Returns:
            `ElectraPretrainerOutput` with the losses, metrics, `sampled_ids` (B, L),
            `replaced` (B, L), and `generator_logits` (B, K, V) at the prediction slots.
        """
        K = max_predictions_for(mlm_labels.cpu().numpy()) if max_predictions is None else max_predictions
        positions, valid = prediction_slots(mlm_labels, K)  # (B, K)
        hidden = self.generator.electra(masked_ids, attention_mask, token_type_ids, return_dict=True).last_hidden_state  # (B, L, Hg)
        gen_logits = self.generator.lm_logits(hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1])))  # (B, K, V)
        targets = torch.where(valid, mlm_labels.gather(1, positions), IGNORE_INDEX)  # (B, K)
        num_masked, num_valid = normalizers if normalizers is not None else (None, None)
        gen_loss = losses.masked_lm_loss(gen_logits, targets, num_masked)

        with torch.no_grad():
            V = gen_logits.shape[-1]
            if gumbel_noise is None:
                sample_noise = slot_noise(noise_key, row_offset, *positions.shape, V, gen_logits.device)
            else:
                sample_noise = gumbel_noise.to(torch.float32).gather(1, positions[..., None].expand(-1, -1, V))
            sampled = torch.argmax(gen_logits.float() / self.temperature + sample_noise, dim=-1)  # (B, K)
            sampled = torch.where(valid, sampled.to(input_ids.dtype), input_ids.gather(1, positions))
            sampled_ids = input_ids.scatter(1, positions, sampled)
            replaced = (sampled_ids != input_ids).long()  # (B, L)

        disc = self.discriminator(sampled_ids, attention_mask, token_type_ids, return_dict=True)
        scored = self.scored(input_ids, attention_mask)  # (B, L) the positions the loss and metrics count
        disc_loss = losses.replaced_token_detection_loss(disc.logits, replaced, scored, num_valid)
        loss = self.loss_weights.generator * gen_loss + self.loss_weights.discriminator * disc_loss

        with torch.no_grad():
            predicted = disc.logits > 0
            truth = replaced.bool()
            counts = torch.stack([  # recipe.METRIC_COUNTS
                ((gen_logits.argmax(-1) == targets) & valid).sum(),
                valid.sum(),
                ((predicted == truth) & scored).sum(),
                scored.sum(),
                (predicted & truth & scored).sum(),
                (predicted & scored).sum(),
                (truth & scored).sum(),
            ]).float()  # (7,)
        return ElectraPretrainerOutput(
            loss=loss,
            generator_loss=gen_loss,
            discriminator_loss=disc_loss,
            **recipe.metric_ratios(counts, torch.clamp_min),
            generator_logits=gen_logits,
            discriminator_logits=disc.logits,
            sampled_ids=sampled_ids,
            replaced=replaced,
            metric_counts=counts,
            prediction_positions=positions,
            prediction_mask=valid,
        )

    def scored(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, L) bool: the attended positions less those of `unscored_ids` (`recipe.scored_positions`)."""
        scored = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        for token in self.unscored_ids:  # compared with Python ints: no tensor copied to the device
            scored = scored & (input_ids != token)
        return scored

    def export(self, directory: Path) -> None:
        """Write `discriminator/` and `generator/` in canonical format (HF-loadable)."""
        self.discriminator.save_pretrained(Path(directory) / "discriminator")
        self.generator.save_pretrained(Path(directory) / "generator")


class MaskedLMPretrainer(nn.Module):
    """The paper's masked-LM baseline (`electra pretrain --objective mlm`): one
    `ElectraForMaskedLM` of the discriminator's size, its output layer tied to the word table,
    trained on the same masked batches as `ElectraPretrainer` without a generator.

    The forward takes the pretrainer's inputs and returns its output type, so one
    `PretrainingTrainer` trains either: `loss` and `generator_loss` are the masked-LM loss,
    `discriminator_loss` is 0 and the discriminator's metric counts are 0 (there is no
    discriminator); `export` writes `mlm/`, whose `electra.*` backbone fine-tunes as a
    discriminator's does.

    Args:
        config: the network (a discriminator's config; its embedding and hidden sizes).
        seed: seeds the weight initialisation (as `ElectraPretrainer`'s).
    """

    objective = "mlm"
    loss_weights = recipe.LossWeights(generator=1.0, discriminator=0.0)
    unscored_ids = ()  # no discriminator

    def __init__(self, config: ElectraConfig, seed: int | None = None):
        super().__init__()
        if not config.tie_word_embeddings:
            raise ValueError("the masked-LM network's output layer must be tied to its word embeddings (tie_word_embeddings=True)")
        with seeded_init(seed):
            self.mlm = ElectraForMaskedLM(config)

    def forward(
        self,
        input_ids: torch.Tensor,
        masked_ids: torch.Tensor,
        mlm_labels: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        gumbel_noise: torch.Tensor | None = None,
        noise_key: torch.Tensor | tuple[int, int] | None = None,
        row_offset: int = 0,
        normalizers: tuple | None = None,
        max_predictions: int | None = None,
    ) -> ElectraPretrainerOutput:
        """`ElectraPretrainer.forward`'s arguments; nothing is sampled, so `gumbel_noise`,
        `noise_key` and `row_offset` are unused. `generator_logits` (B, K, V) at the prediction slots."""
        K = max_predictions_for(mlm_labels.cpu().numpy()) if max_predictions is None else max_predictions
        positions, valid = prediction_slots(mlm_labels, K)  # (B, K)
        hidden = self.mlm.electra(masked_ids, attention_mask, token_type_ids, return_dict=True).last_hidden_state  # (B, L, H)
        logits = self.mlm.lm_logits(hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1])))  # (B, K, V)
        targets = torch.where(valid, mlm_labels.gather(1, positions), IGNORE_INDEX)  # (B, K)
        loss = losses.masked_lm_loss(logits, targets, None if normalizers is None else normalizers[0])
        with torch.no_grad():
            hits = ((logits.argmax(-1) == targets) & valid).sum()
            counts = torch.cat([torch.stack([hits, valid.sum()]).float(), logits.new_zeros(len(recipe.METRIC_COUNTS) - 2, dtype=torch.float32)])
        return ElectraPretrainerOutput(
            loss=loss,
            generator_loss=loss,
            discriminator_loss=torch.zeros((), device=logits.device),
            generator_accuracy=counts[0] / counts[1],
            generator_logits=logits,
            metric_counts=counts,
            prediction_positions=positions,
            prediction_mask=valid,
        )

    def export(self, directory: Path) -> None:
        """Write `mlm/` in canonical format (HF-loadable)."""
        self.mlm.save_pretrained(Path(directory) / "mlm")


def distributed_ddp(module) -> bool:
    """Whether `module` (possibly torch.compile-wrapped) is a DistributedDataParallel."""
    from torch.nn.parallel import DistributedDataParallel

    return isinstance(getattr(module, "_orig_mod", module), DistributedDataParallel)


class DataParallelWorkers:
    """The workers of a data-parallel run: one process each under `torchrun` (gloo on CPU,
    NCCL on GPU). `trainer_args` go to `PretrainingTrainer`; only the chief writes files."""

    def __init__(self):
        import torch.distributed as dist

        if "WORLD_SIZE" not in os.environ:
            raise ValueError("--data-parallel with --backend pt runs under torchrun "
                             "(e.g. torchrun --nproc_per_node 2 -m electra pretrain --data-parallel ...)")
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.is_chief = dist.get_rank() == 0
        self.replicas = dist.get_world_size()
        self.trainer_args = {"distributed": True}

    def barrier(self) -> None:
        """Wait for every worker (after the chief has written the shared files)."""
        import torch.distributed as dist

        dist.barrier()


class PretrainingTrainer:
    """Optimizer, schedule and per-step randomness around an `ElectraPretrainer`.

    The backend-neutral loop (`electra.commands.pretrain`) calls `train_step`, `evaluate`,
    `state_arrays`/`load_state_arrays` and `export`; arrays cross the boundary as NumPy.
    Every random draw of step k comes from `recipe.step_seed(seed, k, ...)`, so a resumed
    run repeats the uninterrupted one exactly.

    Data parallel (`distributed=True`, under `torchrun` with an initialised process
    group): every worker receives the same global batch and trains on its contiguous
    share of the rows through `DistributedDataParallel`. Losses are normalised by the
    global batch's counts and the Gumbel noise is drawn per global row, so with dropout
    off a 2-way step equals a 1-way step on the same batch.

    `max_predictions`: the masking's cap on chosen positions per row; a batch with more is
    refused (as in every backend's trainer).

    `precision`: "fp32"; "bf16" (the forward under bfloat16 autocast); "fp16" (float16
    autocast with a dynamic loss scaler: a step whose gradients are not finite is skipped and
    the scale halved). Parameters and optimizer state stay float32; sampling and losses are
    float32.

    `grad_accum`: each worker's rows run as this many micro-batches whose gradients add up
    before the one optimizer step (the same step as the whole batch at once, with dropout
    off: the losses are normalised by the whole batch's counts and the noise is drawn per
    global row).

    `compile`: the training forward and its backward through `torch.compile`, as one graph
    (`fullgraph=True`; under DistributedDataParallel, which splits the graph at its gradient
    buckets, without it). With `max_predictions` every step has one shape (K prediction
    slots, the normalisers and noise key as tensors) and compiles once; the evaluation
    stays eager. The optimizer step is `ElectraAdamW`'s (fused or foreach kernels).
    """

    def __init__(self, pretrainer: ElectraPretrainer, schedule: LinearSchedule, *, seed: int = 0, clip_norm: float = CLIP_NORM,
                 device: str | None = None, distributed: bool = False, max_predictions: int | None = None, precision: str = "fp32",
                 grad_accum: int = 1, compile: bool = False):
        if max_predictions is not None and max_predictions < 1:
            raise ValueError(f"max_predictions must be >= 1, got {max_predictions}")
        if grad_accum < 1:
            raise ValueError(f"grad_accum must be >= 1, got {grad_accum}")
        self.grad_accum = grad_accum
        if precision not in AUTOCAST:
            raise ValueError(f"precision must be one of {', '.join(AUTOCAST)} in the pt backend, got {precision!r}")
        self.max_predictions = max_predictions
        self.rank, self.world_size = 0, 1
        if distributed:
            import torch.distributed as dist

            if not dist.is_initialized():
                raise ValueError("distributed=True needs an initialised torch.distributed process group (run under torchrun)")
            self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
            if device is None and torch.cuda.is_available():
                device = f"cuda:{self.rank % torch.cuda.device_count()}"
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = pretrainer.to(self.device)
        self.forward = self.model
        if distributed:
            from torch.nn.parallel import DistributedDataParallel

            # Broadcasts rank 0's weights, then averages gradients in the backward pass.
            self.forward = DistributedDataParallel(self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        self.is_chief = self.rank == 0
        self.schedule = schedule
        self.seed = seed
        self.clip_norm = clip_norm
        self.optimizer = ElectraAdamW(self.model.named_parameters(), lr=schedule(0))
        self.compiled = compile
        if compile:
            self.forward = torch.compile(self.forward, fullgraph=not distributed)
        self.precision = precision
        self.scaler = torch.amp.GradScaler(self.device.type) if precision == "fp16" else None

    def _autocast(self):
        """The forward's autocast context (none in fp32)."""
        if AUTOCAST[self.precision] is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AUTOCAST[self.precision])

    def _micro_rows(self, rows: int) -> int:
        """Rows per micro-batch of this worker's `rows` under `grad_accum`."""
        if rows % self.grad_accum:
            raise ValueError(f"--grad-accum {self.grad_accum} does not divide this worker's {rows} rows of the batch")
        return rows // self.grad_accum

    def _slots(self, mlm_labels: np.ndarray) -> int:
        """K for this batch (a batch with a row of more chosen positions than `max_predictions`
        is refused). Compiled: `masking.fixed_slots` (one shape for every step when
        `max_predictions` is known). Eager: the batch's own row maximum, the least
        generator-head and noise work (the results do not depend on K)."""
        if self.compiled:
            return fixed_slots(mlm_labels, self.max_predictions)
        check_max_predictions(mlm_labels, self.max_predictions)
        return max(1, most_predictions(mlm_labels))

    def stage(self, batch: dict[str, np.ndarray]) -> dict:
        """The batch made ready for the device, where the prefetching thread calls it (`electra
        pretrain --prefetch`): on a GPU, int64 tensors in pinned (page-locked) host memory, whose
        copies in the step are asynchronous; elsewhere the batch as it is. The step reads either."""
        if self.device.type != "cuda":
            return batch
        return {k: torch.from_numpy(np.asarray(v, dtype=np.int64)).pin_memory() for k, v in batch.items()}

    def _tensors(self, batch: dict) -> dict[str, torch.Tensor]:
        """The batch on the device: NumPy copied, (pinned) host tensors copied without blocking."""
        return {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else
                torch.as_tensor(np.asarray(v, dtype=np.int64), device=self.device) for k, v in batch.items()}

    def _shard(self, batch: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        """This worker's rows of the global batch and the index of the first."""
        B = len(batch["input_ids"])
        if B % self.world_size:
            raise ValueError(f"batch size {B} is not divisible by the {self.world_size} data-parallel workers")
        rows = B // self.world_size
        start = self.rank * rows
        return {k: v[start:start + rows] for k, v in batch.items()}, start

    def train_step(self, batch: dict[str, np.ndarray], step: int) -> recipe.StepMetrics:
        """One optimizer step on a masked batch (input_ids, masked_ids, mlm_labels, attention_mask,
        token_type_ids); its metrics stay on the device until read (`recipe.StepMetrics`)."""
        self.model.train()
        dropout_stream = "dropout" if self.rank == 0 else f"dropout-{self.rank}"
        torch.manual_seed(recipe.step_seed(self.seed, step, dropout_stream))
        lr = self.schedule(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        K = self._slots(batch["mlm_labels"])
        # The global batch's counts, the losses' normalisers: tensors, so a compiled step does not specialise on them.
        normalizers = torch.tensor([(np.asarray(batch["mlm_labels"]) != IGNORE_INDEX).sum(),
                                    recipe.scored_positions(batch["input_ids"], batch["attention_mask"], self.model.unscored_ids).sum()],
                                   dtype=torch.float32).to(self.device, non_blocking=True)
        key = torch.tensor(noise.noise_key(self.seed, step), dtype=torch.int64).to(self.device, non_blocking=True)
        shard, row_offset = self._shard(batch)
        micro = self._micro_rows(len(shard["input_ids"]))
        self.optimizer.zero_grad(set_to_none=True)
        sums = []
        for start in range(0, len(shard["input_ids"]), micro):
            tensors = self._tensors({k: v[start:start + micro] for k, v in shard.items()})
            last = start + micro == len(shard["input_ids"])
            # DDP averages the gradients once, in the backward of the last micro-batch.
            syncing = contextlib.nullcontext() if last or not distributed_ddp(self.forward) else getattr(self.forward, "_orig_mod", self.forward).no_sync()
            with syncing:
                with self._autocast():
                    out = self.forward(**tensors, noise_key=key, row_offset=row_offset + start,
                                       normalizers=(normalizers[0], normalizers[1]), max_predictions=K)
                # Each loss is this micro-batch's share of the global mean; DDP averages the
                # workers' gradients, hence the factor.
                loss = out.loss * self.world_size
                (loss if self.scaler is None else self.scaler.scale(loss)).backward()
            sums.append(torch.cat([torch.stack([out.loss, out.generator_loss, out.discriminator_loss]).detach().float(),
                                   out.metric_counts]))
        if self.scaler is None:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
            self.optimizer.step()
        else:  # fp16: scaled loss; the step is skipped when the unscaled gradients are not finite
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        # The losses (shares of the global means) and the metric counts add up over the
        # micro-batches and the workers.
        sums = torch.stack(sums).sum(0)
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(sums)
        grad_norm = grad_norm.reshape(1).float()
        if self.scaler is None:
            values = torch.cat([sums, grad_norm])
        else:  # fp16: a last element marks a step the scaler skipped (its gradients were not finite)
            finite = torch.isfinite(grad_norm)
            values = torch.cat([sums, torch.where(finite, grad_norm, 0.0), (~finite).float()])
        # Read (the step's one transfer to the host) only when a value is looked at.
        return recipe.StepMetrics(values.detach(), torch.Tensor.tolist, lr, report_skipped=self.scaler is not None)

    @torch.no_grad()
    def evaluate(self, batch: dict[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
        """Held-out forward without dropout: the generator's (or masked-LM network's) hits and
        loss, and for replaced-token detection the discriminator's scores and labels for AUC."""
        self.model.eval()
        tensors = self._tensors(batch)
        with self._autocast():
            out = self.model(**tensors, noise_key=noise.noise_key(self.seed, step, "eval-gumbel"),
                             max_predictions=self._slots(batch["mlm_labels"]))
        targets = tensors["mlm_labels"].gather(1, out.prediction_positions)
        result = {  # per chosen position, in row-major order
            "generator_correct": (out.generator_logits.argmax(-1) == targets)[out.prediction_mask].cpu().numpy(),
            "generator_loss": np.float64(out.generator_loss),
        }
        if self.model.objective == "mlm":
            return result
        return result | {
            "scores": out.discriminator_logits.float().cpu().numpy(),
            "replaced": out.replaced.cpu().numpy(),
            "valid": self.model.scored(tensors["input_ids"], tensors["attention_mask"]).cpu().numpy(),
            "discriminator_loss": np.float64(out.discriminator_loss),
        }

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Weights and optimizer moments as NumPy, keyed by parameter name (shared ones once)."""
        arrays = {}
        for name, param in self.model.named_parameters():
            arrays[f"param/{name}"] = param.detach().cpu().numpy().copy()
            state = self.optimizer.state.get(param)
            if state:
                arrays[f"adam_m/{name}"] = state["exp_avg"].cpu().numpy().copy()
                arrays[f"adam_v/{name}"] = state["exp_avg_sq"].cpu().numpy().copy()
        if self.scaler is not None and self.scaler._scale is not None:  # fp16: the loss scale and its growth count
            arrays["loss_scale/scale"] = np.array([self.scaler.get_scale()], np.float32)
            arrays["loss_scale/growth_tracker"] = np.array([self.scaler._get_growth_tracker()], np.float32)
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of `state_arrays`; every parameter must be present with its shape."""
        params = dict(self.model.named_parameters())
        expected = {f"param/{n}" for n in params}
        missing = sorted(expected - arrays.keys())
        if missing:
            raise ValueError(f"training checkpoint lacks {len(missing)} parameters, e.g. {missing[:3]}")
        for name, param in params.items():
            for prefix in ("param", "adam_m", "adam_v"):
                key = f"{prefix}/{name}"
                if key in arrays and tuple(arrays[key].shape) != tuple(param.shape):
                    raise ValueError(f"training checkpoint {key} has shape {arrays[key].shape}, model has {tuple(param.shape)}")
        if self.scaler is not None and "loss_scale/scale" in arrays:
            self.scaler.load_state_dict({**self.scaler.state_dict(), "scale": float(arrays["loss_scale/scale"][0]),
                                         "_growth_tracker": int(arrays["loss_scale/growth_tracker"][0])})
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(torch.from_numpy(arrays[f"param/{name}"]))
                if f"adam_m/{name}" in arrays:
                    self.optimizer.state[param] = {
                        "exp_avg": torch.tensor(arrays[f"adam_m/{name}"], device=self.device),
                        "exp_avg_sq": torch.tensor(arrays[f"adam_v/{name}"], device=self.device),
                    }

    def export(self, directory: Path) -> None:
        """Write the trained networks in canonical format (HF-loadable): `discriminator/` and
        `generator/`, or `mlm/` for a `MaskedLMPretrainer`."""
        self.model.export(directory)
