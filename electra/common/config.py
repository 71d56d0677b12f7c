"""`ElectraConfig`: the model hyper-parameters, read from and written to HF `config.json`.

Matches `transformers.ElectraConfig` (4.57) field for field and default for default
(docs/reference.md section 1), so a `config.json` written by either library is read by the other
to equal values. Keys this class does not know (`architectures`, `transformers_version`,
`torch_dtype`, ...) are kept in `extra` and written back on save.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from electra.common.files import atomic_write_text
from electra.common.presets import preset_fields

CONFIG_NAME = "config.json"

# Activation names every backend implements (a subset of HF's ACT2FN, covering every
# ELECTRA checkpoint we know of).
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh", "sigmoid")
POSITION_EMBEDDING_TYPES = ("absolute", "relative_key", "relative_key_query")
SUMMARY_TYPES = ("first", "last", "mean", "cls_index")
PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")

# Attributes of HF's `PretrainedConfig` that model forwards, pipelines and the Trainer read,
# with HF's defaults. They are not fields: set on an instance (or read from a config.json),
# a value lives in `extra` and is written back, as HF writes only values that differ from
# its defaults.
HF_RUNTIME_DEFAULTS = {"output_attentions": False, "output_hidden_states": False, "return_dict": True, "torchscript": False}

# Configurations whose float32 parameters would exceed this many bytes are refused at
# construction, before any backend allocates a tensor (a typo such as hidden_size=76800
# should be an error, not an out-of-memory crash). 64 GiB = 16 billion parameters.
MAX_PARAMETER_BYTES = 64 * 2**30

_DEFAULT_ID2LABEL = {0: "LABEL_0", 1: "LABEL_1"}


@dataclass
class ElectraConfig:
    """Hyper-parameters of an ELECTRA network (discriminator or generator).

    Defaults equal HF's, which are the sizes of electra-small-discriminator.
    """

    vocab_size: int = 30522  # V: rows of the word-embedding table
    embedding_size: int = 128  # E: width of the embedding tables
    hidden_size: int = 256  # H: width of the transformer
    num_hidden_layers: int = 12
    num_attention_heads: int = 4  # N; head dim D = H // N
    intermediate_size: int = 1024  # I: feed-forward width
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512  # P
    type_vocab_size: int = 2  # T
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    summary_type: str = "first"  # multiple-choice head: which token summarises a sequence
    summary_use_proj: bool = True
    summary_activation: str | None = "gelu"
    summary_last_dropout: float = 0.1
    pad_token_id: int = 0
    position_embedding_type: str = "absolute"
    use_cache: bool = True
    classifier_dropout: float | None = None  # None: use hidden_dropout_prob
    # Inherited from HF's PretrainedConfig.
    id2label: dict[int, str] = field(default_factory=lambda: dict(_DEFAULT_ID2LABEL))
    tie_word_embeddings: bool = True
    is_decoder: bool = False
    add_cross_attention: bool = False
    problem_type: str | None = None
    # Keys of a config.json this class does not model, kept for the round trip.
    extra: dict[str, Any] = field(default_factory=dict)
    # HF's other label arguments, not stored: `num_labels` names the labels LABEL_0..,
    # `label2id` sets `id2label` to its inverse (an explicit `id2label` wins over both, as
    # in HF). After construction both are properties (attached below the class), assignable.
    num_labels: InitVar[int | None] = None
    label2id: InitVar[dict[str, int] | None] = None

    # HF's hub revision of the files a config came from; transformers' pipeline reads it.
    _commit_hash = None

    def __post_init__(self, num_labels: int | None, label2id: dict[str, int] | None) -> None:
        # As in HF, an `id2label` given explicitly wins over `num_labels` and `label2id`.
        if self.id2label == _DEFAULT_ID2LABEL:
            if label2id is not None:
                self._set_label2id(label2id)
            if num_labels is not None:
                if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
                    raise ValueError(f"ElectraConfig.num_labels must be a positive int, got {num_labels!r}")
                self._set_num_labels(num_labels)
        self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self.validate()

    # ----------------------------------------------------------------- HF attributes
    def __getattr__(self, name: str) -> Any:
        # Called only for names not found otherwise: the HF runtime attributes.
        if name in HF_RUNTIME_DEFAULTS:
            return self.__dict__.get("extra", {}).get(name, HF_RUNTIME_DEFAULTS[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in HF_RUNTIME_DEFAULTS:
            self.extra[name] = value
        elif name == "id2label":
            object.__setattr__(self, name, {int(k): str(v) for k, v in dict(value).items()})
        else:
            object.__setattr__(self, name, value)

    @property
    def use_return_dict(self) -> bool:
        """HF's: outputs as dataclasses (`return_dict`) unless `torchscript` asks for tuples."""
        return self.return_dict and not self.torchscript

    def _get_num_labels(self) -> int:
        return len(self.id2label)

    def _set_num_labels(self, num_labels: int) -> None:
        # HF: a new count renames the labels LABEL_0..; the same count keeps the names.
        if num_labels != len(self.id2label):
            self.id2label = {i: f"LABEL_{i}" for i in range(num_labels)}

    def _get_label2id(self) -> dict[str, int]:
        return {label: i for i, label in self.id2label.items()}

    def _set_label2id(self, label2id: dict[str, int]) -> None:
        inverse = {i: label for label, i in dict(label2id).items()}
        if sorted(inverse) != list(range(len(label2id))):
            raise ValueError(f"ElectraConfig.label2id must map names to the ids 0..num_labels-1, got {label2id!r}")
        self.id2label = dict(sorted(inverse.items()))

    # ----------------------------------------------------------------- derived sizes
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def has_embeddings_project(self) -> bool:
        return self.embedding_size != self.hidden_size

    @property
    def classifier_dropout_prob(self) -> float:
        """Dropout rate of the classification heads (HF: `classifier_dropout` or hidden)."""
        if self.classifier_dropout is not None:
            return self.classifier_dropout
        return self.hidden_dropout_prob

    def num_parameters(self) -> int:
        """Parameters of the bare `ElectraModel` (no head), counted from the sizes."""
        V, E, H, I = self.vocab_size, self.embedding_size, self.hidden_size, self.intermediate_size
        P, T = self.max_position_embeddings, self.type_vocab_size
        embeddings = (V + P + T) * E + 2 * E
        project = E * H + H if self.has_embeddings_project else 0
        attention = 4 * (H * H + H) + 2 * H
        if self.position_embedding_type != "absolute":
            attention += (2 * P - 1) * self.head_dim
        layer = attention + (H * I + I) + (I * H + H) + 2 * H
        if self.add_cross_attention:
            layer += 4 * (H * H + H) + 2 * H
        return embeddings + project + self.num_hidden_layers * layer

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise `ValueError` naming the first field whose value is not usable."""
        positive = (
            "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
            "num_attention_heads", "intermediate_size", "max_position_embeddings",
            "type_vocab_size",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"ElectraConfig.{name} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"ElectraConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        _check_choice("hidden_act", self.hidden_act, ACTIVATIONS)
        _check_choice("position_embedding_type", self.position_embedding_type, POSITION_EMBEDDING_TYPES)
        _check_choice("summary_type", self.summary_type, SUMMARY_TYPES)
        _check_choice("problem_type", self.problem_type, PROBLEM_TYPES)
        if self.summary_activation is not None:
            _check_choice("summary_activation", self.summary_activation, ACTIVATIONS)
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "summary_last_dropout", "classifier_dropout"):
            value = getattr(self, name)
            if value is None and name == "classifier_dropout":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"ElectraConfig.{name} must be a number in [0, 1), got {value!r}")
        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise ValueError(f"ElectraConfig.{name} must be a positive finite number, got {value!r}")
        if isinstance(self.pad_token_id, bool) or not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"ElectraConfig.pad_token_id must be an int in [0, vocab_size={self.vocab_size}), got {self.pad_token_id!r}"
            )
        for name in ("summary_use_proj", "use_cache", "tie_word_embeddings", "is_decoder", "add_cross_attention"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ElectraConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.add_cross_attention and not self.is_decoder:
            raise ValueError("ElectraConfig.add_cross_attention=True requires is_decoder=True")
        if self.num_labels < 1:
            raise ValueError("ElectraConfig.id2label must name at least one label")
        if sorted(self.id2label) != list(range(self.num_labels)):
            raise ValueError(f"ElectraConfig.id2label keys must be 0..num_labels-1, got {sorted(self.id2label)}")
        n_bytes = 4 * self.num_parameters()
        if n_bytes > MAX_PARAMETER_BYTES:
            raise ValueError(
                f"ElectraConfig sizes need {n_bytes / 2**30:.1f} GiB of float32 parameters "
                f"(vocab_size={self.vocab_size}, embedding_size={self.embedding_size}, "
                f"hidden_size={self.hidden_size}, num_hidden_layers={self.num_hidden_layers}, "
                f"intermediate_size={self.intermediate_size}), over the bound of "
                f"{MAX_PARAMETER_BYTES / 2**30:.0f} GiB"
            )

    def replace(self, **changes: Any) -> ElectraConfig:
        """A validated copy with some fields changed (`num_labels=` and `label2id=` are
        accepted too, replacing `id2label`)."""
        if "label2id" in changes:
            changes["id2label"] = {i: label for label, i in changes.pop("label2id").items()}
        if "num_labels" in changes:  # as HF's setter: a new count renames, the same count keeps the names
            num_labels = changes.pop("num_labels")
            if num_labels != len(changes.get("id2label", self.id2label)):
                changes["id2label"] = {i: f"LABEL_{i}" for i in range(num_labels)}
        return dataclasses.replace(self, **changes, num_labels=None, label2id=None)

    # ----------------------------------------------------------------- dict / json
    def to_dict(self) -> dict[str, Any]:
        """The `config.json` content: HF's keys and layout, unknown keys kept."""
        out: dict[str, Any] = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name in ("extra", "id2label"):
                continue
            out[f.name] = getattr(self, f.name)
        out["id2label"] = {str(i): label for i, label in self.id2label.items()}
        out["label2id"] = self.label2id
        out["model_type"] = "electra"
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> ElectraConfig:
        """Build from a `config.json` dict; unknown keys go to `extra`."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("model_type", "electra") != "electra":
            raise ValueError(f"{source}: model_type is {data['model_type']!r}, expected 'electra'")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                kwargs[key] = value
            elif key not in ("label2id", "num_labels", "model_type"):
                extra[key] = value
        if "id2label" not in kwargs and "num_labels" in data:
            n = data["num_labels"]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{source}: num_labels must be a positive int, got {n!r}")
            kwargs["id2label"] = {i: f"LABEL_{i}" for i in range(n)}
        if "id2label" in kwargs:
            id2label = kwargs["id2label"]
            try:
                kwargs["id2label"] = {int(k): v for k, v in dict(id2label).items()}
            except (TypeError, ValueError) as err:
                raise ValueError(f"{source}: id2label must map integer ids to names, got {id2label!r}") from err
        for key, value in kwargs.items():
            # JSON has no int/float distinction for whole numbers like 1e-12 written as 0;
            # accept ints where floats are expected.
            if isinstance(value, int) and not isinstance(value, bool) and cls.__dataclass_fields__[key].type in ("float", "float | None"):
                kwargs[key] = float(value)
        try:
            return cls(**kwargs, extra=extra)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None
        except TypeError as err:  # a value of a type no comparison accepts (a list, a dict)
            raise ValueError(f"{source}: a field has the wrong type ({err})") from None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> ElectraConfig:
        """Read `config.json` from a directory, or a JSON file given directly."""
        path = Path(path)
        file = path / CONFIG_NAME if path.is_dir() else path
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {file}") from None
        except UnicodeDecodeError as err:
            raise ValueError(f"{file}: not UTF-8 text ({err})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{file}: not valid JSON ({err})") from None
        return cls.from_dict(data, source=str(file))

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write `config.json` into `directory` (created if needed), atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        file = directory / CONFIG_NAME
        atomic_write_text(file, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return file

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    # ----------------------------------------------------------------- presets
    @classmethod
    def preset(cls, name: str, **changes: Any) -> ElectraConfig:
        """A published size by name (see `electra.common.presets.PRESETS`), with optional
        field overrides (`vocab_size=...`)."""
        return cls(**preset_fields(name)).replace(**changes)


# Attached after the dataclass is built: in the class body these properties would become the
# default values of the `num_labels` and `label2id` constructor arguments.
ElectraConfig.num_labels = property(ElectraConfig._get_num_labels, ElectraConfig._set_num_labels)
ElectraConfig.label2id = property(ElectraConfig._get_label2id, ElectraConfig._set_label2id)


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"ElectraConfig.{name} must be one of {list(choices)}, got {value!r}")


def override_config(config: ElectraConfig, changes: dict[str, Any], owner: str = "from_pretrained") -> ElectraConfig:
    """`config` with HF's `from_pretrained` keyword overrides applied, on a copy: any config
    field, `num_labels`, `label2id`, or HF's runtime attributes (`output_hidden_states`, ...).

    Args:
        owner: who received the keywords, for the error (`ElectraModel.from_pretrained`).
    Raises:
        TypeError: a keyword that is no config attribute.
        ValueError: `num_labels` and `id2label` that disagree, or a value the config refuses.
    """
    allowed = {f.name for f in dataclasses.fields(ElectraConfig)} - {"extra"} | {"num_labels", "label2id"} | set(HF_RUNTIME_DEFAULTS)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise TypeError(f"{owner} got keyword argument(s) that are not config attributes: {unknown}")
    if "num_labels" in changes and "id2label" in changes and len(changes["id2label"]) != changes["num_labels"]:
        raise ValueError(f"num_labels={changes['num_labels']} and id2label {changes['id2label']} disagree (as in HF, pass one)")
    runtime = {k: changes[k] for k in changes if k in HF_RUNTIME_DEFAULTS}
    config = config.replace(**{k: v for k, v in changes.items() if k not in runtime}, extra=dict(config.extra))
    for name, value in runtime.items():
        setattr(config, name, value)
    return config


def preset_config(name: str, **changes: Any) -> ElectraConfig:
    """The config of a named preset, with optional field overrides (`vocab_size=...`)."""
    return ElectraConfig.preset(name, **changes)


def generator_config(discriminator: ElectraConfig, fraction: float = 0.25) -> ElectraConfig:
    """The generator paired with `discriminator`, as the ELECTRA pretraining code derives it
    (docs/pretraining-recipe.md): hidden = round(H * fraction), intermediate = 4 x hidden,
    heads = max(1, hidden // 64) (lowered to a divisor of the width), same depth, vocabulary,
    positions and embedding size (the embeddings are shared).

    Args:
        discriminator: the discriminator's config.
        fraction: generator hidden size / discriminator hidden size (the paper uses 1/4
            for small and large, 1/3 for base; Google's released Small used 1.0).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"generator fraction must be in (0, 1], got {fraction!r}")
    hidden = max(1, int(round(discriminator.hidden_size * fraction)))
    heads = max(1, hidden // 64)
    while hidden % heads:  # keep the head count a divisor of the width
        heads -= 1
    return discriminator.replace(
        hidden_size=hidden,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        is_decoder=False,
        add_cross_attention=False,
    )
