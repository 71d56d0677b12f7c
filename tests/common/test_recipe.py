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
    until a key is read, then reads them once; `skipped_steps` marks a step the loss scaler skipped."""
    reads = []
    values = [10.0, 1.0, 0.18, 1, 2, 20, 25, 1, 1, 3, 0.5]

    def to_host(device_values):
        reads.append(1)
        return list(device_values)

    metrics = recipe.StepMetrics(np.asarray(values), to_host, lr=1e-3)
    assert reads == []  # built without reading
    assert metrics["loss"] == 10.0 and metrics["grad_norm"] == 0.5 and metrics["lr"] == 1e-3
    assert dict(metrics) == recipe.step_metrics(values[:-1]) | {"lr": 1e-3, "grad_norm": 0.5}
    assert "skipped_steps" not in metrics and len(metrics) == len(recipe.STEP_METRICS) + 2
    assert recipe.objective_metrics("rtd", metrics) == dict(metrics)
    assert recipe.objective_metrics("mlm", metrics) == {"loss": 10.0, "mlm_accuracy": 0.5, "lr": 1e-3, "grad_norm": 0.5}
    assert reads == [1]  # one transfer, however many reads
    assert list(metrics.values()) == [metrics[k] for k in metrics]  # a Mapping's values(), not the device vector
    skipped = recipe.StepMetrics(np.asarray(values[:-1] + [0.0, 1.0]), to_host, lr=0.0, report_skipped=True)
    assert skipped["skipped_steps"] == 1.0 and math.isinf(skipped["grad_norm"])
    taken = recipe.StepMetrics(np.asarray(values + [0.0]), to_host, lr=0.0, report_skipped=True)
    assert taken["skipped_steps"] == 0.0 and taken["grad_norm"] == 0.5
    with pytest.raises(ValueError, match="expected 12 summed values"):
        dict(recipe.StepMetrics(np.asarray(values), to_host, lr=0.0, report_skipped=True))


def test_a_metrics_window_sums_on_the_device_and_reads_once_per_window():
    """`MetricsWindow` (what `electra pretrain` logs): the steps' vectors are added as arrays
    (never read) until `read`, which transfers once: losses and grad_norm averaged over the
    steps, ratios over the summed counts, the last step's lr; then the window starts over."""
    reads = []

    def to_host(device_values):
        reads.append(1)
        return np.asarray(device_values).tolist()

    rng = np.random.default_rng(0)
    steps = []
    for i in range(3):
        counts = rng.integers(1, 50, 7).astype(float)
        counts[1], counts[3] = counts[0] + 10, counts[2] + 30  # correct <= masked, correct <= valid
        steps.append(np.concatenate([rng.random(3), counts, [rng.random()]]))
    window = recipe.MetricsWindow()
    for i, values in enumerate(steps):
        window.add(recipe.StepMetrics(values, to_host, lr=0.1 * (i + 1)))
    assert reads == [] and len(window) == 3
    got = window.read()
    assert reads == [1]
    total = np.sum(steps, axis=0)
    assert got["loss"] == pytest.approx(np.mean([v[0] for v in steps]))
    assert got["generator_loss"] == pytest.approx(np.mean([v[1] for v in steps]))
    assert got["generator_accuracy"] == pytest.approx(total[3] / total[4])  # token-weighted, not a mean of ratios
    assert got["discriminator_recall"] == pytest.approx(total[7] / total[9])
    assert got["grad_norm"] == pytest.approx(np.mean([v[-1] for v in steps])) and got["lr"] == pytest.approx(0.3)
    # One step's window is that step's StepMetrics.
    window.add(recipe.StepMetrics(steps[0], to_host, lr=0.5))
    assert window.read() == dict(recipe.StepMetrics(steps[0], to_host, lr=0.5))
    with pytest.raises(ValueError, match="no step was added"):
        window.read()
    # A skipped step (fp16 loss scaler) is counted and left out of the grad_norm mean.
    window.add(recipe.StepMetrics(np.append(steps[0], 0.0), to_host, lr=0.0, report_skipped=True))
    window.add(recipe.StepMetrics(np.append(np.append(steps[1][:-1], 0.0), 1.0), to_host, lr=0.0, report_skipped=True))
    got = window.read()
    assert got["skipped_steps"] == 1.0 and got["grad_norm"] == pytest.approx(steps[0][-1])


def test_prior_logit_is_the_log_odds_and_refuses_shares_outside_0_1():
    import math

    assert recipe.prior_logit(0.15) == pytest.approx(math.log(0.15 / 0.85), abs=1e-12)
    assert recipe.prior_logit(0.5) == 0.0
    p = recipe.prior_logit(0.15)
    assert 1 / (1 + math.exp(-p)) == pytest.approx(0.15, abs=1e-12)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
            recipe.prior_logit(bad)
