"""A worker of tests/pt/test_distributed.py, run by torchrun: two data-parallel
pretraining steps on fixed batches; rank 0 saves the metrics and the final state."""

import json
import sys

import numpy as np
import torch.distributed as dist

from electra.pt.trainer import PretrainingTrainer
from tests.pt.test_distributed import make_batches, make_trainer

dist.init_process_group("gloo")
trainer = make_trainer(PretrainingTrainer, distributed=True)
metrics = [dict(trainer.train_step(batch, step)) for step, batch in enumerate(make_batches())]
if dist.get_rank() == 0:
    np.savez(sys.argv[1] + ".npz", **trainer.state_arrays())
    with open(sys.argv[1] + ".json", "w", encoding="utf-8") as handle:
        json.dump(metrics, handle)
# Tear down together: a rank that destroys its group while the other still writes its
# files can abort in gloo's teardown (seen once in CI as SIGABRT on rank 1).
dist.barrier()
dist.destroy_process_group()
