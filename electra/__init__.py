"""ELECTRA (Clark et al., ICLR 2020) in PyTorch (`electra.pt`), TensorFlow/Keras 3
(`electra.tf`) and Flax (`electra.flax`), on one framework-free core (`electra.common`).

`import electra` loads no framework: the backends are imported only when asked for.
"""

from electra.common import *  # noqa: F403
from electra.common import __all__ as _common_all

__version__ = "0.1.0"

# Names resolved on first use, so that importing the package stays cheap.
_LAZY = {
    "ElectraTokenizer": "electra.common.tokenizers.slow",
    "ElectraTokenizerFast": "electra.common.tokenizers.fast",
    "train_wordpiece": "electra.common.tokenizers.fast",
}

__all__ = [*_common_all, *_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'electra' has no attribute {name!r}")
