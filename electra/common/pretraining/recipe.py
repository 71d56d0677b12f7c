"""Framework-free pieces of replaced-token-detection pretraining shared by the backends.

The recipe (docs/pretraining-recipe.md): the generator (an `ElectraForMaskedLM`) predicts the
masked tokens; a token sampled from it (Gumbel-max in float32, no gradient) replaces each
masked position; the discriminator (`ElectraForPreTraining`) labels every token real or
replaced; loss = generator_weight x MLM + discriminator_weight x RTD.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from electra.common.config import ElectraConfig

GUMBEL_EPS = 1e-9
# Fields the two networks must agree on, since they share the embedding tables and LayerNorm.
SHARED_FIELDS = ("vocab_size", "embedding_size", "max_position_embeddings", "type_vocab_size", "pad_token_id", "layer_norm_eps")


# The scalars every backend's `PretrainingTrainer.train_step` returns (plus lr and grad_norm).
STEP_METRICS = (
    "loss",
    "generator_loss",
    "discriminator_loss",
    "generator_accuracy",
    "discriminator_accuracy",
    "discriminator_precision",
    "discriminator_recall",
)


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


def gumbel(uniform, log=np.log):
    """Gumbel(0, 1) noise from uniform [0, 1) draws: -log(-log(u + eps) + eps), as the original
    code draws it. `log` is the array library's (np.log, torch.log, tf.math.log, jnp.log), so
    every backend samples with this one formula."""
    return -log(-log(uniform + GUMBEL_EPS) + GUMBEL_EPS)


def step_seed(seed: int, step: int, stream: str) -> int:
    """A 63-bit seed for one step and one purpose ("mask", "gumbel", "dropout").

    Every random draw of a step comes from (seed, step, stream), so a run resumed at
    step k draws exactly what the uninterrupted run drew, with no RNG state to save.
    """
    digest = hashlib.sha256(f"{seed}:{step}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
