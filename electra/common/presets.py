"""Named model sizes: Google's six published checkpoints, plus `tiny` for demos and tests.

`generator_config` derives a generator from a discriminator as the ELECTRA pretraining
code does (docs/pretraining-recipe.md): hidden = round(H * fraction), intermediate = 4 x hidden,
heads = max(1, hidden // 64), same depth and embedding size (the embeddings are shared).
"""

from __future__ import annotations

from typing import Any

from electra.common.config import ElectraConfig

_SHARED = dict(vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12)

# name: (embedding E, hidden H, layers, heads N, intermediate I)
_SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "small-discriminator": (128, 256, 12, 4, 1024),
    "small-generator": (128, 256, 12, 4, 1024),
    "base-discriminator": (768, 768, 12, 12, 3072),
    "base-generator": (768, 256, 12, 4, 1024),
    "large-discriminator": (1024, 1024, 24, 16, 4096),
    "large-generator": (1024, 256, 24, 4, 1024),
    # Not published: small enough to pretrain for a few minutes on two CPU cores.
    "tiny": (64, 128, 4, 2, 512),
}
PRESETS = tuple(_SIZES)
# Short names used by the command line (`--preset small`) mean the discriminator.
ALIASES = {"small": "small-discriminator", "base": "base-discriminator", "large": "large-discriminator"}


def preset_config(name: str, **changes: Any) -> ElectraConfig:
    """The config of a named preset, with optional field overrides (`vocab_size=...`)."""
    key = ALIASES.get(name, name)
    if key not in _SIZES:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS + tuple(ALIASES))}")
    E, H, layers, heads, I = _SIZES[key]
    fields: dict[str, Any] = dict(
        _SHARED,
        embedding_size=E,
        hidden_size=H,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=I,
    )
    if key == "tiny":
        fields["max_position_embeddings"] = 128
    return ElectraConfig(**fields).replace(**changes)


def generator_config(discriminator: ElectraConfig, fraction: float = 0.25) -> ElectraConfig:
    """The generator paired with `discriminator`: hidden size scaled by `fraction`.

    Args:
        discriminator: the discriminator's config.
        fraction: generator hidden size / discriminator hidden size (the paper uses 1/4
            for small and large, 1/3 for base; Google's released Small used 1.0).
    Returns:
        A config with the same vocabulary, positions, embedding size and depth.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"generator fraction must be in (0, 1], got {fraction!r}")
    hidden = max(1, int(round(discriminator.hidden_size * fraction)))
    heads = max(1, hidden // 64)
    while hidden % heads:  # keep the head count a divisor of the width
        heads -= 1
    return discriminator.replace(
        hidden_size=hidden,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        is_decoder=False,
        add_cross_attention=False,
    )
