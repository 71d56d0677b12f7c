"""Input checks shared by the three backends, on shapes and plain numbers only.

Each backend calls these at its public boundary with static shapes (tuples) and, for
value ranges, the minimum and maximum it computed in its own framework. The messages
are the same in every backend: they name the argument, what it was and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from electra.common.config import ElectraConfig

Shape = Sequence[int | None]


def check_inputs(
    config: ElectraConfig,
    *,
    input_ids: Shape | None,
    inputs_embeds: Shape | None = None,
    attention_mask: Shape | None = None,
    token_type_ids: Shape | None = None,
    position_ids: Shape | None = None,
    past_length: int = 0,
) -> tuple[int | None, int | None]:
    """Check the shapes of a forward call; return (B, L).

    Args:
        input_ids: shape of the token ids (B, L), or None when `inputs_embeds` is given.
        inputs_embeds: shape (B, L, E), or None.
        attention_mask: shape (B, past_length + L), or None.
        token_type_ids, position_ids: shape (B, L), or None.
        past_length: number of cached positions before this call (decoder only).
    Raises:
        ValueError: naming the argument whose shape is wrong.
    """
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds, got " + ("both" if input_ids is not None else "neither"))
    if input_ids is not None:
        if len(input_ids) != 2:
            raise ValueError(f"input_ids must have shape (batch, length), got shape {tuple(input_ids)}")
        batch, length = input_ids
    else:
        if len(inputs_embeds) != 3 or (inputs_embeds[2] is not None and inputs_embeds[2] != config.embedding_size):
            raise ValueError(
                f"inputs_embeds must have shape (batch, length, embedding_size={config.embedding_size}), "
                f"got shape {tuple(inputs_embeds)}"
            )
        batch, length = inputs_embeds[0], inputs_embeds[1]
    if length is not None and past_length + length > config.max_position_embeddings:
        raise ValueError(
            f"sequence length {past_length + length}"
            + (f" ({past_length} cached + {length} new)" if past_length else "")
            + f" exceeds max_position_embeddings={config.max_position_embeddings}"
        )
    if length is not None and length < 1:
        raise ValueError(f"input sequences must hold at least one position, got length {length}")
    for name, shape, expected in (
        ("attention_mask", attention_mask, (batch, None if length is None else past_length + length)),
        ("token_type_ids", token_type_ids, (batch, length)),
        ("position_ids", position_ids, (batch, length)),
    ):
        if shape is None:
            continue
        if name == "position_ids" and len(shape) == 1:  # HF also takes one row for the whole batch
            shape = (batch, shape[0])
        if not _compatible(shape, expected):
            raise ValueError(f"{name} must have shape {_fmt(expected)}, got shape {tuple(shape)}")
    return batch, length


def check_range(name: str, low: int, high: int, limit: int, limit_name: str) -> None:
    """Raise unless every value lies in [0, limit): `low`/`high` are the observed min/max."""
    if low < 0 or high >= limit:
        raise ValueError(f"{name} must lie in [0, {limit_name}={limit}), got values in [{low}, {high}]")


def check_token_ranges(config: ElectraConfig, ids: tuple[int, int] | None = None, types: tuple[int, int] | None = None,
                       positions: tuple[int, int] | None = None) -> None:
    """Range checks of (min, max) pairs for input_ids, token_type_ids and position_ids."""
    if ids is not None:
        check_range("input_ids", *ids, config.vocab_size, "vocab_size")
    if types is not None:
        check_range("token_type_ids", *types, config.type_vocab_size, "type_vocab_size")
    if positions is not None:
        check_range("position_ids", *positions, config.max_position_embeddings, "max_position_embeddings")


def check_head_mask(config: ElectraConfig, head_mask: Shape | None) -> None:
    """`head_mask` is (N,) for all layers or (num_layers, N)."""
    if head_mask is None:
        return
    N, layers = config.num_attention_heads, config.num_hidden_layers
    if tuple(head_mask) not in ((N,), (layers, N)):
        raise ValueError(f"head_mask must have shape ({N},) or ({layers}, {N}), got shape {tuple(head_mask)}")


def check_labels(name: str, shape: Shape, expected: Shape) -> None:
    """Labels (or start/end positions) must have the shape the head's loss expects."""
    if not _compatible(shape, expected):
        raise ValueError(f"{name} must have shape {_fmt(expected)}, got shape {tuple(shape)}")


