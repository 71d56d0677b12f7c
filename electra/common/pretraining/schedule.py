"""The ELECTRA learning-rate schedule and optimizer constants (docs/pretraining-recipe.md).

Warmup and decay act at once: lr(step) = peak x min(1, step / warmup) x max(0, 1 - step / total),
as Google's `optimization.create_optimizer` computes it (polynomial decay of power 1 to 0,
multiplied by the warmup ramp).
"""

from __future__ import annotations

from dataclasses import dataclass

# Defaults of the original pretraining code.
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-6
WEIGHT_DECAY = 0.01
CLIP_NORM = 1.0
# Parameters that get no weight decay: LayerNorm and biases (matched on canonical names).
NO_DECAY_MARKERS = ("LayerNorm", "bias")


@dataclass(frozen=True)
class LinearSchedule:
    """Linear warmup multiplied with linear decay to zero.

    Args:
        peak: the learning rate at the end of warmup if there were no decay.
        warmup_steps: steps of the linear ramp from 0.
        total_steps: the step at which the rate reaches 0.
    """

    peak: float
    warmup_steps: int
    total_steps: int

    def __post_init__(self) -> None:
        if not self.peak > 0:
            raise ValueError(f"learning rate must be positive, got {self.peak}")
        if self.warmup_steps < 0 or self.total_steps < 1:
            raise ValueError(f"need warmup_steps >= 0 and total_steps >= 1, got {self.warmup_steps}, {self.total_steps}")

    def __call__(self, step: int) -> float:
        warmup = min(1.0, step / self.warmup_steps) if self.warmup_steps else 1.0
        decay = max(0.0, 1.0 - step / self.total_steps)
        return self.peak * warmup * decay


def decays(canonical_name: str) -> bool:
    """Whether weight decay applies to the parameter with this canonical name."""
    return not any(marker in canonical_name for marker in NO_DECAY_MARKERS)
