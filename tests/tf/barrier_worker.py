"""One worker of the two-process barrier test (tests/tf/test_trainer.py): the chief
writes a file after a delay, then both wait at `DataParallelWorkers.barrier`; the other
worker must find the file once the barrier returns."""

import sys
import time
from pathlib import Path

from electra.tf.trainer import DataParallelWorkers

shared = Path(sys.argv[1])
workers = DataParallelWorkers()
if workers.is_chief:
    time.sleep(3)
    (shared / "written-by-chief").write_text("ok")
workers.barrier()
print("found" if (shared / "written-by-chief").is_file() else "missing", flush=True)
