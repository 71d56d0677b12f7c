"""The one loading path of the three backends' `from_pretrained`: the config (the
checkpoint's or the given one, with HF's keyword overrides), the weights (any HF format via
`checkpoint.read_state_dict`, or a Google TF1 checkpoint via `google.load_google_checkpoint`),
strict matching (`checkpoint.match_state_dict`). Each backend then only allocates its
parameters and copies the matched arrays in."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from electra.common.config import ElectraConfig, override_config
from electra.common.weights import google
from electra.common.weights.checkpoint import match_state_dict, read_state_dict


def load_pretrained(
    path: str | os.PathLike,
    architecture: str,
    config: ElectraConfig | None = None,
    *,
    network: str | None = None,
    ignore_mismatched_sizes: bool = False,
    **config_changes,
) -> tuple[ElectraConfig, dict[str, np.ndarray], list[str], list[str]]:
    """The one loading path of every backend's `from_pretrained`: config, weights, matching.

    Args:
        path: a checkpoint directory (`config.json` and weights in any supported format),
            a weights file or index with `config.json` beside it, or a Google TF1
            checkpoint (a prefix, or a directory with a `checkpoint` file).
        architecture: the class to load into (`ElectraForMaskedLM`, ...).
        config: used instead of the checkpoint's `config.json` (for a TF1 checkpoint:
            instead of the config inferred from its shapes).
        network: for a TF1 checkpoint, which network: "discriminator" or "generator";
            required there and refused for anything else.
        ignore_mismatched_sizes: see `match_state_dict`.
        **config_changes: HF's `from_pretrained` config overrides (`override_config`).
    Returns:
        (config, state, newly_initialised_keys, unused_keys), as `match_state_dict`; the
        config with the overrides applied.
    Raises:
        ValueError: `network` missing for a TF1 checkpoint or given for another one.
        TypeError: a keyword that is no config attribute.
        CheckpointError: no checkpoint, a damaged file, a missing, unexpected or misshapen weight.
    """
    path = Path(path)
    if google.is_google_checkpoint(path):
        if network is None:
            raise ValueError(f"{path} is a Google TF1 checkpoint, which holds two networks: pass network='discriminator' "
                             "(ElectraForPreTraining weights) or network='generator' (ElectraForMaskedLM weights)")
        config, state = google.load_google_checkpoint(path, network, config)
    else:
        if network is not None:
            raise ValueError(f"network={network!r} picks a network of a Google TF1 checkpoint, but {path} is not one "
                             "(a TF1 prefix with its .index, or a directory with a `checkpoint` file); leave network out")
        if config is None:
            config = ElectraConfig.from_pretrained(path if path.is_dir() else path.parent)
        state = read_state_dict(path)
    config = override_config(config, config_changes, f"{architecture}.from_pretrained")
    state, newly_initialised, unused = match_state_dict(state, config, architecture, source=str(path),
                                                        ignore_mismatched_sizes=ignore_mismatched_sizes)
    return config, state, newly_initialised, unused
