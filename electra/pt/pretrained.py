"""`ElectraPreTrainedModel`: weight init, tied embeddings, canonical state dict in and out,
`from_pretrained` / `save_pretrained`.

Module attribute names are the canonical key parts, so `state_dict()` keys are the
canonical keys (docs/reference.md section 5) with no renaming. Files are read and matched by
`electra.common.weights.checkpoint` (any supported format; strict; the `electra.` prefix resolved
between bare and head checkpoints); this module only copies arrays into parameters.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from electra.common.config import ElectraConfig
from electra.common.outputs import ModelOutput
from electra.pt.outputs import traceable


class ElectraPreTrainedModel(nn.Module):
    """Base of every ELECTRA model: holds `config`, initialises and loads weights.

    Also carries the parts of HF's `PreTrainedModel` interface that users and
    transformers' `pipeline` and `Trainer` call (not a subclass of it: transformers is
    not a dependency).
    """

    main_input_name = "input_ids"  # HF: the input the Trainer counts tokens of
    supports_gradient_checkpointing = True

    def __init__(self, config: ElectraConfig):
        super().__init__()
        if not isinstance(config, ElectraConfig):
            raise TypeError(f"config must be an ElectraConfig, got {type(config).__name__}")
        self.config = config

    architecture: str  # the class name (HF's `architectures` entry), set for every subclass

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.architecture = cls.__name__

    def __call__(self, *args, **kwargs):
        # Under torch.jit.trace the output dataclass becomes a tuple (electra/pt/outputs.py).
        return traceable(super().__call__(*args, **kwargs))

    def _output(self, output: ModelOutput, return_dict: bool | None) -> ModelOutput | tuple:
        """`output`, or HF's `return_dict=False` tuple of it: its set fields in order (loss
        first when labels were given). `return_dict=None` reads `config.use_return_dict`."""
        if return_dict is None:
            return_dict = self.config.use_return_dict
        return output if return_dict else output.to_tuple()

    # ------------------------------------------------------------------ HF's model attributes
    @property
    def device(self) -> torch.device:
        """The device of the parameters (HF: of the first one)."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the first floating-point parameter (HF's rule)."""
        return next(p.dtype for p in self.parameters() if p.is_floating_point())

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Parameters (tied ones once) as HF counts them: `only_trainable` those that
        require grad; `exclude_embeddings` without the weights of the `nn.Embedding` tables."""
        embeddings = {f"{name}.weight" for name, m in self.named_modules() if isinstance(m, nn.Embedding)}
        return sum(
            p.numel() for name, p in self.named_parameters()
            if not (exclude_embeddings and name in embeddings) and (p.requires_grad or not only_trainable)
        )

    @property
    def _keys_to_ignore_on_save(self) -> list[str] | None:
        # HF: keys `save_pretrained` leaves out (ours: the tied ones); the Trainer re-ties
        # when a checkpoint it reloads lacks exactly these.
        from electra.common.weights.names import tied_keys

        return sorted(tied_keys(self.config, self.architecture)) or None

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

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        """Replace the word-embedding table; a tied output head follows it."""
        getattr(self, "electra", self).embeddings.word_embeddings = embeddings
        self.tie_weights()

    def get_output_embeddings(self) -> nn.Linear | None:
        return getattr(self, "generator_lm_head", None)

    def set_output_embeddings(self, head: nn.Linear) -> None:
        """Replace the generator's output projection (E -> V); with `tie_word_embeddings`
        its weight becomes the word embeddings again."""
        if self.get_output_embeddings() is None:
            raise AttributeError(f"{self.architecture} has no output embeddings")
        self.generator_lm_head = head
        self.tie_weights()

    def tie_weights(self) -> None:
        """Share the generator output matrix with the word embeddings (`tie_word_embeddings`).

        One `Parameter` object sits in both modules, so the tie survives `.to()`,
        `copy.deepcopy`, optimizers and loading.
        """
        output = self.get_output_embeddings()
        if output is not None and self.config.tie_word_embeddings:
            output.weight = self.get_input_embeddings().weight

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Resize the vocabulary as HF does: `new_num_tokens` rows (default: the current
        count), rounded up to a multiple of `pad_to_multiple_of`; the first rows are kept.
        With `mean_resizing` new rows are the mean of the old ones (HF draws them from a
        normal of that mean and 1e-9 times the old rows' covariance, a spread of about 3e-5
        standard deviations), else freshly initialised; an untied generator head gets the
        same for its rows and biases, a tied one zero biases. The head stays tied;
        `config.vocab_size` is updated in place.

        Returns the new word-embedding table.
        """
        old = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return old
        if new_num_tokens is None:
            new_num_tokens = old.num_embeddings
        if pad_to_multiple_of is not None:
            if isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1:
                raise ValueError(f"pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}")
            new_num_tokens = math.ceil(new_num_tokens / pad_to_multiple_of) * pad_to_multiple_of
        if isinstance(new_num_tokens, bool) or not isinstance(new_num_tokens, int) or new_num_tokens < 1:
            raise ValueError(f"new_num_tokens must be a positive int, got {new_num_tokens!r}")
        n_keep = min(old.num_embeddings, new_num_tokens)
        pad = old.padding_idx if old.padding_idx is not None and old.padding_idx < new_num_tokens else None
        new = nn.Embedding(new_num_tokens, old.embedding_dim, padding_idx=pad).to(old.weight.device, old.weight.dtype)
        self._init_weights(new)
        with torch.no_grad():
            new.weight[:n_keep] = old.weight[:n_keep]
            if mean_resizing:
                new.weight[n_keep:] = old.weight.mean(0)
        output = self.get_output_embeddings()
        getattr(self, "electra", self).embeddings.word_embeddings = new
        if output is not None:
            head = nn.Linear(output.in_features, new_num_tokens).to(output.weight.device, output.weight.dtype)
            self._init_weights(head)
            with torch.no_grad():
                head.bias[:n_keep] = output.bias[:n_keep]
                if not self.config.tie_word_embeddings:  # tied, HF pads the bias with zeros
                    head.weight[:n_keep] = output.weight[:n_keep]
                    if mean_resizing:
                        head.weight[n_keep:] = output.weight.mean(0)
                        head.bias[n_keep:] = output.bias.mean()
            self.generator_lm_head = head
        self.config.vocab_size = new_num_tokens  # HF: in place (the backbone shares this config)
        self.tie_weights()
        return new

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Recompute each layer's activations in the backward pass instead of storing them
        (the same gradients). Layers are checkpointed with `torch.utils.checkpoint`,
        non-reentrant, RNG state preserved (so dropout masks repeat); of HF's
        `gradient_checkpointing_kwargs` only `use_reentrant` is accepted (either value
        gives the same gradients; HF's default True needs inputs that require grad)."""
        unknown = sorted(set(gradient_checkpointing_kwargs or {}) - {"use_reentrant"})
        if unknown:
            raise ValueError(f"gradient_checkpointing_kwargs: only use_reentrant is supported, got {unknown}")
        getattr(self, "electra", self).encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        getattr(self, "electra", self).encoder.gradient_checkpointing = False

    @property
    def is_gradient_checkpointing(self) -> bool:
        return getattr(self, "electra", self).encoder.gradient_checkpointing

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
        from electra.common.weights.checkpoint import match_state_dict

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
    def from_pretrained(cls, path: str | os.PathLike, config: ElectraConfig | None = None, *, network: str | None = None,
                        ignore_mismatched_sizes: bool = False, **config_changes):
        """Build from a checkpoint read by `electra.common.weights.loading.load_pretrained`:
        a directory holding `config.json` and weights in any supported format (safetensors,
        `pytorch_model.bin`, `tf_model.h5`, `flax_model.msgpack`, each sharded or not), one
        such weights file with `config.json` beside it, or a Google TF1 checkpoint with `network`.

        Args:
            path: the checkpoint.
            config: used instead of the checkpoint's config.
            network: "discriminator" or "generator", for a Google TF1 checkpoint only.
            ignore_mismatched_sizes: weights whose shape differs from the model's (a
                classifier loaded with another `num_labels`) are initialised anew, with a
                warning, instead of raising.
            **config_changes: HF's config overrides: any config field, `num_labels`,
                `label2id`, or HF's runtime attributes (`output_hidden_states`, ...).

        When the checkpoint holds every weight the model is built on the meta device and
        given uninitialised storage, so no random initialisation runs only to be
        overwritten; when it lacks some (a bare checkpoint loaded into a head class), the
        model is initialised as `cls(config)` is and the checkpoint's weights copied in.

        Raises:
            TypeError: a keyword argument that is no config attribute.
            ValueError: `network` missing for a TF1 checkpoint, or given for another one.
            CheckpointError: a missing, unexpected or misshapen weight (naming it).
        """
        from electra.common.weights.loading import load_pretrained

        config, matched, new_keys, _unused = load_pretrained(path, cls.architecture, config, network=network,
                                                             ignore_mismatched_sizes=ignore_mismatched_sizes, **config_changes)
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

    def save_pretrained(self, directory: str | os.PathLike, format: str = "safetensors", max_shard_size: int | str | None = None) -> Path:
        """Write `config.json` (with `architectures`) and the weights as HF's `save_pretrained`
        does in `format`: "safetensors", "pytorch", "tf" or "flax" (see
        `electra.common.weights.checkpoint.write_pretrained`); sharded past `max_shard_size`
        (bytes, or a string like "5GB")."""
        from electra.common.weights.checkpoint import write_pretrained

        write_pretrained(directory, self.config, self.canonical_state_dict(), self.architecture, format=format, max_shard_size=max_shard_size)
        return Path(directory)
