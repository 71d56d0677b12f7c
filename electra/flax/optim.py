"""The ELECTRA optimizer in optax: AdamW without bias correction (Google's `AdamWeightDecayOptimizer`).

Mirrors `electra.pt.optim.ElectraAdamW` and PyTorch's `clip_grad_norm_`:
- `clip_by_global_norm`: g <- g x min(1, max_norm / (||g|| + 1e-6)), the norm over every leaf;
- `electra_adamw`: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2 (no 1 - beta^t correction),
  update = m / (sqrt(v) + eps) + weight_decay x p where `decay_mask` says so.
The learning rate is applied by the caller (p <- p - lr x update), so one compiled step
serves every rate of the schedule.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from electra.common.pretraining import schedule

CLIP_EPSILON = 1e-6  # PyTorch's clip_grad_norm_ adds it to the norm


class ElectraAdamState(NamedTuple):
    """First and second moments, trees shaped like the parameters."""

    mu: optax.Updates
    nu: optax.Updates


def global_norm(tree) -> jax.Array:
    """sqrt of the sum of squares of every leaf, in float32."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree_util.tree_leaves(tree)))


def clip_by_global_norm(tree, max_norm: float) -> tuple:
    """(clipped tree, norm before clipping), as `torch.nn.utils.clip_grad_norm_`."""
    norm = global_norm(tree)
    scale = jnp.minimum(1.0, max_norm / (norm + CLIP_EPSILON))
    return jax.tree_util.tree_map(lambda g: g * scale.astype(g.dtype), tree), norm


def decay_mask(params) -> dict:
    """True for leaves that get weight decay: not LayerNorm, not biases (`schedule.decays`)."""
    def decays(path, _leaf) -> bool:
        return schedule.decays(".".join(str(getattr(p, "key", p)) for p in path))

    return jax.tree_util.tree_map_with_path(decays, params)


def electra_adamw(
    mask,
    b1: float = schedule.ADAM_BETA1,
    b2: float = schedule.ADAM_BETA2,
    eps: float = schedule.ADAM_EPSILON,
    weight_decay: float = schedule.WEIGHT_DECAY,
) -> optax.GradientTransformation:
    """AdamW without bias correction; returns the update before the learning rate.

    Args:
        mask: a tree of bools like the parameters (see `decay_mask`): where weight decay applies.
    """

    def init(params):
        zeros = lambda p: jnp.zeros_like(p, dtype=jnp.float32)  # noqa: E731
        return ElectraAdamState(mu=jax.tree_util.tree_map(zeros, params), nu=jax.tree_util.tree_map(zeros, params))

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("electra_adamw needs the parameters (weight decay)")
        mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * jnp.square(g), state.nu, grads)

        def step(m, v, p, decays):
            u = m / (jnp.sqrt(v) + eps)
            return u + weight_decay * p if decays else u

        updates = jax.tree_util.tree_map(step, mu, nu, params, mask)
        return updates, ElectraAdamState(mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)
