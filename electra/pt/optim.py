"""The ELECTRA optimizer in PyTorch: AdamW without bias correction (Google's `AdamWeightDecayOptimizer`).

update = m / (sqrt(v) + eps) + weight_decay * p  (decay only where `schedule.decays(name)`),
p <- p - lr * update, with m and v the plain exponential moving averages (no 1 - beta^t
correction). Gradients are clipped to a global norm first (`clip_grad_norm_`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from electra.common.pretraining import schedule


class ElectraAdamW(torch.optim.Optimizer):
    """AdamW as in the original ELECTRA code: no bias correction, decoupled weight decay.

    Args:
        named_params: (canonical name, parameter) pairs; names pick weight decay
            (LayerNorm and biases get none). Shared parameters must appear once.
        lr: learning rate (the caller updates `param_groups[i]["lr"]` per step).
    """

    def __init__(
        self,
        named_params: Iterable[tuple[str, torch.nn.Parameter]],
        lr: float = 5e-4,
        betas: tuple[float, float] = (schedule.ADAM_BETA1, schedule.ADAM_BETA2),
        eps: float = schedule.ADAM_EPSILON,
        weight_decay: float = schedule.WEIGHT_DECAY,
    ):
        decay, no_decay = [], []
        self.names: dict[torch.nn.Parameter, str] = {}
        for name, param in named_params:
            if not param.requires_grad:
                continue
            if param in self.names:
                raise ValueError(f"parameter {name} is also listed as {self.names[param]}; list shared parameters once")
            self.names[param] = name
            (decay if schedule.decays(name) else no_decay).append(param)
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        super().__init__([g for g in groups if g["params"]], dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            beta1, beta2 = group["betas"]
            for p in params:
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            grads = [p.grad for p in params]
            m = [self.state[p]["exp_avg"] for p in params]
            v = [self.state[p]["exp_avg_sq"] for p in params]
            torch._foreach_lerp_(m, grads, 1 - beta1)  # m = b1 m + (1 - b1) g
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)  # v = b2 v + (1 - b2) g^2
            denom = torch._foreach_sqrt(v)
            torch._foreach_add_(denom, group["eps"])
            update = torch._foreach_div(m, denom)
            if group["weight_decay"]:
                torch._foreach_add_(update, params, alpha=group["weight_decay"])
            torch._foreach_add_(params, update, alpha=-group["lr"])
        return loss
