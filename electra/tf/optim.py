"""The ELECTRA optimizer in TensorFlow: AdamW without bias correction (Google's `AdamWeightDecayOptimizer`).

update = m / (sqrt(v) + eps) + weight_decay * p  (decay only where `schedule.decays(name)`),
p <- p - lr * update, with m and v the plain exponential moving averages (no 1 - beta^t
correction). Gradients are clipped to a global norm first (`tf.clip_by_global_norm`, in
the trainer). Mirrors `electra.pt.optim.ElectraAdamW`.

Under a `tf.distribute` strategy the moments are created in the strategy's scope (so they
are mirrored like the weights) and `apply` runs in cross-replica context on gradients that
are already reduced: each replica's copy gets the same update.
"""

from __future__ import annotations

from collections.abc import Iterable

import tensorflow as tf

from electra.common.pretraining import schedule


class ElectraAdamW:
    """AdamW as in the original ELECTRA code: no bias correction, decoupled weight decay.

    Args:
        named_variables: (canonical name, variable) pairs; names pick weight decay
            (LayerNorm and biases get none). Shared variables must appear once.
    """

    def __init__(
        self,
        named_variables: Iterable[tuple[str, tf.Variable]],
        betas: tuple[float, float] = (schedule.ADAM_BETA1, schedule.ADAM_BETA2),
        eps: float = schedule.ADAM_EPSILON,
        weight_decay: float = schedule.WEIGHT_DECAY,
    ):
        self.names: list[str] = []
        self.variables: list = []
        seen: dict[int, str] = {}
        for name, variable in named_variables:
            if id(variable) in seen:
                raise ValueError(f"variable {name} is also listed as {seen[id(variable)]}; list shared variables once")
            seen[id(variable)] = name
            self.names.append(name)
            self.variables.append(variable)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.decay = [schedule.decays(name) for name in self.names]
        self.exp_avg = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name="adam_m") for v in self.variables]
        self.exp_avg_sq = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name="adam_v") for v in self.variables]

    def apply(self, grads: list[tf.Tensor], lr: tf.Tensor) -> None:
        """One update of every variable from its gradient (same order as `variables`;
        a None gradient leaves the variable and its moments unchanged)."""
        beta1, beta2 = self.betas
        for p, g, m, v, decay in zip(self.variables, grads, self.exp_avg, self.exp_avg_sq, self.decay):
            if g is None:
                continue
            g = tf.convert_to_tensor(g)  # IndexedSlices of embedding tables -> dense
            m.assign(beta1 * m + (1 - beta1) * g)
            v.assign(beta2 * v + (1 - beta2) * tf.square(g))
            update = m / (tf.sqrt(v) + self.eps)
            if decay and self.weight_decay:
                update = update + self.weight_decay * p
            p.assign_sub(lr * update)
