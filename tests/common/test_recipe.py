"""electra.common.pretraining.recipe: the step metrics from their counts (framework-free)."""

import math

import numpy as np
import pytest

from electra.common.pretraining import recipe


def test_metric_ratios_by_hand():
    # 3 of 4 masked right; 40 of 50 tokens right; 6 predicted replaced, 8 replaced, 4 both.
    counts = [3, 4, 40, 50, 4, 6, 8]
    assert recipe.metric_ratios(np.float32(counts)) == {
        "generator_accuracy": np.float32(0.75),
        "discriminator_accuracy": np.float32(0.8),
        "discriminator_precision": np.float32(4) / np.float32(6),
        "discriminator_recall": np.float32(0.5),
    }
    # Nothing predicted replaced, nothing replaced: precision and recall 0, not NaN.
    none = recipe.metric_ratios(np.float32([1, 2, 10, 10, 0, 0, 0]))
    assert (none["discriminator_precision"], none["discriminator_recall"]) == (0.0, 0.0)


def test_step_metrics_divides_summed_counts_not_averaged_ratios():
    # Two workers: each has its share of the losses and its own counts.
    one = np.array([10.0, 1.0, 0.18, 1, 2, 20, 25, 1, 1, 3])
    two = np.array([12.0, 2.0, 0.2, 3, 6, 15, 25, 6, 9, 7])
    metrics = recipe.step_metrics(one + two)
    assert list(metrics) == list(recipe.STEP_METRICS)
    assert all(type(v) is float for v in metrics.values())
    assert metrics == {"loss": 22.0, "generator_loss": 3.0, "discriminator_loss": pytest.approx(0.38, abs=1e-15),
                       "generator_accuracy": 0.5, "discriminator_accuracy": 0.7,
                       "discriminator_precision": 0.7, "discriminator_recall": 0.7}
    # The workers' own precisions are 1.0 and 2/3: their mean (5/6) is not the batch's.
    assert metrics["discriminator_precision"] != (1.0 + 6 / 9) / 2


def test_step_metrics_without_masked_positions_and_wrong_length():
    metrics = recipe.step_metrics([1.0, 0.0, 0.02, 0, 0, 9, 10, 0, 1, 0])
    assert math.isnan(metrics["generator_accuracy"]) and metrics["discriminator_precision"] == 0.0
    with pytest.raises(ValueError, match="expected 3 losses then 7 counts, got shape \\(9,\\)"):
        recipe.step_metrics([0.0] * 9)


def test_step_metrics_are_read_once_and_only_when_looked_at():
    """`StepMetrics` (what every trainer's train_step returns) leaves the values on the device
    until a key is read, then reads them once; `skipped_step` marks a non-finite gradient norm."""
    reads = []
    values = [10.0, 1.0, 0.18, 1, 2, 20, 25, 1, 1, 3, 0.5]

    def fetch():
        reads.append(1)
        return list(values)

    metrics = recipe.StepMetrics(fetch, lr=1e-3)
    assert reads == []  # built without reading
    assert metrics["loss"] == 10.0 and metrics["grad_norm"] == 0.5 and metrics["lr"] == 1e-3
    assert dict(metrics) == recipe.step_metrics(values[:-1]) | {"lr": 1e-3, "grad_norm": 0.5}
    assert "skipped_step" not in metrics and len(metrics) == len(recipe.STEP_METRICS) + 2
    assert recipe.objective_metrics("rtd", metrics) == dict(metrics)
    assert recipe.objective_metrics("mlm", metrics) == {"loss": 10.0, "mlm_accuracy": 0.5, "lr": 1e-3, "grad_norm": 0.5}
    assert reads == [1]  # one transfer, however many reads
    skipped = recipe.StepMetrics(lambda: values[:-1] + [float("inf")], lr=0.0, report_skipped=True)
    assert skipped["skipped_step"] == 1.0 and math.isinf(skipped["grad_norm"])
    assert recipe.StepMetrics(lambda: values, lr=0.0, report_skipped=True)["skipped_step"] == 0.0


def test_prior_logit_is_the_log_odds_and_refuses_shares_outside_0_1():
    import math

    assert recipe.prior_logit(0.15) == pytest.approx(math.log(0.15 / 0.85), abs=1e-12)
    assert recipe.prior_logit(0.5) == 0.0
    p = recipe.prior_logit(0.15)
    assert 1 / (1 + math.exp(-p)) == pytest.approx(0.15, abs=1e-12)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
            recipe.prior_logit(bad)
