"""Named model sizes: Google's six published checkpoints, plus `tiny` for demos and tests.

Data only (no import of `config`, which builds configs from it: `ElectraConfig.preset`,
`preset_config`, `generator_config`).
"""

from __future__ import annotations

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


def preset_fields(name: str) -> dict:
    """The `ElectraConfig` fields of a named preset (short names mean the discriminator)."""
    key = ALIASES.get(name, name)
    if key not in _SIZES:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS + tuple(ALIASES))}")
    E, H, layers, heads, I = _SIZES[key]
    fields = dict(_SHARED, embedding_size=E, hidden_size=H, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=I)
    if key == "tiny":
        fields["max_position_embeddings"] = 128
    return fields
