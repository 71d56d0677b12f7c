"""The process of tests/tf/test_trainer.py's MirroredStrategy test (as tests/pt/ddp_worker.py
is for DDP): on two logical CPU devices, three pretraining steps on one device and on a
two-replica MirroredStrategy from the same weights and batch; prints the metrics of both
and the largest difference of their final states as JSON.

Run as `python -P tests/tf/mirrored_worker.py REPO_ROOT` (-P: tests/ must not shadow `tensorflow`).
"""

import json
import sys

import numpy as np
import tensorflow as tf

# Logical devices must be set before TensorFlow initialises its runtime.
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]

from conftest import tiny_config  # noqa: E402
from electra.common.config import generator_config  # noqa: E402
from electra.common.pretraining.schedule import LinearSchedule  # noqa: E402
from electra.tf.trainer import ElectraPretrainer, PretrainingTrainer  # noqa: E402
from tests.tf.test_trainer import make_batch  # noqa: E402

disc = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
batch = make_batch(disc, B=4, L=12)
batch["attention_mask"][3, -5:] = 0
results = {}
for name, strategy in (("one", None), ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    # As electra.commands.pretrain.make_trainer does: the trainer builds the model in the strategy's scope.
    model = ElectraPretrainer(disc, generator_config(disc, 0.5), seed=0)
    trainer = PretrainingTrainer(model, LinearSchedule(1e-3, 1, 10), seed=5, strategy=strategy)
    metrics = [dict(trainer.train_step(batch, step)) for step in range(3)]
    results[name] = (metrics, trainer.state_arrays())
one, two = results["one"][1], results["two"][1]
print(json.dumps({"metrics": [results["one"][0], results["two"][0]],
                  "max_param_diff": max(float(np.abs(one[k] - two[k]).max()) for k in one)}))
