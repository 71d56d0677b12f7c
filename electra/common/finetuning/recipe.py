"""ELECTRA's fine-tuning recipe: defaults and the layer-wise learning rate (docs/finetuning.md).

Where each default comes from (Clark et al. 2020, "ELECTRA", appendix Table 7, and
`google-research/electra` `configure_finetuning.py`, the code behind the released results):

- learning rate: 3e-4 for ELECTRA-Small, 1e-4 for Base, 5e-5 for Large (Table 7;
  configure_finetuning.py: 1e-4, 5e-5 for "large"). Picked here from the hidden size.
- layer-wise learning-rate decay: 0.8 (Small/Base), 0.9 (Large) (Table 7; configure_finetuning.py).
- weight decay: 0.01 (configure_finetuning.py `weight_decay_rate`; Table 7 prints 0, the code
  that produced the numbers uses 0.01, which we follow).
- warmup: the first 10% of the steps (`warmup_proportion` 0.1; Table 7 "warmup fraction"),
  then linear decay to 0 (`electra.common.pretraining.schedule.LinearSchedule`).
- epochs: 3 (configure_finetuning.py `num_train_epochs`; Table 7: 3, except 10 for RTE/STS and
  2 for SQuAD); batch size 32; max length 128 (`max_seq_length`; 512 for SQuAD there).
- AdamW without bias correction, betas (0.9, 0.999), eps 1e-6, no decay on LayerNorm and
  biases, global-norm clip 1.0: the pretraining optimizer (`electra.common.pretraining.schedule`).
"""

from __future__ import annotations

import math

LEARNING_RATE = 1e-4  # Base
LEARNING_RATE_SMALL = 3e-4
LEARNING_RATE_LARGE = 5e-5
LAYERWISE_LR_DECAY = 0.8
LAYERWISE_LR_DECAY_LARGE = 0.9
WEIGHT_DECAY = 0.01
WARMUP_PROPORTION = 0.1
EPOCHS = 3
BATCH_SIZE = 32
MAX_LENGTH = 128

_SMALL_HIDDEN = 256  # ELECTRA-Small's hidden size
_LARGE_HIDDEN = 1024  # ELECTRA-Large's hidden size
_EMBEDDING_PARTS = ("embeddings", "embeddings_project")


def default_learning_rate(hidden_size: int) -> float:
    """Table 7's peak rate for the model size: Small (hidden <= 256) 3e-4, Large (>= 1024) 5e-5, else 1e-4."""
    if hidden_size <= _SMALL_HIDDEN:
        return LEARNING_RATE_SMALL
    if hidden_size >= _LARGE_HIDDEN:
        return LEARNING_RATE_LARGE
    return LEARNING_RATE


def default_layerwise_lr_decay(hidden_size: int) -> float:
    """Table 7's layer-wise decay: 0.9 for Large (hidden >= 1024), 0.8 otherwise."""
    return LAYERWISE_LR_DECAY_LARGE if hidden_size >= _LARGE_HIDDEN else LAYERWISE_LR_DECAY


def warmup_steps(total_steps: int, proportion: float = WARMUP_PROPORTION) -> int:
    """Warmup steps as ELECTRA computes them: int(total x proportion)."""
    return int(total_steps * proportion)


def layer_depth(canonical_name: str, num_layers: int) -> int:
    """Depth of a parameter as ELECTRA's `_get_layer_lrs` assigns it: embeddings and
    embeddings_project 0, encoder layer i i + 1, anything else (the task head) num_layers + 2.

    `canonical_name` is an HF PyTorch state-dict key, with or without the `electra.` prefix.
    """
    parts = canonical_name.split(".")
    if parts[0] == "electra":
        parts = parts[1:]
    if parts and parts[0] in _EMBEDDING_PARTS:
        return 0
    if len(parts) > 2 and parts[0] == "encoder" and parts[1] == "layer":
        index = int(parts[2])
        if not 0 <= index < num_layers:
            raise ValueError(f"{canonical_name}: layer {index} outside a {num_layers}-layer model")
        return index + 1
    return num_layers + 2


def layerwise_lr_multiplier(canonical_name: str, num_layers: int, decay: float) -> float:
    """The factor on the peak learning rate for this parameter: decay ** (num_layers + 2 - depth).

    decay 1.0 (or 0, ELECTRA's "off") gives 1.0 everywhere. The head gets 1.0, the top encoder
    layer decay ** 2, embeddings decay ** (num_layers + 2).
    """
    if not (0.0 <= decay <= 1.0) or math.isnan(decay):
        raise ValueError(f"layer-wise learning-rate decay must be in [0, 1] (0 or 1: off), got {decay}")
    if decay in (0.0, 1.0):
        return 1.0
    return float(decay ** (num_layers + 2 - layer_depth(canonical_name, num_layers)))
