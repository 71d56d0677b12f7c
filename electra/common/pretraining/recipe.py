"""Framework-free pieces of replaced-token-detection pretraining shared by the backends.

The recipe (docs/pretraining-recipe.md): the generator (an `ElectraForMaskedLM`) predicts the
masked tokens; a token sampled from it (Gumbel-max in float32, no gradient) replaces each
masked position; the discriminator (`ElectraForPreTraining`) labels every token real or
replaced; loss = generator_weight x MLM + discriminator_weight x RTD.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from electra.common.config import ElectraConfig

GUMBEL_EPS = 1e-9
# Fields the two networks must agree on, since they share the embedding tables and LayerNorm.
SHARED_FIELDS = ("vocab_size", "embedding_size", "max_position_embeddings", "type_vocab_size", "pad_token_id", "layer_norm_eps")


# The scalars every backend's `PretrainingTrainer.train_step` returns (plus lr and grad_norm):
# the losses, then the ratios `metric_ratios` computes from the counts below.
STEP_LOSSES = ("loss", "generator_loss", "discriminator_loss")
STEP_METRICS = (*STEP_LOSSES, "generator_accuracy", "discriminator_accuracy", "discriminator_precision", "discriminator_recall")

# The counts behind the ratios, in the order of `ElectraPretrainerOutput.metric_counts`. A
# data-parallel trainer sums them over its workers before dividing: the whole batch's
# precision and recall cannot be rebuilt from the workers' own ratios.
METRIC_COUNTS = (
    "generator_correct",  # masked positions where the generator's argmax is the original token
    "generator_masked",  # masked positions
    "discriminator_correct",  # attended tokens the discriminator labels right (logit > 0: replaced)
    "discriminator_valid",  # attended tokens
    "true_positives",  # attended tokens predicted replaced that were replaced
    "predicted_positives",  # attended tokens predicted replaced
    "replaced",  # attended tokens that were replaced
)


# What `electra pretrain --objective` trains: replaced token detection (generator +
# discriminator), or the paper's masked-LM baseline (one network of the discriminator's size).
OBJECTIVES = ("rtd", "mlm")
# The networks a run of each objective writes, one folder each in its output directory.
NETWORKS = {"rtd": ("discriminator", "generator"), "mlm": ("mlm",)}
# The settings that only replaced token detection has.
RTD_DEFAULTS = {"generator_fraction": 0.25, "disc_weight": 50.0}


def objective_metrics(objective: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """A step's metrics (`step_metrics` plus lr, grad_norm) as a run of `objective` logs them:
    all of them for "rtd"; for "mlm", which has no discriminator, the loss and the masked-LM
    accuracy (the trainers fill the generator's fields with the one network's)."""
    if objective == "rtd":
        return dict(metrics)
    return {"loss": metrics["loss"], "mlm_accuracy": metrics["generator_accuracy"]} | {
        k: v for k, v in metrics.items() if k not in STEP_METRICS
    }


@dataclass(frozen=True)
class LossWeights:
    generator: float = 1.0
    discriminator: float = 50.0


def check_pair(discriminator: ElectraConfig, generator: ElectraConfig) -> None:
    """Raise `ValueError` unless the two configs can share their embeddings."""
    for name in SHARED_FIELDS:
        d, g = getattr(discriminator, name), getattr(generator, name)
        if d != g:
            raise ValueError(f"generator and discriminator must share {name} (their embeddings are shared), got {g} and {d}")
    if not generator.tie_word_embeddings:
        raise ValueError("the generator's output layer must be tied to the shared word embeddings (tie_word_embeddings=True)")


def scored_positions(input_ids: np.ndarray, attention_mask: np.ndarray, unscored_ids: tuple[int, ...]) -> np.ndarray:
    """(B, L) bool: the positions the discriminator's loss and metrics count: the attended
    ones, less those holding a token of `unscored_ids`. Each backend's pretrainer computes
    the same mask with its own array library.

    Google's code and HF score every attended position, [CLS] and [SEP] included, though
    they are never masked and so never replaced: the discriminator learns to call them
    "original" by pushing their representations to one constant, and [CLS] -- the
    position every sequence-classification head reads -- starts fine-tuning carrying next
    to nothing of its sentence (the default run's [CLS] vectors have an effective rank of
    3 over 400 sentences, 46 at random initialisation). `electra pretrain` leaves [CLS] and
    [SEP] out (docs/pretraining-recipe.md, "Positions that are never replaced"); an empty
    `unscored_ids` is Google's and HF's loss.
    """
    return np.asarray(attention_mask).astype(bool) & ~np.isin(input_ids, np.asarray(unscored_ids, dtype=np.int64))


def prior_logit(replaced_share: float) -> float:
    """log(p / (1 - p)): the discriminator's output bias at which its first predictions are
    already the share p of replaced tokens (about the masking rate while the generator is
    untrained).

    Started from HF's zero bias instead, the discriminator's first steps spend the whole
    network on pulling every logit from 0 down to that prior: Adam moves every weight at
    once, the token representations collapse onto one direction, and the tiny preset
    then sat at the prior's loss for a whole run (1,200 steps, docs/pretraining-recipe.md
    "Starting from the prior"). Google's code starts from zero; this is our one change
    to its initialisation.
    """
    if not 0.0 < replaced_share < 1.0:
        raise ValueError(f"the discriminator's prior share of replaced tokens must be in (0, 1), got {replaced_share}")
    return float(np.log(replaced_share) - np.log1p(-replaced_share))


def gumbel(uniform, log=np.log):
    """Gumbel(0, 1) noise from uniform [0, 1) draws: -log(-log(u + eps) + eps), as the original
    code draws it. `log` is the array library's (np.log, torch.log, tf.math.log, jnp.log), so
    every backend samples with this one formula."""
    return -log(-log(uniform + GUMBEL_EPS) + GUMBEL_EPS)


def metric_ratios(counts, maximum=np.maximum) -> dict:
    """The step's ratio metrics from its counts, one formula for every backend's forward and trainer.

    Args:
        counts: (7,) the counts of `METRIC_COUNTS`, in that order (an array or a sequence; indexed only).
        maximum: the array library's elementwise maximum (np.maximum, torch.clamp_min,
            tf.maximum, jnp.maximum); precision and recall are 0 when nothing was predicted
            replaced or nothing was replaced.
    Returns:
        {"generator_accuracy", "discriminator_accuracy", "discriminator_precision",
        "discriminator_recall"}: scalars of the counts' type.
    """
    gen_correct, masked, disc_correct, valid, tp, predicted, replaced = (counts[i] for i in range(len(METRIC_COUNTS)))
    return {
        "generator_accuracy": gen_correct / masked,
        "discriminator_accuracy": disc_correct / valid,
        "discriminator_precision": tp / maximum(predicted, 1.0),
        "discriminator_recall": tp / maximum(replaced, 1.0),
    }


def step_metrics(sums) -> dict[str, float]:
    """`STEP_METRICS` as Python floats from a step's host values: the three `STEP_LOSSES`, then
    the `METRIC_COUNTS`, each summed over the data-parallel workers. Divided in float64; a
    batch without masked positions has a NaN generator accuracy, as the forward's."""
    sums = np.asarray(sums, np.float64)
    if sums.shape != (len(STEP_LOSSES) + len(METRIC_COUNTS),):
        raise ValueError(f"expected {len(STEP_LOSSES)} losses then {len(METRIC_COUNTS)} counts, got shape {sums.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = metric_ratios(sums[len(STEP_LOSSES) :])
    return {k: float(v) for k, v in (dict(zip(STEP_LOSSES, sums)) | ratios).items()}


def window_metrics(values, steps: int, lr: float, report_skipped: bool = False) -> dict[str, float]:
    """The metrics of `steps` consecutive steps from the sum of their device vectors.

    Args:
        values: host values of the summed vectors: the three `STEP_LOSSES`, the
            `METRIC_COUNTS`, grad_norm, and with `report_skipped` the number of skipped steps
            (whose grad_norm element is 0).
        steps: how many steps were summed.
        lr: the last step's learning rate.
        report_skipped: the vectors carry the skipped-step element.
    Returns:
        `STEP_METRICS` (losses averaged over the steps, ratios of the counts summed over them:
        the window's token-weighted accuracies, precision and recall), lr, grad_norm (the mean
        over the steps not skipped; inf when every step was), and `skipped_steps` with
        `report_skipped`.
    """
    n = len(STEP_LOSSES) + len(METRIC_COUNTS)
    values = np.asarray(values, np.float64)
    if values.shape != (n + 1 + report_skipped,) or steps < 1:
        raise ValueError(f"expected {n + 1 + report_skipped} summed values of at least one step, got shape {values.shape}, {steps} steps")
    sums = values[:n].copy()
    sums[: len(STEP_LOSSES)] /= steps
    skipped = float(values[n + 1]) if report_skipped else 0.0
    taken = steps - skipped
    result = step_metrics(sums) | {"lr": lr, "grad_norm": float(values[n] / taken) if taken > 0 else float("inf")}
    if report_skipped:
        result["skipped_steps"] = skipped
    return result


class StepMetrics(Mapping):
    """A step's metrics (`STEP_METRICS`, lr, grad_norm, and `skipped_steps` where a trainer
    reports it), read from the device only when first looked at.

    Every backend's `train_step` returns one: the step's losses, metric counts and gradient
    norm stay on the device (summed over micro-batches and workers there) until a value is
    read, so a loop that logs every n-th step moves them to the host, and waits for the
    device, once per n steps instead of every step. `MetricsWindow` adds steps up on the device.

    Args:
        values: the step's device vector (a torch, TensorFlow or JAX array): the three
            `STEP_LOSSES`, the `METRIC_COUNTS`, grad_norm, then with `report_skipped` 1.0 where
            the step was skipped (a float16 loss scaler found its gradients not finite; its
            grad_norm element is then 0).
        to_host: values -> a list of floats (one transfer).
        lr: the step's learning rate (known on the host).
        report_skipped: the vector has the skipped element; `skipped_steps` is 1.0 or 0.0 and
            a skipped step's grad_norm reads inf.
    """

    def __init__(self, values, to_host: Callable[[Any], list[float]], lr: float, report_skipped: bool = False):
        self.device_values, self.to_host, self.lr, self.report_skipped = values, to_host, lr, report_skipped
        self._read_values: dict[str, float] | None = None

    def _read(self) -> dict[str, float]:
        if self._read_values is None:
            self._read_values = window_metrics(self.to_host(self.device_values), 1, self.lr, self.report_skipped)
        return self._read_values

    def __getitem__(self, key: str) -> float:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __repr__(self) -> str:
        return f"StepMetrics({self._read()!r})"


class MetricsWindow:
    """The metrics of the steps since the last `read`, accumulated on the device.

    `add` sums each step's device vector into the window's (an asynchronous device add,
    no transfer); `read` moves the sum to the host once and starts a new window. What
    `electra pretrain` logs at step n is the window of the steps since its previous log or
    checkpoint: losses averaged, accuracies / precision / recall over all their tokens, grad_norm
    averaged, lr of step n. Windows end at every checkpoint, so a resumed run logs what the
    uninterrupted one did.
    """

    def __init__(self):
        self._total, self._steps, self._last = None, 0, None

    def add(self, metrics: StepMetrics) -> None:
        self._total = metrics.device_values if self._total is None else self._total + metrics.device_values
        self._steps += 1
        self._last = metrics

    def __len__(self) -> int:
        return self._steps

    def read(self) -> dict[str, float]:
        """The window's metrics (`window_metrics`); the window is then empty."""
        if not self._steps:
            raise ValueError("no step was added since the last read")
        last = self._last
        result = window_metrics(last.to_host(self._total), self._steps, last.lr, last.report_skipped)
        self._total, self._steps, self._last = None, 0, None
        return result


def step_seed(seed: int, step: int, stream: str) -> int:
    """A 63-bit seed for one step and one purpose ("mask", "gumbel", "dropout").

    Every random draw of a step comes from (seed, step, stream), so a run resumed at
    step k draws exactly what the uninterrupted run drew, with no RNG state to save.
    """
    digest = hashlib.sha256(f"{seed}:{step}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
