"""Canonical weight names and shapes: HF PyTorch state-dict keys (docs/reference.md section 5).

Every backend builds the same module tree under the same names, so this table is the
checkpoint contract: `expected_shapes(config, "ElectraForMaskedLM")` lists every key a
complete checkpoint of that class holds, with its shape in the canonical layout (Linear
weights (out, in)). Loaders check files against it; tests draw seeded weights from it.
"""

from __future__ import annotations

from electra.common.config import ElectraConfig

BACKBONE_PREFIX = "electra."  # head classes keep the bare model under this attribute

ARCHITECTURES = (
    "ElectraModel",
    "ElectraForPreTraining",
    "ElectraForMaskedLM",
    "ElectraForCausalLM",
    "ElectraForSequenceClassification",
    "ElectraForMultipleChoice",
    "ElectraForTokenClassification",
    "ElectraForQuestionAnswering",
)

# Keys some files hold that carry no parameter (HF buffers): dropped on load.
IGNORED_KEYS = ("embeddings.position_ids", "embeddings.token_type_ids")

# Output weights tied to an input table: {tied key: source key}. Files may omit the tied
# key; when present it must equal the source.
TIED_KEYS = {"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}


def _linear(name: str, n_in: int, n_out: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (n_out, n_in), f"{name}.bias": (n_out,)}


def _layer_norm(name: str, n: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (n,), f"{name}.bias": (n,)}


def _attention(prefix: str, config: ElectraConfig, relative: bool) -> dict[str, tuple[int, ...]]:
    H = config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for part in ("query", "key", "value"):
        shapes.update(_linear(f"{prefix}.self.{part}", H, H))
    if relative:
        shapes[f"{prefix}.self.distance_embedding.weight"] = (2 * config.max_position_embeddings - 1, config.head_dim)
    shapes.update(_linear(f"{prefix}.output.dense", H, H))
    shapes.update(_layer_norm(f"{prefix}.output.LayerNorm", H))
    return shapes


def backbone_shapes(config: ElectraConfig) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the bare `ElectraModel`, without prefix."""
    V, E, H, I = config.vocab_size, config.embedding_size, config.hidden_size, config.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (V, E),
        "embeddings.position_embeddings.weight": (config.max_position_embeddings, E),
        "embeddings.token_type_embeddings.weight": (config.type_vocab_size, E),
        **_layer_norm("embeddings.LayerNorm", E),
    }
    if config.has_embeddings_project:
        shapes.update(_linear("embeddings_project", E, H))
    relative = config.position_embedding_type != "absolute"
    for i in range(config.num_hidden_layers):
        layer = f"encoder.layer.{i}"
        shapes.update(_attention(f"{layer}.attention", config, relative))
        if config.add_cross_attention:
            # HF builds cross-attention with absolute positions whatever the config says.
            shapes.update(_attention(f"{layer}.crossattention", config, relative=False))
        shapes.update(_linear(f"{layer}.intermediate.dense", H, I))
        shapes.update(_linear(f"{layer}.output.dense", I, H))
        shapes.update(_layer_norm(f"{layer}.output.LayerNorm", H))
    return shapes


def head_shapes(config: ElectraConfig, architecture: str) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the head of `architecture` (empty for `ElectraModel`)."""
    H, E, V = config.hidden_size, config.embedding_size, config.vocab_size
    if architecture == "ElectraModel":
        return {}
    if architecture == "ElectraForPreTraining":
        return {**_linear("discriminator_predictions.dense", H, H), **_linear("discriminator_predictions.dense_prediction", H, 1)}
    if architecture in ("ElectraForMaskedLM", "ElectraForCausalLM"):
        return {
            **_linear("generator_predictions.dense", H, E),
            **_layer_norm("generator_predictions.LayerNorm", E),
            **_linear("generator_lm_head", E, V),
        }
    if architecture == "ElectraForSequenceClassification":
        return {**_linear("classifier.dense", H, H), **_linear("classifier.out_proj", H, config.num_labels)}
    if architecture == "ElectraForMultipleChoice":
        summary = _linear("sequence_summary.summary", H, H) if config.summary_use_proj else {}
        return {**summary, **_linear("classifier", H, 1)}
    if architecture == "ElectraForTokenClassification":
        return _linear("classifier", H, config.num_labels)
    if architecture == "ElectraForQuestionAnswering":
        return _linear("qa_outputs", H, 2)
    raise ValueError(f"unknown architecture {architecture!r}; expected one of {list(ARCHITECTURES)}")


def expected_shapes(config: ElectraConfig, architecture: str = "ElectraModel") -> dict[str, tuple[int, ...]]:
    """Every canonical key of `architecture` with its shape, tied keys included."""
    head = head_shapes(config, architecture)
    if architecture == "ElectraModel":
        return backbone_shapes(config)
    backbone = {BACKBONE_PREFIX + k: v for k, v in backbone_shapes(config).items()}
    return {**backbone, **head}


def tied_keys(config: ElectraConfig, architecture: str) -> dict[str, str]:
    """The tied keys of `architecture` under `config` ({tied: source})."""
    if not config.tie_word_embeddings:
        return {}
    keys = expected_shapes(config, architecture)
    return {k: v for k, v in TIED_KEYS.items() if k in keys}
