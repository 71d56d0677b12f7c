"""Presets: Google's six published sizes (docs/reference.md section 1), `tiny`, and `generator_config`."""

from __future__ import annotations

import pytest

from electra.common.config import ElectraConfig, generator_config, preset_config
from electra.common.presets import PRESETS

# name: (embedding, hidden, layers, heads, intermediate, parameters of the bare model)
PUBLISHED = {
    "small-discriminator": (128, 256, 12, 4, 1024, 13_483_008),
    "small-generator": (128, 256, 12, 4, 1024, 13_483_008),
    "base-discriminator": (768, 768, 12, 12, 3072, 108_891_648),
    "base-generator": (768, 256, 12, 4, 1024, 33_511_168),
    "large-discriminator": (1024, 1024, 24, 16, 4096, 334_092_288),
    "large-generator": (1024, 256, 24, 4, 1024, 50_999_552),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_sizes(name):
    config = ElectraConfig.preset(name)
    sizes = (config.embedding_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
             config.intermediate_size, config.num_parameters())
    assert sizes == PUBLISHED[name]
    assert (config.vocab_size, config.max_position_embeddings, config.type_vocab_size, config.hidden_act,
            config.layer_norm_eps) == (30522, 512, 2, "gelu", 1e-12)


def test_num_parameters_counts_what_hf_builds():
    torch = pytest.importorskip("torch")
    import transformers

    for config in (preset_config("tiny"), preset_config("tiny", position_embedding_type="relative_key",
                                                       is_decoder=True, add_cross_attention=True)):
        torch.manual_seed(0)
        hf = transformers.ElectraModel(transformers.ElectraConfig(**{
            k: v for k, v in config.to_dict().items() if k not in ("id2label", "label2id")}))
        assert config.num_parameters() == sum(p.numel() for p in hf.parameters())


def test_tiny_aliases_and_overrides():
    assert PRESETS == (*PUBLISHED, "tiny")
    tiny = preset_config("tiny")
    assert (tiny.hidden_size, tiny.num_hidden_layers, tiny.max_position_embeddings) == (128, 4, 128)
    assert preset_config("base") == preset_config("base-discriminator")
    assert preset_config("small", vocab_size=1000).vocab_size == 1000
    with pytest.raises(ValueError, match="unknown preset 'huge'; known presets: small-discriminator"):
        preset_config("huge")
    with pytest.raises(ValueError, match="num_attention_heads"):
        preset_config("small", num_attention_heads=3)


@pytest.mark.parametrize("name, fraction, sizes", [
    ("small-discriminator", 0.25, (64, 1, 256)),
    ("base-discriminator", 1 / 3, (256, 4, 1024)),
    ("large-discriminator", 0.25, (256, 4, 1024)),
    ("small-discriminator", 1.0, (256, 4, 1024)),
])
def test_generator_config(name, fraction, sizes):
    disc = preset_config(name)
    gen = generator_config(disc, fraction)
    assert (gen.hidden_size, gen.num_attention_heads, gen.intermediate_size) == sizes
    assert (gen.embedding_size, gen.num_hidden_layers, gen.vocab_size, gen.max_position_embeddings) == (
        disc.embedding_size, disc.num_hidden_layers, disc.vocab_size, disc.max_position_embeddings)
    if name.startswith(("base", "large")):
        assert gen.num_parameters() == PUBLISHED[name.replace("discriminator", "generator")][5]


def test_generator_config_bad_fraction_and_head_divisor():
    with pytest.raises(ValueError, match=r"generator fraction must be in \(0, 1\], got 0"):
        generator_config(preset_config("tiny"), 0)
    with pytest.raises(ValueError, match="generator fraction"):
        generator_config(preset_config("tiny"), 1.5)
    gen = generator_config(preset_config("small", hidden_size=960, num_attention_heads=12), 0.2)
    assert gen.hidden_size == 192 and gen.num_attention_heads == 3 and gen.hidden_size % gen.num_attention_heads == 0