def label_shape(architecture: str, config: ElectraConfig, batch: int | None, length: int | None, float_labels: bool = False) -> tuple:
    """The label shape each head's loss expects (multi-label classification takes (B, num_labels))."""
    if architecture in ("ElectraForPreTraining", "ElectraForMaskedLM", "ElectraForCausalLM", "ElectraForTokenClassification"):
        return (batch, length)
    if architecture == "ElectraForSequenceClassification":
        if config.num_labels == 1:
            return (batch,)
        multi_label = config.problem_type == "multi_label_classification" or (config.problem_type is None and float_labels)
        return (batch, config.num_labels) if multi_label else (batch,)
    if architecture in ("ElectraForMultipleChoice", "ElectraForQuestionAnswering"):
        return (batch,)
    raise ValueError(f"{architecture} takes no labels")


IGNORE_INDEX = -100  # label of positions that carry no loss (PyTorch's cross-entropy default)


@dataclass(frozen=True)
class LabelRange:
    """The values a label argument may hold: `low <= x <= high`, or `x == ignore`.

    `attended_only`: only positions with `attention_mask == 1` are checked (the
    replaced-token-detection loss reads no other position, so padding may hold anything).
    """

    low: float
    high: float
    ignore: int | None = None
    attended_only: bool = False
    text: str = ""

    def outside(self, values, attention_mask=None):
        """Elementwise, which `values` break the rule (a NaN does). Written with operators
        only, so NumPy arrays, torch and TensorFlow tensors and `jax.numpy` arrays (traced or
        concrete) all go through this one rule."""
        bad = ~((values >= self.low) & (values <= self.high))
        if self.ignore is not None:
            bad = bad & (values != self.ignore)
        if self.attended_only and attention_mask is not None:
            bad = bad & (attention_mask == 1)
        return bad

    def message(self, name: str, value: object) -> str:
        """The error for a value outside the range (`value` may be a format placeholder)."""
        allowed = self.text + (f", or {self.ignore} (ignored)" if self.ignore is not None else "")
        return f"{name} must lie in {allowed}, got {value}"


def label_range(architecture: str, config: ElectraConfig, name: str, length: int | None = None,
                num_choices: int | None = None, float_labels: bool = False) -> LabelRange | None:
    """The allowed values of a head's label argument (None: any value, as for regression).

    Args:
        architecture: the head class name (`ElectraForMaskedLM`, ...).
        name: the argument (`labels`, `start_positions`, `end_positions`).
        length: L of the input (question answering: L itself means "outside the input").
        num_choices: C of a multiple-choice input.
        float_labels: whether sequence-classification labels are floating point.
    """
    if architecture == "ElectraForPreTraining":
        return LabelRange(0, 1, attended_only=True, text="[0, 1] (1 = replaced) at attended positions")
    if architecture in ("ElectraForMaskedLM", "ElectraForCausalLM"):
        return _classes(config.vocab_size, "vocab_size")
    if architecture == "ElectraForTokenClassification":
        return _classes(config.num_labels, "num_labels")
    if architecture == "ElectraForMultipleChoice":
        return None if num_choices is None else _classes(num_choices, "num_choices")
    if architecture == "ElectraForQuestionAnswering":
        if length is None:
            return None
        return LabelRange(0, length, text=f"[0, {length}] ({length} = the sequence length: outside the input, ignored)")
    if architecture == "ElectraForSequenceClassification":
        kind = config.problem_type or ("regression" if config.num_labels == 1 else
                                       "multi_label_classification" if float_labels else "single_label_classification")
        if kind == "regression":
            return None
        if kind == "multi_label_classification":
            return LabelRange(0, 1, text="[0, 1] (multi-label targets)")
        return _classes(config.num_labels, "num_labels")
    raise ValueError(f"{architecture} takes no labels")


def _classes(count: int, count_name: str) -> LabelRange:
    return LabelRange(0, count - 1, ignore=IGNORE_INDEX, text=f"[0, {count_name}={count})")


def _compatible(shape: Shape, expected: Shape) -> bool:
    shape = tuple(shape)
    if len(shape) != len(expected):
        return False
    return all(a is None or b is None or a == b for a, b in zip(shape, expected))


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_generate_args(config: ElectraConfig, input_shape: Shape, max_new_tokens, temperature, top_k, top_p) -> None:
    """Arguments of `generate` (every backend): (B, L) ids, a length that fits the
    position table, positive temperature, top_k >= 1, top_p in (0, 1]."""
    if len(input_shape) != 2:
        raise ValueError(f"input_ids must have shape (batch, length), got shape {tuple(input_shape)}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    limit = config.max_position_embeddings
    if input_shape[1] + max_new_tokens > limit:
        raise ValueError(f"input length {input_shape[1]} + max_new_tokens {max_new_tokens} exceeds max_position_embeddings={limit}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p!r}")
