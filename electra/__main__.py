"""`python -m electra ...` (also `torchrun ... -m electra pretrain --data-parallel ...`)."""

import sys

from electra.cli import main

sys.exit(main())
