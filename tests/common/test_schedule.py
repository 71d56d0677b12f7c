"""The learning-rate schedule: warmup multiplied with decay, as in Google's ELECTRA code."""

import pytest

from electra.common.pretraining.schedule import LinearSchedule, decays


def test_warmup_and_decay_act_at_once():
    schedule = LinearSchedule(peak=1e-3, warmup_steps=100, total_steps=1000)
    assert schedule(0) == 0.0
    # Halfway through warmup, decay already shrank the rate by 50/1000.
    assert schedule(50) == pytest.approx(1e-3 * 0.5 * 0.95)
    assert schedule(100) == pytest.approx(1e-3 * 0.9)
    assert schedule(1000) == 0.0
    assert schedule(2000) == 0.0


def test_no_warmup_and_bad_values():
    assert LinearSchedule(peak=2.0, warmup_steps=0, total_steps=4)(1) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="learning rate"):
        LinearSchedule(peak=0.0, warmup_steps=1, total_steps=2)
    with pytest.raises(ValueError, match="total_steps"):
        LinearSchedule(peak=1.0, warmup_steps=1, total_steps=0)


def test_weight_decay_skips_layer_norm_and_biases():
    assert decays("electra.encoder.layer.0.attention.self.query.weight")
    assert not decays("electra.encoder.layer.0.attention.self.query.bias")
    assert not decays("electra.embeddings.LayerNorm.weight")
    assert decays("electra.embeddings.word_embeddings.weight")
