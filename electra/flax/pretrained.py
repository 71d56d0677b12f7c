"""`ElectraPreTrainedModel`: the user-facing object holding `config`, `module` and `params`.

Mirrors HF's `FlaxElectraPreTrainedModel` (explicit `params`, `dropout_rng`, `train`) and
`electra.pt.ElectraPreTrainedModel` (canonical state dict in and out, `from_pretrained`,
`save_pretrained`). The linen modules' parameter tree equals HF's Flax layout (docs/reference.md
section 5), so canonical weights go in and out through `electra.common.weights.layouts`
(`canonical_to_hf_flax` / `hf_flax_to_canonical`) and files through
`electra.common.weights.checkpoint` (any supported format; strict matching).

Calls work inside `jax.jit`, `jax.grad` and `jax.vmap` with explicit `params`, and through
`jax.export` / `jax2tf` with symbolic batch and length. Shape checks run at every call
(shapes are static; a symbolic dimension counts as unknown). JAX clamps out-of-range gather
indices silently and a loss would read any label, so value checks of token ids, types,
positions and labels (`electra.common.validation.label_range`) run whenever those inputs
are concrete (every call outside the user's own `jit`); inside one, `check_ranges` gives
the same checks through `jax.experimental.checkify`:

    def step(params, ids, labels):
        model.check_ranges(ids, labels=labels)
        return model(ids, labels=labels, params=params).loss
    err, loss = checkify.checkify(jax.jit(step))(model.params, ids, labels)
    err.throw()   # raises with the message `electra.common.validation` uses
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import export
from jax.experimental import checkify

from electra.common import validation
from electra.common.config import ElectraConfig
from electra.common.weights.layouts import canonical_to_hf_flax, hf_flax_to_canonical
from electra.common.weights.names import tied_keys
from electra.flax import prng


def _is_concrete(x: Any) -> bool:
    return x is not None and not isinstance(x, jax.core.Tracer)


def _shape(x: Any) -> tuple[int | None, ...] | None:
    """The shape for `electra.common.validation`: a symbolic dimension (`jax.export` shape
    polymorphism), whose comparisons with numbers JAX cannot decide, counts as unknown (None)."""
    if x is None:
        return None
    return tuple(None if export.is_symbolic_dim(d) else d for d in jnp.shape(x))


class ElectraPreTrainedModel:
    """Base of every model: `config`, `module` (a linen module), `params` (HF Flax tree).

    Args:
        config: the hyper-parameters.
        seed: initialises `params` (normal(initializer_range) weights, zero biases, unit
            LayerNorm scales, zero padding row), as HF does.
        dtype: compute dtype (bfloat16 computes matmuls in bfloat16; softmax and LayerNorm
            stay float32).
        param_dtype: dtype of the parameters.
        gradient_checkpointing: recompute each layer in the backward pass (`nn.remat`).
        _do_init: False leaves `params` abstract (`jax.ShapeDtypeStruct` leaves, no random
            draw) until `load_canonical_state_dict` fills them; `from_pretrained` uses it, so
            loading a checkpoint does not pay for a random initialisation it throws away.
    """

    module_class: type[nn.Module]
    architecture: str  # the class name (HF's `architectures` entry), set for every subclass
    choices_axis = False  # multiple choice: inputs (B, C, L)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.architecture = cls.__name__

    def __init__(self, config: ElectraConfig, seed: int = 0, dtype: jnp.dtype = jnp.float32,
                 param_dtype: jnp.dtype = jnp.float32, gradient_checkpointing: bool = False, *, _do_init: bool = True):
        if not isinstance(config, ElectraConfig):
            raise TypeError(f"config must be an ElectraConfig, got {type(config).__name__}")
        self.config = config
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.seed = seed
        self.module = self.module_class(config, dtype, param_dtype, gradient_checkpointing)
        self.params = self.init_weights(jax.random.key(seed)) if _do_init else self.param_shapes()

    # ------------------------------------------------------------------ init
    def _dummy_inputs(self) -> dict[str, jax.ShapeDtypeStruct]:
        """Input shapes the module is initialised with (only their shapes and dtypes matter)."""
        shape = (1, 1, 1) if self.choices_axis else (1, 1)
        inputs = {"input_ids": jax.ShapeDtypeStruct(shape, jnp.int32)}
        if self.config.add_cross_attention:
            inputs["encoder_hidden_states"] = jax.ShapeDtypeStruct((1, 1, self.config.hidden_size), self.dtype)
        return inputs

    def param_shapes(self) -> dict:
        """The parameter tree as `jax.ShapeDtypeStruct` leaves (traced, nothing computed)."""
        init = lambda rng: nn.unbox(self.module.lazy_init({"params": rng}, **self._dummy_inputs())["params"])  # noqa: E731
        return jax.eval_shape(init, jax.random.key(self.seed))

    def init_weights(self, rng: jax.Array) -> dict:
        """Fresh parameters (HF's initialisation, padding row of the word table zeroed).
        `lazy_init` runs only the initialisers, not a forward pass on dummy inputs: the same
        values, and a third less time on a first construction (eager ops compile one by one)."""
        params = self.module.lazy_init({"params": rng}, **self._dummy_inputs())["params"]
        params = jax.tree_util.tree_map(lambda x: x, nn.unbox(params))
        backbone = params["electra"] if "electra" in params else params
        table = backbone["embeddings"]["word_embeddings"]["embedding"]
        backbone["embeddings"]["word_embeddings"]["embedding"] = table.at[self.config.pad_token_id].set(0)
        return params

    # ------------------------------------------------------------------ canonical weights
    def canonical_state_dict(self, params: dict | None = None) -> dict[str, np.ndarray]:
        """Every canonical key as a NumPy array (float32 for low-precision params), tied keys included."""
        params = self.params if params is None else params
        tree = jax.tree_util.tree_map(lambda x: np.asarray(jnp.asarray(x, jnp.float32) if x.dtype != jnp.float32 else x), params)
        state = hf_flax_to_canonical(tree)
        for key, source in tied_keys(self.config, self.architecture).items():
            state[key] = state[source]
        return state

    def load_canonical_state_dict(self, state: dict[str, np.ndarray], *, source: str = "state dict") -> list[str]:
        """Load canonical arrays after strict matching (`CheckpointError` naming the key),
        so a state that fails to match leaves `params` unchanged. Returns (and warns about)
        the keys that were absent and keep their fresh initialisation."""
        from electra.common.weights.checkpoint import match_state_dict

        matched, new_keys, _unused = match_state_dict(state, self.config, self.architecture, source=source)
        return self._load_matched(matched, new_keys, source)

    def _load_matched(self, matched: dict[str, np.ndarray], new_keys, source: str) -> list[str]:
        """Put the arrays `match_state_dict` accepted into `params` (the `new_keys` get the
        seeded initialisation, drawn only now if `params` are still abstract); warn about
        (and return) `new_keys`."""
        loaded = canonical_to_hf_flax(matched, tie_word_embeddings=self.config.tie_word_embeddings)
        params = self.params
        if new_keys and _is_abstract(params):  # the weights the state lacks need their initialisation
            params = self.init_weights(jax.random.key(self.seed))
        params = _merge(params, loaded, self.param_dtype)
        if _is_abstract(params):
            missing = [jax.tree_util.keystr(path) for path, leaf in jax.tree_util.tree_leaves_with_path(params)
                       if isinstance(leaf, jax.ShapeDtypeStruct)]
            raise RuntimeError(f"{self.architecture}: parameters left without a value after loading {source}: {missing}")
        self.params = params
        if new_keys:
            warnings.warn(
                f"{self.architecture}: weights not in {source}, newly initialised: {', '.join(sorted(new_keys))}",
                stacklevel=3,
            )
        return list(new_keys)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, config: ElectraConfig | None = None, *, network: str | None = None,
                        ignore_mismatched_sizes: bool = False, seed: int = 0, dtype: jnp.dtype = jnp.float32,
                        param_dtype: jnp.dtype = jnp.float32, gradient_checkpointing: bool = False, **config_changes):
        """Build from a checkpoint read by `electra.common.weights.loading.load_pretrained`
        (any supported format, a directory or a weights file with `config.json` beside it, or a
        Google TF1 checkpoint with `network`); `network`, `ignore_mismatched_sizes` and the
        config overrides as `electra.pt`'s `from_pretrained`; `seed`, `dtype`, `param_dtype`,
        `gradient_checkpointing` go to the constructor. No random initialisation runs unless
        the checkpoint lacks weights (a bare checkpoint loaded into a head class): those, and
        only then, come from `seed`."""
        from electra.common.weights.loading import load_pretrained

        config, matched, new_keys, _unused = load_pretrained(path, cls.architecture, config, network=network,
                                                             ignore_mismatched_sizes=ignore_mismatched_sizes, **config_changes)
        model = cls(config, seed=seed, dtype=dtype, param_dtype=param_dtype, gradient_checkpointing=gradient_checkpointing, _do_init=False)
        model._load_matched(matched, new_keys, str(path))
        return model

    def save_pretrained(self, directory: str | os.PathLike, format: str = "safetensors", max_shard_size: int | str | None = None) -> Path:
        """Write `config.json` (with `architectures`) and the weights in `format`, the same
        files `electra.pt` writes (see `electra.common.weights.checkpoint.write_pretrained`)."""
        from electra.common.weights.checkpoint import write_pretrained

        write_pretrained(directory, self.config, self.canonical_state_dict(), self.architecture, format=format, max_shard_size=max_shard_size)
        return Path(directory)

    # ------------------------------------------------------------------ checks
    def check_ranges(self, input_ids=None, token_type_ids=None, position_ids=None, *, attention_mask=None,
                     inputs_embeds=None, labels=None, start_positions=None, end_positions=None) -> None:
        """Range checks for traced inputs, as `jax.experimental.checkify` checks: call it
        inside a function transformed by `checkify.checkify` (see the module docstring).
        Labels (`labels`, QA's `start_positions`/`end_positions`) are checked against the
        head's rule (`electra.common.validation.label_range`), which reads the input's
        length and choices from `input_ids` or `inputs_embeds`, and the `attention_mask`
        for replaced-token detection."""
        config = self.config
        for name, values, limit, limit_name in (
            ("input_ids", input_ids, config.vocab_size, "vocab_size"),
            ("token_type_ids", token_type_ids, config.type_vocab_size, "type_vocab_size"),
            ("position_ids", position_ids, config.max_position_embeddings, "max_position_embeddings"),
        ):
            if values is None:
                continue
            low, high = jnp.min(values), jnp.max(values)
            checkify.check(
                (low >= 0) & (high < limit),
                f"{name} must lie in [0, {limit_name}={limit}), got values in [{{low}}, {{high}}]",
                low=low, high=high,
            )
        inputs = dict(input_ids=input_ids, inputs_embeds=inputs_embeds, labels=labels,
                      start_positions=start_positions, end_positions=end_positions)
        given = [name for name in ("labels", "start_positions", "end_positions") if inputs[name] is not None]
        if given and input_ids is None and inputs_embeds is None:
            raise ValueError(f"check_ranges reads the input's shape to check {given[0]}: pass input_ids or inputs_embeds too")
        for name, values, rule in self._label_rules(inputs, given):
            bad, value = _first_outside(jnp, values, rule, attention_mask)
            checkify.check(~bad, rule.message(name, "{value}"), value=value)

    def _label_rules(self, inputs: dict[str, Any], label_names) -> list[tuple[str, Any, validation.LabelRange]]:
        """(name, values, allowed range) of each given label argument that has a range."""
        source = inputs.get("input_ids")
        shape = jnp.shape(source if source is not None else inputs.get("inputs_embeds"))  # (B, [C,] L[, E])
        length = shape[2 if self.choices_axis else 1]
        num_choices = shape[1] if self.choices_axis else None
        rules = []
        for name in label_names:
            values = inputs.get(name)
            if values is None:
                continue
            floating = not jnp.issubdtype(jnp.result_type(values), jnp.integer)
            rule = validation.label_range(self.architecture, self.config, name, length=length,
                                          num_choices=num_choices, float_labels=floating)
            if rule is not None:
                rules.append((name, values, rule))
        return rules

    def _validate(self, inputs: dict[str, Any], label_names: tuple[str, ...]) -> None:
        config = self.config
        ids, embeds = inputs.get("input_ids"), inputs.get("inputs_embeds")
        for name in ("input_ids", "token_type_ids", "position_ids"):
            value = inputs.get(name)
            if value is not None and not jnp.issubdtype(jnp.result_type(value), jnp.integer):
                raise ValueError(f"{name} must hold integers, got dtype {jnp.result_type(value)}")

        def flat(x):  # multiple choice: (B, C, L) -> (B*C, L) for the checks
            shape = _shape(x)
            if shape is None or not self.choices_axis or len(shape) < 2:
                return shape
            rows = None if None in shape[:2] else shape[0] * shape[1]
            return (rows, *shape[2:])

        if self.choices_axis and ids is not None and jnp.ndim(ids) != 3:
            raise ValueError(f"input_ids must have shape (batch, choices, length), got shape {tuple(jnp.shape(ids))}")
        past = inputs.get("past_key_values")
        past_length = 0
        if past is not None:
            past_length = _shape(past[0][0])[2]
            if inputs.get("cache_index") is not None:  # fixed-size cache: the mask covers the buffer
                new_length = _shape(ids if ids is not None else embeds)[1]
                past_length = None if None in (past_length, new_length) else past_length - new_length
        mask_shape = flat(inputs.get("attention_mask"))
        if past_length is None and mask_shape:  # symbolic cache length: the mask's key length is unknown too
            mask_shape = (*mask_shape[:-1], None)
        batch, length = validation.check_inputs(
            config, input_ids=flat(ids), inputs_embeds=flat(embeds), attention_mask=mask_shape,
            token_type_ids=flat(inputs.get("token_type_ids")), position_ids=flat(inputs.get("position_ids")),
            past_length=past_length or 0,
        )
        if past is not None and not config.is_decoder:
            raise ValueError("past_key_values needs a decoder (config.is_decoder=True)")
        encoder = inputs.get("encoder_hidden_states")
        if encoder is not None:
            if not config.add_cross_attention:
                raise ValueError("encoder_hidden_states needs a model built with config.add_cross_attention=True")
            validation.check_labels("encoder_hidden_states", _shape(encoder), (batch, None, config.hidden_size))
            encoder_mask = inputs.get("encoder_attention_mask")
            if encoder_mask is not None:
                validation.check_labels("encoder_attention_mask", _shape(encoder_mask), _shape(encoder)[:2])
        validation.check_head_mask(config, _shape(inputs.get("head_mask")))
        for name in label_names:
            labels = inputs.get(name)
            if labels is None:
                continue
            floating = not jnp.issubdtype(jnp.result_type(labels), jnp.integer)
            batch_for_labels = _shape(ids if ids is not None else embeds)[0] if self.choices_axis else batch
            expected = validation.label_shape(self.architecture, config, batch_for_labels, length, float_labels=floating)
            validation.check_labels(name, _shape(labels), expected)
        ranges = {}
        for name, key in (("input_ids", "ids"), ("token_type_ids", "types"), ("position_ids", "positions")):
            value = inputs.get(name)
            if _is_concrete(value):
                array = np.asarray(value)
                ranges[key] = (int(array.min()), int(array.max()))
        validation.check_token_ranges(config, **ranges)
        mask = inputs.get("attention_mask")
        for name, values, rule in self._label_rules(inputs, label_names):
            if _is_concrete(values) and (mask is None or not rule.attended_only or _is_concrete(mask)):
                bad, value = _first_outside(np, np.asarray(values), rule, None if mask is None else np.asarray(mask))
                if bad:
                    raise ValueError(rule.message(name, value.item()))

    # ------------------------------------------------------------------ call
    label_names: tuple[str, ...] = ("labels",)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 head_mask=None, inputs_embeds=None, *, params: dict | None = None,
                 dropout_rng: jax.Array | None = None, train: bool = False,
                 output_attentions: bool = False, output_hidden_states: bool = False,
                 return_dict: bool | None = None, **task_inputs):
        """Run the model. Args (shapes as `ElectraModelModule`; multiple choice adds a choices
        axis C): `input_ids` (B, L), `attention_mask`, `token_type_ids`, `position_ids`,
        `head_mask` (N,) or (layers, N), `inputs_embeds` (B, L, E); the task's label and
        decoder keywords (`labels`, `start_positions`, `end_positions`, `encoder_hidden_states`,
        `encoder_attention_mask`, `past_key_values`, `cache_index`, `use_cache`);
        `params` (default `self.params`); `dropout_rng` (required when `train`).
        Returns the task's output dataclass (a JAX pytree); with `return_dict=False` the
        tuple of its non-None fields, as HF's Flax models return (the loss first when labels
        are given, as HF's PyTorch models: HF's Flax heads compute no loss); `None` follows
        `config.use_return_dict`, as in electra.pt."""
        inputs = dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                      position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds, **task_inputs)
        self._validate(inputs, self.label_names)
        if train and dropout_rng is None:
            raise ValueError("train=True needs a dropout_rng (a jax.random key)")
        # Same key data, same masks: only the random bits are computed faster (`prng`).
        rngs = {"dropout": prng.fast_key(dropout_rng)} if dropout_rng is not None else {}
        inputs = {k: v for k, v in inputs.items() if v is not None}
        out = self.module.apply(
            {"params": self.params if params is None else params}, **inputs, train=train,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, rngs=rngs,
        )
        return out if (self.config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()

    # ------------------------------------------------------------------ parameter dtypes
    def to_bf16(self, params: dict, mask: Any = None) -> dict:
        """`params` with its floating-point leaves cast to bfloat16 (a new tree; `self.params`
        is untouched). `mask`: a tree of the same structure, True where a leaf is cast."""
        return _cast_floating(params, jnp.bfloat16, mask)

    def to_fp16(self, params: dict, mask: Any = None) -> dict:
        """As `to_bf16`, to float16."""
        return _cast_floating(params, jnp.float16, mask)

    def to_fp32(self, params: dict, mask: Any = None) -> dict:
        """As `to_bf16`, to float32."""
        return _cast_floating(params, jnp.float32, mask)


def _first_outside(xp, values, rule: validation.LabelRange, attention_mask):
    """(whether any value breaks `rule`, the first that does) with `xp` = NumPy for concrete
    labels or `jax.numpy` for traced ones, so both paths apply the same rule."""
    bad = rule.outside(values, attention_mask)
    bad, values = xp.reshape(bad, (-1,)), xp.reshape(values, (-1,))
    return xp.any(bad), values[xp.argmax(bad)]


def _cast_floating(params: dict, dtype, mask: Any) -> dict:
    """HF `FlaxPreTrainedModel._cast_floating_to`: floating JAX arrays cast, other leaves
    (integer arrays, NumPy arrays, abstract shapes) kept; with a mask, only where it is True."""
    def cast(leaf, selected=True):
        if selected and isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf.astype(dtype)
        return leaf

    if mask is None:
        return jax.tree_util.tree_map(cast, params)
    return jax.tree_util.tree_map(cast, params, mask)


def _is_abstract(params: dict) -> bool:
    return any(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree_util.tree_leaves(params))


def _merge(params: dict, loaded: dict, dtype) -> dict:
    """`params` with every leaf present in `loaded` replaced (cast to `dtype`); the tree
    structure of `loaded` must be a subset of `params` (checked by `match_state_dict`)."""
    out = {}
    for name, value in params.items():
        if name not in loaded:
            out[name] = value
        elif isinstance(value, dict):
            out[name] = _merge(value, loaded[name], dtype)
        else:
            out[name] = jnp.asarray(loaded[name], dtype)
    return out
