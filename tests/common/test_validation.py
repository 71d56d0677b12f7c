"""The shared label-range table: what each head's labels may hold, and the message."""

import pytest

from electra.common.config import ElectraConfig
from electra.common.validation import IGNORE_INDEX, label_range


@pytest.fixture
def config():
    return ElectraConfig(vocab_size=99).replace(num_labels=3)


@pytest.mark.parametrize("architecture, limit, limit_name", [
    ("ElectraForMaskedLM", 99, "vocab_size"),
    ("ElectraForCausalLM", 99, "vocab_size"),
    ("ElectraForTokenClassification", 3, "num_labels"),
    ("ElectraForSequenceClassification", 3, "num_labels"),
])
def test_class_labels_allow_the_ignore_index(config, architecture, limit, limit_name):
    rule = label_range(architecture, config, "labels")
    assert (rule.low, rule.high, rule.ignore) == (0, limit - 1, IGNORE_INDEX)
    assert rule.message("labels", 7) == f"labels must lie in [0, {limit_name}={limit}), or -100 (ignored), got 7"


def test_multiple_choice_range_is_the_number_of_choices(config):
    rule = label_range("ElectraForMultipleChoice", config, "labels", num_choices=4)
    assert (rule.low, rule.high, rule.ignore) == (0, 3, IGNORE_INDEX)


def test_question_answering_allows_the_length_as_outside(config):
    rule = label_range("ElectraForQuestionAnswering", config, "start_positions", length=9)
    assert (rule.low, rule.high, rule.ignore) == (0, 9, None)
    assert "got -1" in rule.message("start_positions", -1)


def test_pretraining_labels_are_binary_at_attended_positions(config):
    rule = label_range("ElectraForPreTraining", config, "labels")
    assert (rule.low, rule.high, rule.ignore, rule.attended_only) == (0, 1, None, True)


def test_regression_and_multi_label(config):
    assert label_range("ElectraForSequenceClassification", ElectraConfig().replace(num_labels=1), "labels") is None
    rule = label_range("ElectraForSequenceClassification", config, "labels", float_labels=True)
    assert (rule.low, rule.high, rule.ignore) == (0, 1, None)
    configured = ElectraConfig(problem_type="single_label_classification").replace(num_labels=3)
    assert label_range("ElectraForSequenceClassification", configured, "labels", float_labels=True).ignore == IGNORE_INDEX


def test_unknown_architecture_raises(config):
    with pytest.raises(ValueError, match="ElectraModel takes no labels"):
        label_range("ElectraModel", config, "labels")


def test_outside_marks_each_value_that_breaks_the_rule(config):
    import numpy as np

    classes = label_range("ElectraForTokenClassification", config, "labels")
    np.testing.assert_array_equal(classes.outside(np.array([-100, -1, 0, 2, 3])), [False, True, False, False, True])
    binary = label_range("ElectraForPreTraining", config, "labels")
    labels, mask = np.array([0.0, 1.0, 2.0, np.nan, 7.0]), np.array([1, 1, 1, 1, 0])
    np.testing.assert_array_equal(binary.outside(labels, mask), [False, False, True, True, False])  # padding unchecked
