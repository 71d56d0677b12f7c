"""`ElectraPreTrainedModel`: the Keras base of every model. Canonical state dict in and out,
`from_pretrained` / `save_pretrained`, Keras config round trip, `fit` and `export` support.

Canonical keys come from the layer tree, not from a table: sub-layer attribute names are
the canonical key parts (`electra.encoder.layer.0.attention.self.query`), list attributes
give the index, and the leaf variable is renamed by `LEAVES` (Keras `kernel` (in, out) ->
`weight` (out, in), `gamma` -> `weight`, `beta` -> `bias`, `embeddings` -> `weight`).
Files are read and matched by `electra.common.weights.checkpoint` (any supported format, strict,
the `electra.` prefix resolved between bare and head checkpoints); this module only
copies arrays into variables.

Training with `model.fit`: put the labels in the input dict (`{"input_ids": ...,
"labels": ...}`) and compile without a loss: the head's own loss (`losses.py`) is used.
Or pass labels as `y` with `compile(loss=...)`: the Keras loss then sees the logits
(`start_logits`, `end_logits` for question answering). Compiled metrics see the logits too.
`model.predict` returns NumPy arrays: the logits, a dict of `start_logits` / `end_logits`
for question answering, `last_hidden_state` for `ElectraModel`.

Keras' own saving keeps every variable: `model.save("x.keras")` and
`keras.models.load_model` (the classes are registered, no `custom_objects`),
`save_weights` / `load_weights`, `keras.callbacks.ModelCheckpoint`, `tf.train.Checkpoint`.
Serving: `export` (SavedModel, or a `.tflite` file with fixed shapes) and
`tf.saved_model.save(model, path)` (the loaded object is callable and has `serve` and the
`serving_default` signature).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from electra.common.config import ElectraConfig
from electra.common.errors import CheckpointError
from electra.common.outputs import ModelOutput
from electra.common.weights.names import tied_keys

# Keras leaf variable name -> (canonical leaf, transposed).
LEAVES = {
    "kernel": ("weight", True),
    "bias": ("bias", False),
    "embeddings": ("weight", False),
    "gamma": ("weight", False),
    "beta": ("bias", False),
}


def named_variables(layer: keras.layers.Layer, prefix: str = "") -> Iterator[tuple[str, keras.Variable, bool]]:
    """(canonical key, variable, transposed) for every variable under `layer`, found by
    walking public attributes that hold layers or lists of layers."""
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        if isinstance(value, keras.layers.Layer):
            yield from named_variables(value, f"{prefix}{name}.")
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, keras.layers.Layer) for v in value):
            for i, sub in enumerate(value):
                yield from named_variables(sub, f"{prefix}{name}.{i}.")
    for variable in layer._trainable_variables + layer._non_trainable_variables:
        leaf = variable.name.rsplit("/", 1)[-1]
        if leaf not in LEAVES:
            raise KeyError(f"{prefix}{leaf}: no canonical name for Keras variable {variable.path!r}")
        canonical, transposed = LEAVES[leaf]
        yield prefix + canonical, variable, transposed


class ElectraPreTrainedModel(keras.Model):
    """Base of every ELECTRA model: holds `config`, builds, initialises and loads weights."""

    architecture: str  # the class name (HF's `architectures` entry), set for every subclass

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.architecture = cls.__name__

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(config, ElectraConfig):
            raise TypeError(f"config must be an ElectraConfig, got {type(config).__name__}")
        self.config = config

    def __call__(self, *args, **kwargs):
        # Keras `fit`, `evaluate` and `predict` pass the input dict as one positional argument.
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
            args = args[1:]
        return super().__call__(*args, **kwargs)

    # ------------------------------------------------------------------ Keras config
    def get_config(self) -> dict:
        """The constructor arguments: `config` (as its `config.json` dict), `name`, `trainable`, `dtype`."""
        return {
            "config": self.config.to_dict(),
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        kwargs = dict(config)
        electra_config = ElectraConfig.from_dict(kwargs.pop("config"))
        if isinstance(kwargs.get("dtype"), dict):
            kwargs["dtype"] = keras.dtype_policies.deserialize(kwargs["dtype"])
        return cls(electra_config, **kwargs)

    # ------------------------------------------------------------------ canonical weights
    def canonical_variables(self) -> dict[str, tuple[keras.Variable, bool]]:
        """{canonical key: (variable, transposed)}; builds the model if needed. Tied keys are absent."""
        if not self.built:
            self.build()
        return {key: (variable, transposed) for key, variable, transposed in named_variables(self)}

    def canonical_state_dict(self) -> dict[str, np.ndarray]:
        """Every canonical key as a float32 NumPy array (Linear weights (out, in)), tied keys included."""
        state = {}
        for key, (variable, transposed) in self.canonical_variables().items():
            array = np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)
            state[key] = array.T if transposed else array
        for key, source in tied_keys(self.config, self.architecture).items():
            state[key] = state[source]
        return state

    def load_canonical_state_dict(self, state: dict[str, np.ndarray], *, source: str = "state dict") -> list[str]:
        """Load canonical arrays: strict matching first (`CheckpointError` naming the key),
        then assigning, so a state that fails to match leaves the model unchanged.

        Returns the keys that were absent and keep their fresh initialisation (a bare
        checkpoint loaded into a head class); they are also listed in a warning.
        """
        from electra.common.weights.checkpoint import match_state_dict

        matched, new_keys, _unused = match_state_dict(state, self.config, self.architecture, source=source)
        return self._load_matched(matched, new_keys, source)

    def _load_matched(self, matched: dict[str, np.ndarray], new_keys, source: str) -> list[str]:
        """Assign the arrays `match_state_dict` accepted (all checked before any is
        assigned); warn about (and return) `new_keys`."""
        variables = self.canonical_variables()
        tied = tied_keys(self.config, self.architecture)
        updates = []
        for key, array in matched.items():
            if key in tied:
                continue
            if key not in variables:
                raise CheckpointError(f"{source}: {key} has no variable in {self.architecture}")
            variable, transposed = variables[key]
            array = np.asarray(array, dtype=np.float32)
            array = array.T if transposed else array
            if tuple(array.shape) != tuple(variable.shape):
                raise CheckpointError(f"{source}: {key} has shape {array.shape}, {self.architecture} expects {tuple(variable.shape)}")
            updates.append((variable, array))
        for variable, array in updates:
            variable.assign(array)
        if new_keys:
            warnings.warn(
                f"{self.architecture}: weights not in {source}, newly initialised: {', '.join(sorted(new_keys))}",
                stacklevel=3,
            )
        return list(new_keys)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, config: ElectraConfig | None = None, *, network: str | None = None,
                        ignore_mismatched_sizes: bool = False, **config_changes):
        """Build from a checkpoint read by `electra.common.weights.loading.load_pretrained`
        (any supported format, a directory or a weights file with `config.json` beside it, or a
        Google TF1 checkpoint with `network`); arguments as `electra.pt`'s `from_pretrained`.

        When the checkpoint holds every weight, the variables are created with zeros rather
        than random draws (then assigned); when it lacks some (a bare checkpoint loaded into
        a head class), the model is initialised as `cls(config)` is."""
        from electra.common.weights.loading import load_pretrained
        from electra.tf.embeddings import weights_to_be_loaded

        config, matched, new_keys, _unused = load_pretrained(path, cls.architecture, config, network=network,
                                                             ignore_mismatched_sizes=ignore_mismatched_sizes, **config_changes)
        with contextlib.nullcontext() if new_keys else weights_to_be_loaded():
            model = cls(config)
            model.build()
        model._load_matched(matched, new_keys, str(path))
        return model

    def save_pretrained(self, directory: str | os.PathLike, format: str = "safetensors", max_shard_size: int | str | None = None) -> Path:
        """Write `config.json` (with `architectures`) and the weights in `format`, the same
        files `electra.pt` writes (see `electra.common.weights.checkpoint.write_pretrained`)."""
        from electra.common.weights.checkpoint import write_pretrained

        write_pretrained(directory, self.config, self.canonical_state_dict(), self.architecture, format=format, max_shard_size=max_shard_size)
        return Path(directory)

    # ------------------------------------------------------------------ Keras training
    @staticmethod
    def _logits(y_pred):
        """What a Keras loss or metric sees of an output: logits, or (start, end) for QA."""
        if not isinstance(y_pred, ModelOutput):
            return y_pred
        if getattr(y_pred, "logits", None) is not None:
            return y_pred.logits
        return (y_pred.start_logits, y_pred.end_logits)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The head's own loss when labels came inside `x`; otherwise the compiled loss on the logits."""
        if isinstance(y_pred, ModelOutput) and y is None:
            if y_pred.loss is None:
                raise ValueError(
                    f"{self.architecture}.fit needs labels: put them in the input dict "
                    "(`labels`, or `start_positions`/`end_positions`), or pass `y` and compile with a loss"
                )
            loss = y_pred.loss
            if self.losses:
                loss = loss + tf.add_n([tf.cast(l, loss.dtype) for l in self.losses])
            return loss
        return super().compute_loss(x=x, y=y, y_pred=self._logits(y_pred), sample_weight=sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, self._logits(y_pred), sample_weight=sample_weight)

    # ------------------------------------------------------------------ Keras predict
    def predict_step(self, data):
        """`predict` returns NumPy arrays as for a Keras model: the logits (B, ...) of a
        single-output head, `{"start_logits", "end_logits"}` (B, L) each for question
        answering, the `last_hidden_state` (B, L, H) of `ElectraModel`."""
        return self.predicted(super().predict_step(data))

    @staticmethod
    def predicted(output: ModelOutput):
        """What `predict` keeps of an output (see `predict_step`)."""
        if getattr(output, "logits", None) is not None:
            return output.logits
        if getattr(output, "start_logits", None) is not None:
            return {"start_logits": output.start_logits, "end_logits": output.end_logits}
        return output.last_hidden_state

    # ------------------------------------------------------------------ SavedModel and TFLite export
    def serving_signature(self, batch_size: int | None = None, length: int | None = None, num_choices: int | None = None) -> dict[str, tf.TensorSpec]:
        """Serving inputs: int32 `input_ids`, `attention_mask`, `token_type_ids` of shape
        (B, L) ((B, C, L) for multiple choice); None dimensions are dynamic."""
        shape = (batch_size, num_choices, length) if self.architecture == "ElectraForMultipleChoice" else (batch_size, length)
        return {name: tf.TensorSpec(shape, tf.int32, name=name) for name in ("input_ids", "attention_mask", "token_type_ids")}

    def serving_outputs(self, inputs: dict) -> dict[str, tf.Tensor]:
        """The served computation: inputs as `serving_signature()`, the output tensors as a
        dict (`logits`, ...; a causal LM's cache is left out)."""
        output = self(**inputs, training=False)
        return {key: value for key, value in output.items() if isinstance(value, tf.Tensor)}

    @property
    def serve(self):
        """`serving_outputs` as a `tf.function` over `serving_signature()`. `tf.saved_model.save(model, path)`
        writes it as `serve`, as the `serving_default` signature and as the loaded object's
        `__call__`: `tf.saved_model.load(path)(inputs)` gives the dict of outputs."""
        if "_serve_function" not in self.__dict__:  # one function per model (traced once per save); kept out of Keras tracking
            self.__dict__["_serve_function"] = tf.function(self.serving_outputs, input_signature=[self.serving_signature()])
        return self.__dict__["_serve_function"]

    @property
    def _default_save_signature(self):
        # `tf.saved_model.save` takes this as `serving_default` (Keras' own needs a functional model).
        return self.serve

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        children = super()._trackable_children(save_type, **kwargs)
        if save_type == "savedmodel":
            children["__call__"] = self.serve  # the loaded object is callable
        return children

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """`format="tf_saved_model"`: a SavedModel whose `serve` endpoint (also the
        `serving_default` signature) takes a dict like `serving_signature()` and returns a
        dict of the output tensors (`logits`, ...). Load with `tf.saved_model.load(filepath).serve(inputs)`.

        `format="litert"` (or `"tflite"`): a `.tflite` flatbuffer for `tf.lite.Interpreter`
        (or LiteRT) whose `serving_default` signature runner takes the same named inputs and
        returns the same dict. TFLite needs fixed shapes: `input_signature` must have every
        dimension set; the default is `serving_signature(batch_size=1,
        length=config.max_position_embeddings)` (pad shorter inputs and mask them).
        Other formats go to `keras.Model.export`."""
        if format in ("litert", "tflite"):
            return self._export_tflite(filepath, input_signature, verbose)
        if format != "tf_saved_model":
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)
        if not self.built:
            self.build()
        archive = keras.export.ExportArchive()
        archive.track(self)
        if input_signature is None:
            archive.add_endpoint("serve", self.serve)
        else:
            archive.add_endpoint("serve", self.serving_outputs, input_signature=[input_signature])
        archive.write_out(filepath, verbose=bool(verbose))
        return Path(filepath)

    def _export_tflite(self, filepath, input_signature, verbose) -> Path:
        """Write a `.tflite` file (see `export`), converted from a SavedModel with a fixed signature."""
        import tempfile

        if input_signature is None:
            if self.architecture == "ElectraForMultipleChoice":
                raise ValueError(
                    "TFLite export of ElectraForMultipleChoice needs fixed shapes: pass "
                    "input_signature=model.serving_signature(batch_size=..., length=..., num_choices=...)"
                )
            input_signature = self.serving_signature(batch_size=1, length=self.config.max_position_embeddings)
        for name, spec in input_signature.items():
            if not spec.shape.is_fully_defined():
                raise ValueError(
                    f"TFLite export needs fixed shapes, but input_signature[{name!r}] has shape {tuple(spec.shape)}: "
                    "pass e.g. input_signature=model.serving_signature(batch_size=1, length=128)"
                )
        with tempfile.TemporaryDirectory() as saved:
            self.export(saved, input_signature=input_signature)
            flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
        Path(filepath).write_bytes(flatbuffer)
        if verbose:
            print(f"Saved TFLite model at {filepath}")
        return Path(filepath)
