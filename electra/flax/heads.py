"""Head blocks: `ElectraDiscriminatorPredictions`, `ElectraGeneratorPredictions`,
`ElectraClassificationHead`, `ElectraSequenceSummary`.

Match HF's Flax heads of the same names (parameter tree) and the PyTorch ones (numbers,
docs/reference.md section 3). The tied language-model output layer (`generator_lm_head`) lives in
`tasks.py`, since it reads the word-embedding table of the backbone.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from electra.common.config import ElectraConfig
from electra.flax.activations import get_activation
from electra.flax.attention import dense
from electra.flax.prng import Dropout


class ElectraDiscriminatorPredictions(nn.Module):
    """dense (H->H) -> hidden_act -> dense_prediction (H->1), squeezed: logits (B, L)."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self.config.hidden_size, self.config, self.dtype, self.param_dtype)
        self.dense_prediction = dense(1, self.config, self.dtype, self.param_dtype)
        self.activation = get_activation(self.config.hidden_act)

    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        hidden_states = self.activation(self.dense(hidden_states))  # (B, L, H)
        return self.dense_prediction(hidden_states)[..., 0]  # (B, L)


class ElectraGeneratorPredictions(nn.Module):
    """dense (H->E) -> gelu -> LayerNorm: (B, L, E), fed to the output layer."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self.config.embedding_size, self.config, self.dtype, self.param_dtype)
        self.LayerNorm = nn.LayerNorm(epsilon=self.config.layer_norm_eps, dtype=jnp.float32, param_dtype=self.param_dtype)  # HF name
        self.activation = get_activation("gelu")

    def __call__(self, hidden_states: jax.Array) -> jax.Array:
        hidden_states = self.activation(self.dense(hidden_states))  # (B, L, E)
        return self.LayerNorm(hidden_states).astype(self.dtype)


class ElectraClassificationHead(nn.Module):
    """Token 0 -> dropout -> dense (H->H) -> gelu -> dropout -> out_proj (H->num_labels)."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        config = self.config
        self.dense = dense(config.hidden_size, config, self.dtype, self.param_dtype)
        self.dropout = Dropout(config.classifier_dropout_prob)
        self.out_proj = dense(config.num_labels, config, self.dtype, self.param_dtype)
        self.activation = get_activation("gelu")

    def __call__(self, hidden_states: jax.Array, train: bool = False) -> jax.Array:
        x = hidden_states[:, 0]  # (B, H)
        x = self.dropout(x, deterministic=not train)
        x = self.activation(self.dense(x))
        x = self.dropout(x, deterministic=not train)
        return self.out_proj(x)  # (B, num_labels)


class ElectraSequenceSummary(nn.Module):
    """One vector per sequence (`summary_type` first / last / mean / cls_index), then
    `summary` (H->H, when `summary_use_proj`) -> `summary_activation` -> dropout."""

    config: ElectraConfig
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        config = self.config
        if config.summary_use_proj:
            self.summary = dense(config.hidden_size, config, self.dtype, self.param_dtype)
        self.activation = get_activation(config.summary_activation) if config.summary_activation else (lambda x: x)
        self.last_dropout = Dropout(config.summary_last_dropout)

    def __call__(self, hidden_states: jax.Array, cls_index: jax.Array | None = None, train: bool = False) -> jax.Array:
        """hidden_states (B, L, H); cls_index (B,) or None (last token). Returns (B, H)."""
        summary_type = self.config.summary_type
        if summary_type == "first":
            output = hidden_states[:, 0]
        elif summary_type == "last":
            output = hidden_states[:, -1]
        elif summary_type == "mean":
            output = hidden_states.mean(axis=1)
        else:  # "cls_index"
            if cls_index is None:
                cls_index = jnp.full(hidden_states.shape[:1], hidden_states.shape[1] - 1)
            output = jnp.take_along_axis(hidden_states, cls_index[:, None, None], axis=1)[:, 0]
        if self.config.summary_use_proj:
            output = self.summary(output)
        output = self.activation(output)
        return self.last_dropout(output, deterministic=not train)


class ElectraTiedLMHead(nn.Module):
    """`generator_lm_head` tied to the word embeddings: a bias only (HF's `FlaxElectraTiedDense`);
    the weight is the embedding table, passed in. (B, L, E) -> (B, L, V)."""

    vocab_size: int
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, hidden_states: jax.Array, embedding: jax.Array) -> jax.Array:
        bias = self.param("bias", nn.initializers.zeros, (self.vocab_size,), self.param_dtype)
        logits = jnp.einsum("ble,ve->blv", hidden_states, embedding.astype(self.dtype))
        return logits + bias.astype(self.dtype)
