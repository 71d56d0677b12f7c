"""Matmul FLOPs of the pretraining steps: what "equal compute" means when replaced token
detection is compared with the masked-LM baseline, and the numerator of achieved FLOP/s.

Counted as the original ELECTRA paper counts compute: 2 FLOPs per multiply-add, the matmuls of
the encoders (projections, feed-forward, QK^T and PV) and of the heads, and a training step
costs 3 x its forward (the backward pass is twice the forward). Embedding lookups,
LayerNorms, softmaxes and the optimizer are left out (small next to the matmuls). The
generator's head counts only at the masked positions, where every backend computes it.
"""

from __future__ import annotations

from electra.common.config import ElectraConfig

TRAIN_FACTOR = 3  # forward + backward (twice the forward)


def encoder_flops(config: ElectraConfig, B: int, L: int) -> float:
    """Forward matmul FLOPs of an `ElectraModel` on (B, L) tokens."""
    H, I, E, T = config.hidden_size, config.intermediate_size, config.embedding_size, B * L
    per_layer = 2 * T * (4 * H * H + 2 * H * I) + 2 * 2 * B * L * L * H  # projections + QK^T and PV
    project = 2 * T * E * H if E != H else 0  # embeddings_project
    return config.num_hidden_layers * per_layer + project


def lm_head_flops(config: ElectraConfig, predictions: float) -> float:
    """Forward FLOPs of the masked-LM head (H -> E -> V) at `predictions` positions."""
    return 2 * predictions * config.embedding_size * (config.hidden_size + config.vocab_size)


def rtd_step_flops(discriminator: ElectraConfig, generator: ElectraConfig, B: int, L: int, predictions: float) -> float:
    """Training FLOPs of one replaced-token-detection step: both encoders, the discriminator's
    head (H -> H -> 1) at every token and the generator's head at the `predictions` masked positions."""
    forward = encoder_flops(discriminator, B, L) + encoder_flops(generator, B, L)
    forward += 2 * B * L * discriminator.hidden_size * (discriminator.hidden_size + 1)
    forward += lm_head_flops(generator, predictions)
    return TRAIN_FACTOR * forward


def mlm_step_flops(config: ElectraConfig, B: int, L: int, predictions: float) -> float:
    """Training FLOPs of one masked-LM step (`--objective mlm`): the encoder and the LM head at
    the `predictions` masked positions."""
    return TRAIN_FACTOR * (encoder_flops(config, B, L) + lm_head_flops(config, predictions))
