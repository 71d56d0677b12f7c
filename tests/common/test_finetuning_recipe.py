"""ELECTRA's layer-wise learning rates (google-research/electra model/optimization.py `_get_layer_lrs`)."""

import pytest

from electra.common.config import ElectraConfig
from electra.common.finetuning import recipe
from electra.common.weights.names import expected_shapes


def test_two_layer_multipliers_exact():
    # num_layers 2, decay 0.5: depth 0 -> 0.5**4, layer 0 -> 0.5**3, layer 1 -> 0.5**2, head -> 1.
    m = lambda name: recipe.layerwise_lr_multiplier(name, 2, 0.5)  # noqa: E731
    assert m("electra.embeddings.word_embeddings.weight") == 0.0625
    assert m("electra.embeddings.LayerNorm.bias") == 0.0625
    assert m("electra.embeddings_project.weight") == 0.0625
    assert m("electra.encoder.layer.0.attention.self.query.weight") == 0.125
    assert m("electra.encoder.layer.1.output.LayerNorm.weight") == 0.25
    assert m("encoder.layer.1.output.dense.bias") == 0.25  # bare ElectraModel keys
    assert m("classifier.dense.weight") == 1.0
    assert m("classifier.out_proj.bias") == 1.0
    assert m("qa_outputs.weight") == 1.0
    assert recipe.layerwise_lr_multiplier("electra.encoder.layer.0.output.dense.weight", 2, 0.8) == pytest.approx(0.8**3, abs=0)


def test_every_key_of_a_tiny_classifier_gets_its_depth():
    config = ElectraConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                           max_position_embeddings=32)
    depths = {name: recipe.layer_depth(name, 2) for name in expected_shapes(config, "ElectraForSequenceClassification")}
    assert {d for n, d in depths.items() if n.startswith("classifier.")} == {4}
    assert {d for n, d in depths.items() if ".embeddings" in n or "embeddings_project" in n} == {0}
    assert {d for n, d in depths.items() if ".layer.1." in n} == {2}
    assert sorted(set(depths.values())) == [0, 1, 2, 4]


def test_decay_off_and_bad_values():
    assert recipe.layerwise_lr_multiplier("electra.embeddings.word_embeddings.weight", 12, 1.0) == 1.0
    assert recipe.layerwise_lr_multiplier("electra.embeddings.word_embeddings.weight", 12, 0.0) == 1.0
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        recipe.layerwise_lr_multiplier("classifier.dense.weight", 2, 1.5)
    with pytest.raises(ValueError, match="layer 3 outside a 2-layer model"):
        recipe.layer_depth("electra.encoder.layer.3.output.dense.weight", 2)


def test_defaults_follow_table_7():
    assert recipe.default_learning_rate(256) == 3e-4
    assert recipe.default_learning_rate(768) == 1e-4
    assert recipe.default_learning_rate(1024) == 5e-5
    assert recipe.default_layerwise_lr_decay(768) == 0.8 and recipe.default_layerwise_lr_decay(1024) == 0.9
    assert recipe.WEIGHT_DECAY == 0.01 and recipe.EPOCHS == 3 and recipe.BATCH_SIZE == 32
    assert recipe.warmup_steps(1000) == 100 and recipe.warmup_steps(9) == 0
