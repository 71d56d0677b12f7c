"""`ElectraPreTrainedModel`: weight init, tied embeddings, canonical state dict in and out,
`from_pretrained` / `save_pretrained`.

Module attribute names are the canonical key parts, so `state_dict()` keys are the
canonical keys (REFERENCE section 5) with no renaming. Files are read and matched by
`electra.common.checkpoint` (any supported format; strict; the `electra.` prefix resolved
between bare and head checkpoints); this module only copies arrays into parameters.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from electra.common.config import ElectraConfig
from electra.pt.outputs import traceable


class ElectraPreTrainedModel(nn.Module):
    """Base of every ELECTRA model: holds `config`, initialises and loads weights."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        if not isinstance(config, ElectraConfig):
            raise TypeError(f"config must be an ElectraConfig, got {type(config).__name__}")
        self.config = config

    @property
    def architecture(self) -> str:
        return type(self).__name__

    def __call__(self, *args, **kwargs):
        # Under torch.jit.trace the output dataclass becomes a tuple (electra/pt/outputs.py).
        return traceable(super().__call__(*args, **kwargs))

    # ------------------------------------------------------------------ init and ties
    def post_init(self) -> None:
        """Initialise every weight as HF's `_init_weights` does, then tie."""
        self.apply(self._init_weights)
        self.tie_weights()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.normal_(0.0, std)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.normal_(0.0, std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()

    def get_input_embeddings(self) -> nn.Embedding:
        backbone = getattr(self, "electra", self)
        return backbone.embeddings.word_embeddings

    def get_output_embeddings(self) -> nn.Linear | None:
        return getattr(self, "generator_lm_head", None)

    def tie_weights(self) -> None:
        """Share the generator output matrix with the word embeddings (`tie_word_embeddings`).

        One `Parameter` object sits in both modules, so the tie survives `.to()`,
        `copy.deepcopy`, optimizers and loading.
        """
        output = self.get_output_embeddings()
        if output is not None and self.config.tie_word_embeddings:
            output.weight = self.get_input_embeddings().weight

    def resize_token_embeddings(self, new_num_tokens: int) -> nn.Embedding:
        """Resize the vocabulary to `new_num_tokens` rows, keeping the first rows and
        initialising new ones; the output head (bias included) follows; `config` becomes
        a copy with the new `vocab_size`."""
        old = self.get_input_embeddings()
        n_keep = min(old.num_embeddings, new_num_tokens)
        pad = self.config.pad_token_id if self.config.pad_token_id < new_num_tokens else None
        new = nn.Embedding(new_num_tokens, old.embedding_dim, padding_idx=pad).to(old.weight.device, old.weight.dtype)
        self._init_weights(new)
        with torch.no_grad():
            new.weight[:n_keep] = old.weight[:n_keep]
        backbone = getattr(self, "electra", self)
        backbone.embeddings.word_embeddings = new
        output = self.get_output_embeddings()
        if output is not None:
            head = nn.Linear(output.in_features, new_num_tokens).to(output.weight.device, output.weight.dtype)
            self._init_weights(head)
            with torch.no_grad():
                head.bias[:n_keep] = output.bias[:n_keep]
                if not self.config.tie_word_embeddings:
                    head.weight[:n_keep] = output.weight[:n_keep]
            self.generator_lm_head = head
        self.config = self.config.replace(vocab_size=new_num_tokens)
        if backbone is not self:
            backbone.config = self.config
        self.tie_weights()
        return new

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each layer's activations in the backward pass instead of storing them."""
        getattr(self, "electra", self).encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        getattr(self, "electra", self).encoder.gradient_checkpointing = False

    # ------------------------------------------------------------------ canonical weights
    def canonical_state_dict(self) -> dict[str, np.ndarray]:
        """Every canonical key as a float32 (or original float dtype) NumPy array, tied keys included."""
        out = {}
        for key, tensor in self.state_dict().items():
            tensor = tensor.detach().cpu()
            if tensor.dtype in (torch.bfloat16, torch.float16):
                tensor = tensor.float()
            out[key] = tensor.numpy()
        return out

    def load_canonical_state_dict(self, state: dict[str, np.ndarray], *, source: str = "state dict") -> list[str]:
        """Load canonical arrays: strict matching first (`CheckpointError` naming the key),
        then copying, so a state that fails to match leaves the model unchanged.

        Returns the keys that were absent and keep their fresh initialisation (a bare
        checkpoint loaded into a head class); they are also listed in a warning.
        """
        from electra.common.checkpoint import match_state_dict

        matched, new_keys, _unused = match_state_dict(state, self.config, self.architecture, source=source)
        return self._load_matched(matched, new_keys, source)

    def _load_matched(self, matched: dict[str, np.ndarray], new_keys, source: str) -> list[str]:
        """Copy the arrays `match_state_dict` accepted; warn about (and return) `new_keys`."""
        params = self.state_dict(keep_vars=True)
        with torch.no_grad():
            for key, array in matched.items():
                target = params[key]
                target.copy_(torch.from_numpy(np.ascontiguousarray(array)).to(target.dtype))
        if new_keys:
            warnings.warn(
                f"{self.architecture}: weights not in {source}, newly initialised: {', '.join(sorted(new_keys))}",
                stacklevel=3,
            )
        return list(new_keys)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, config: ElectraConfig | None = None):
        """Build from a directory holding `config.json` and weights in any supported
        format (`model.safetensors`, sharded safetensors, `pytorch_model.bin`, ...).

        When the checkpoint holds every weight the model is built on the meta device and
        given uninitialised storage, so no random initialisation runs only to be
        overwritten; when it lacks some (a bare checkpoint loaded into a head class), the
        model is initialised as `cls(config)` is and the checkpoint's weights copied in.
        """
        from electra.common.checkpoint import match_state_dict, read_state_dict

        path = Path(path)
        if config is None:
            config = ElectraConfig.from_pretrained(path)
        state = read_state_dict(path)
        matched, new_keys, _unused = match_state_dict(state, config, cls.__name__, source=str(path))
        if new_keys:
            model = cls(config)
        else:
            with torch.device("meta"):
                model = cls(config)
            model.to_empty(device=torch.get_default_device())
            model.tie_weights()  # to_empty gives each module its own new parameter
        model._load_matched(matched, new_keys, str(path))
        model.eval()
        return model

    def save_pretrained(self, directory: str | os.PathLike, max_shard_size: int | None = None) -> Path:
        """Write `config.json` (with `architectures`) and canonical `model.safetensors`."""
        from electra.common.checkpoint import save_pretrained

        extra = dict(self.config.extra, architectures=[self.architecture])
        config = self.config.replace(extra=extra)
        save_pretrained(directory, config, self.canonical_state_dict(), self.architecture, max_shard_size=max_shard_size)
        return Path(directory)
