"""Replaced-token-detection pretraining in PyTorch: `ElectraPretrainer` and its trainer.

`ElectraPretrainer` pairs a generator (`ElectraForMaskedLM`) and a discriminator
(`ElectraForPreTraining`) that share one `ElectraEmbeddings` module (word, position and
token-type tables and the embedding LayerNorm), with the generator's output layer tied to
the shared word table (shared/PRETRAINING.md, step 7). The generator head runs only at
the masked positions, which gives the same losses as the full (B, L, V) logits at a
fraction of the cost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from electra.common import pretraining as recipe
from electra.common.config import ElectraConfig
from electra.common.outputs import ElectraPretrainerOutput
from electra.common.schedule import CLIP_NORM, LinearSchedule
from electra.pt.optim import ElectraAdamW
from electra.pt.tasks import ElectraForMaskedLM, ElectraForPreTraining


class ElectraPretrainer(nn.Module):
    """Generator + discriminator with shared embeddings.

    Args:
        discriminator_config, generator_config: the two networks (see
            `electra.common.presets.generator_config`); they must agree on the embedding sizes.
        loss_weights: generator and discriminator loss weights (1 and 50 by default).
        temperature: sampling temperature of the generator.
        seed: seeds the weight initialisation (without touching the global torch RNG);
            None draws from the global RNG.
    """

    def __init__(
        self,
        discriminator_config: ElectraConfig,
        generator_config: ElectraConfig,
        loss_weights: recipe.LossWeights = recipe.LossWeights(),
        temperature: float = 1.0,
        seed: int | None = None,
    ):
        super().__init__()
        recipe.check_pair(discriminator_config, generator_config)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(recipe.step_seed(seed, 0, "init"))
            self.discriminator = ElectraForPreTraining(discriminator_config)
            self.generator = ElectraForMaskedLM(generator_config)
        # One embeddings module in both networks: tables and LayerNorm shared, then re-tie
        # the generator head to the shared word table.
        self.generator.electra.embeddings = self.discriminator.electra.embeddings
        self.generator.tie_weights()
        self.loss_weights = loss_weights
        self.temperature = temperature

    def forward(
        self,
        input_ids: torch.Tensor,
        masked_ids: torch.Tensor,
        mlm_labels: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        gumbel_noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> ElectraPretrainerOutput:
        """One pretraining forward pass.

        Args:
            input_ids: (B, L) original token ids.
            masked_ids: (B, L) the generator's input ([MASK] at most chosen positions).
            mlm_labels: (B, L) original id at the chosen positions, -100 elsewhere.
            attention_mask, token_type_ids: (B, L).
            gumbel_noise: (B, L, V) float32 noise to sample with (tests inject it);
                drawn from `generator` otherwise.
            generator: torch RNG for the Gumbel noise.
        Returns:
            `ElectraPretrainerOutput` with the losses, metrics, `sampled_ids` (B, L) and
            `replaced` (B, L); `generator_logits` is (M, V) over the M masked positions.
        """
        chosen = mlm_labels != -100  # (B, L)
        hidden = self.generator.electra(masked_ids, attention_mask, token_type_ids).last_hidden_state  # (B, L, Hg)
        gen_logits = self.generator.generator_lm_head(self.generator.generator_predictions(hidden[chosen]))  # (M, V)
        targets = mlm_labels[chosen]  # (M,)
        gen_loss = F.cross_entropy(gen_logits.float(), targets)

        with torch.no_grad():
            if gumbel_noise is None:
                u = torch.rand(gen_logits.shape, generator=generator, dtype=torch.float32, device=gen_logits.device)
                noise = -torch.log(-torch.log(u + recipe.GUMBEL_EPS) + recipe.GUMBEL_EPS)
            else:
                noise = gumbel_noise.to(torch.float32)[chosen]
            sampled = torch.argmax(gen_logits.float() / self.temperature + noise, dim=-1)  # (M,)
            sampled_ids = input_ids.masked_scatter(chosen, sampled.to(input_ids.dtype))
            replaced = (sampled_ids != input_ids).long()  # (B, L)

        disc = self.discriminator(sampled_ids, attention_mask, token_type_ids, labels=replaced)
        loss = self.loss_weights.generator * gen_loss + self.loss_weights.discriminator * disc.loss

        with torch.no_grad():
            gen_accuracy = (gen_logits.argmax(-1) == targets).float().mean()
            valid = torch.ones_like(replaced, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
            predicted = disc.logits > 0
            truth = replaced.bool()
            tp = (predicted & truth & valid).sum()
            disc_accuracy = ((predicted == truth) & valid).sum() / valid.sum()
            precision = tp / (predicted & valid).sum().clamp(min=1)
            recall = tp / (truth & valid).sum().clamp(min=1)
        return ElectraPretrainerOutput(
            loss=loss,
            generator_loss=gen_loss,
            discriminator_loss=disc.loss,
            generator_accuracy=gen_accuracy,
            discriminator_accuracy=disc_accuracy,
            discriminator_precision=precision,
            discriminator_recall=recall,
            generator_logits=gen_logits,
            discriminator_logits=disc.logits,
            sampled_ids=sampled_ids,
            replaced=replaced,
        )


class PretrainingTrainer:
    """Optimizer, schedule and per-step randomness around an `ElectraPretrainer`.

    The backend-neutral loop (`electra.pretrain`) calls `train_step`, `evaluate`,
    `state_arrays`/`load_state_arrays` and `export`; arrays cross the boundary as NumPy.
    Every random draw of step k comes from `recipe.step_seed(seed, k, ...)`, so a resumed
    run repeats the uninterrupted one exactly.
    """

    def __init__(self, pretrainer: ElectraPretrainer, schedule: LinearSchedule, *, seed: int = 0, clip_norm: float = CLIP_NORM, device: str | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = pretrainer.to(self.device)
        self.schedule = schedule
        self.seed = seed
        self.clip_norm = clip_norm
        self.optimizer = ElectraAdamW(self.model.named_parameters(), lr=schedule(0))

    def _tensors(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(np.asarray(v, dtype=np.int64), device=self.device) for k, v in batch.items()}

    def train_step(self, batch: dict[str, np.ndarray], step: int) -> dict[str, float]:
        """One optimizer step on a masked batch (input_ids, masked_ids, mlm_labels, attention_mask, token_type_ids)."""
        self.model.train()
        torch.manual_seed(recipe.step_seed(self.seed, step, "dropout"))
        rng = torch.Generator(device=self.device).manual_seed(recipe.step_seed(self.seed, step, "gumbel"))
        lr = self.schedule(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        out = self.model(**self._tensors(batch), generator=rng)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
        self.optimizer.step()
        metrics = {k: float(getattr(out, k).detach()) for k in _SCALARS}
        metrics.update(lr=lr, grad_norm=float(grad_norm))
        return metrics

    @torch.no_grad()
    def evaluate(self, batch: dict[str, np.ndarray], step: int) -> dict[str, np.ndarray]:
        """Held-out forward without dropout: discriminator scores and labels for AUC."""
        self.model.eval()
        rng = torch.Generator(device=self.device).manual_seed(recipe.step_seed(self.seed, step, "eval-gumbel"))
        tensors = self._tensors(batch)
        out = self.model(**tensors, generator=rng)
        chosen = tensors["mlm_labels"] != -100
        return {
            "scores": out.discriminator_logits.float().cpu().numpy(),
            "replaced": out.replaced.cpu().numpy(),
            "valid": tensors["attention_mask"].cpu().numpy(),
            "generator_correct": (out.generator_logits.argmax(-1) == tensors["mlm_labels"][chosen]).cpu().numpy(),
            "generator_loss": np.float64(out.generator_loss),
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
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(torch.from_numpy(arrays[f"param/{name}"]))
                if f"adam_m/{name}" in arrays:
                    self.optimizer.state[param] = {
                        "exp_avg": torch.tensor(arrays[f"adam_m/{name}"], device=self.device),
                        "exp_avg_sq": torch.tensor(arrays[f"adam_v/{name}"], device=self.device),
                    }

    def export(self, directory: Path) -> None:
        """Write `discriminator/` and `generator/` in canonical format (HF-loadable)."""
        self.model.discriminator.save_pretrained(Path(directory) / "discriminator")
        self.model.generator.save_pretrained(Path(directory) / "generator")


_SCALARS = (
    "loss",
    "generator_loss",
    "discriminator_loss",
    "generator_accuracy",
    "discriminator_accuracy",
    "discriminator_precision",
    "discriminator_recall",
)
