"""Google TF1 checkpoints written by `tf.compat.v1.train.Saver`, read by `load_google_checkpoint`
and by HF 4.57's `load_tf_weights_in_electra` (the reference where it loads the layout right).

Layouts (tests/common/test_google.py `google_layout`): shared embeddings with and without
projections, untied generator embeddings of the same and of another width, and
untied_generator=False. Every checkpoint holds `global_step` and `adam_m`/`adam_v` slots.
"""

from __future__ import annotations

import numpy as np
import pytest

from electra.common.errors import CheckpointError
from electra.common.weights.google import is_google_checkpoint, load_google_checkpoint
from tests.common.test_google import TIED, assert_same, google_layout

tf = pytest.importorskip("tensorflow")

SIZES = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
         "max_position_embeddings", "type_vocab_size")
IDS = np.array([[1, 5, 9, 13, 40, 2, 0], [1, 7, 98, 3, 2, 0, 0]])


def write_tf1(directory, variables: dict[str, np.ndarray]) -> str:
    """Save `variables` under their names with a TF1 `Saver` in a graph, as Google's Estimator does."""
    with tf.Graph().as_default():
        tf_vars = {name: tf.compat.v1.Variable(value, name=name.replace("/", "__")) for name, value in variables.items()}
        saver = tf.compat.v1.train.Saver(var_list=tf_vars)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, str(directory / "model.ckpt"), global_step=1000)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """{case: (prefix, discriminator config, generator config, discriminator state, generator state)}."""
    cases = {
        "shared": dict(layout="shared"),  # projections in both networks (E 24, H 32, generator H 16)
        "shared_no_discriminator_project": dict(layout="shared", embedding_size=32),
        "shared_no_project": dict(layout="shared", embedding_size=32, generator_fraction=1.0),
        "untied_same_width": dict(layout="untied", embedding_size=16),  # generator E = H = 16 = discriminator E
        "untied_other_width": dict(layout="untied"),  # generator E = H = 16, discriminator E = 24
        "untied_project": dict(layout="untied_project"),  # generator E 8 -> H 16 by generator/embeddings_project
        "tied": dict(layout="tied"),  # untied_generator=False
    }
    built = {}
    for case, kwargs in cases.items():
        variables, *rest = google_layout(**kwargs)
        built[case] = (write_tf1(tmp_path_factory.mktemp(case), variables), *rest)
    return built


def hf_loaded(config, network: str, prefix: str):
    """HF's model of `network` (seeded init) after `load_tf_weights_in_electra`, and its init state."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from transformers.models.electra.modeling_electra import load_tf_weights_in_electra

    torch.manual_seed(0)
    cls = transformers.ElectraForPreTraining if network == "discriminator" else transformers.ElectraForMaskedLM
    model = cls(transformers.ElectraConfig.from_dict(config.to_dict())).eval()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    return load_tf_weights_in_electra(model, model.config, prefix, discriminator_or_generator=network), initial


def ours_logits(config, network: str, state: dict) -> np.ndarray:
    torch = pytest.importorskip("torch")
    import electra.pt as ept

    model = (ept.ElectraForPreTraining if network == "discriminator" else ept.ElectraForMaskedLM)(config).eval()
    model.load_canonical_state_dict(state)
    with torch.no_grad():
        return model(torch.tensor(IDS)).logits.numpy()


def hf_state(model) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith(("position_ids", "token_type_ids"))}


def check_config(config, expected) -> None:
    for field in SIZES:
        want = max(1, expected.hidden_size // 64) if field == "num_attention_heads" else getattr(expected, field)
        assert getattr(config, field) == want, field


# ----------------------------------------------------------------------------- layouts HF loads right
@pytest.mark.parametrize("network", ["discriminator", "generator"])
@pytest.mark.parametrize("case", ["shared", "shared_no_discriminator_project", "shared_no_project", "untied_same_width"])
def test_matches_hf_where_hf_loads_the_layout(layouts, case, network):
    torch = pytest.importorskip("torch")
    prefix, discriminator_config, generator_config, discriminator, generator = layouts[case]
    expected_config, expected = (discriminator_config, discriminator) if network == "discriminator" else (generator_config, generator)
    config, state = load_google_checkpoint(prefix, network)
    check_config(config, expected_config)
    assert_same(state, expected)
    assert config.has_embeddings_project == ("electra.embeddings_project.weight" in state)

    hf, _ = hf_loaded(config, network, prefix)
    reference = hf_state(hf)
    assert_same({**state, **({TIED: state["electra.embeddings.word_embeddings.weight"]} if network == "generator" else {})},
                reference)
    with torch.no_grad():
        hf_logits = hf(torch.tensor(IDS)).logits.numpy()
    np.testing.assert_allclose(ours_logits(config, network, state), hf_logits, atol=1e-5, rtol=0)


def test_projection_presence_per_case(layouts):
    has = {case: tuple("electra.embeddings_project.weight" in load_google_checkpoint(layouts[case][0], n)[1]
                       for n in ("discriminator", "generator")) for case in ("shared", "shared_no_discriminator_project", "shared_no_project")}
    assert has == {"shared": (True, True), "shared_no_discriminator_project": (False, True), "shared_no_project": (False, False)}


# ----------------------------------------------------------------------------- layouts HF gets wrong
@pytest.mark.parametrize("case", ["untied_other_width", "untied_project"])
def test_untied_generator_embeddings_of_another_width(layouts, case):
    prefix, discriminator_config, generator_config, discriminator, generator = layouts[case]
    config, state = load_google_checkpoint(prefix, "generator")
    check_config(config, generator_config)
    assert_same(state, generator)
    variables = tf.train.load_checkpoint(prefix)
    np.testing.assert_array_equal(state["electra.embeddings.word_embeddings.weight"], variables.get_tensor("generator/embeddings/word_embeddings"))
    if case == "untied_project":
        np.testing.assert_array_equal(state["electra.embeddings_project.weight"], variables.get_tensor("generator/embeddings_project/kernel").T)
    assert_same(load_google_checkpoint(prefix, "discriminator")[1], discriminator)
    ours_logits(config, "generator", state)  # loads into electra.pt strictly
    # HF renames electra/embeddings/* to the generator's embeddings too, and crashes on the first
    # of them (electra/embeddings/LayerNorm/beta, in sorted order) of the discriminator's width.
    E = generator_config.embedding_size
    with pytest.raises(ValueError, match=rf"Pointer shape torch.Size\(\[{E}\]\) and array shape \(24,\) mismatched"):
        hf_loaded(config, "generator", prefix)


def test_untied_generator_false_generator_is_the_discriminator_encoder(layouts):
    prefix, discriminator_config, _, discriminator, generator = layouts["tied"]
    config, state = load_google_checkpoint(prefix, "generator")
    check_config(config, discriminator_config)
    assert_same(state, generator)
    for key, value in state.items():  # the generator's body is the discriminator's, its head its own
        if key.startswith("electra."):
            np.testing.assert_array_equal(value, discriminator[key])
    assert_same(load_google_checkpoint(prefix, "discriminator")[1], discriminator)

    # HF maps electra/* to a `discriminator` attribute its ElectraForMaskedLM lacks, and skips them:
    # every encoder weight and the projection keep their random init (34 in this 2-layer config).
    hf, initial = hf_loaded(config, "generator", prefix)
    loaded = hf_state(hf)
    left_random = sorted(k for k in loaded if k in state and np.array_equal(loaded[k], initial[k].numpy())
                         and not np.array_equal(loaded[k], state[k]))
    assert left_random == sorted(k for k in state if k.startswith(("electra.encoder.", "electra.embeddings_project.")))
    assert len(left_random) == 34
    assert all(np.array_equal(loaded[k], state[k]) for k in state if k not in left_random)


# ----------------------------------------------------------------------------- config given
def test_a_given_config_is_checked_against_the_shapes(layouts):
    prefix, discriminator_config, generator_config, discriminator, _ = layouts["shared"]
    config, state = load_google_checkpoint(prefix, "discriminator", discriminator_config)  # 4 heads, as given
    assert config is discriminator_config and config.num_attention_heads == 4
    assert_same(state, discriminator)
    with pytest.raises(CheckpointError, match=r"model.ckpt-1000.index: variable generator/embeddings_project/bias is "
                                              r"electra.embeddings_project.bias of shape \(16,\), the config expects \(32,\)$"):
        load_google_checkpoint(prefix, "generator", discriminator_config)
    with pytest.raises(CheckpointError, match=r"variable electra/encoder/layer_1/.* has no place in ElectraForPreTraining"):
        load_google_checkpoint(prefix, "discriminator", discriminator_config.replace(num_hidden_layers=1))
    with pytest.raises(CheckpointError, match=r"missing for the discriminator \(ElectraForPreTraining\): electra.encoder.layer.2"):
        load_google_checkpoint(prefix, "discriminator", discriminator_config.replace(num_hidden_layers=3))


# ----------------------------------------------------------------------------- errors
def copy_checkpoint(prefix: str, directory) -> str:
    for suffix in (".index", ".data-00000-of-00001"):
        (directory / f"model.ckpt-1000{suffix}").write_bytes(open(prefix + suffix, "rb").read())
    return str(directory / "model.ckpt-1000")


@pytest.mark.parametrize("cut", [0, 1, 0.25, 0.5, 0.9, -1])
def test_truncated_data_is_refused_naming_the_file(layouts, tmp_path, cut):
    prefix = copy_checkpoint(layouts["shared"][0], tmp_path)
    data = tmp_path / "model.ckpt-1000.data-00000-of-00001"
    content = data.read_bytes()
    size = len(content) + cut if cut < 0 else int(cut * len(content)) if isinstance(cut, float) else cut
    data.write_bytes(content[:size])
    for network in ("discriminator", "generator"):
        with pytest.raises(CheckpointError, match=rf"model.ckpt-1000.data-00000-of-00001: truncated: the data holds {size} bytes, "
                                                  rf"the index lists {len(content)}$"):
            load_google_checkpoint(prefix, network)


@pytest.mark.parametrize("cut", [0, 10, 0.5, -1])
def test_truncated_index_is_refused_naming_the_file(layouts, tmp_path, cut):
    prefix = copy_checkpoint(layouts["shared"][0], tmp_path)
    index = tmp_path / "model.ckpt-1000.index"
    content = index.read_bytes()
    index.write_bytes(content[:len(content) + cut if cut < 0 else int(cut * len(content)) if isinstance(cut, float) else cut])
    assert is_google_checkpoint(prefix)
    with pytest.raises(CheckpointError, match=r"model.ckpt-1000.index: not a readable TF1 checkpoint index \(\w+: [^\n]+\)$"):
        load_google_checkpoint(prefix, "discriminator")


def test_a_corrupt_weight_is_refused_naming_the_file_and_variable(layouts, tmp_path):
    prefix = copy_checkpoint(layouts["shared"][0], tmp_path)
    data = tmp_path / "model.ckpt-1000.data-00000-of-00001"
    content = bytearray(data.read_bytes())
    table = layouts["shared"][3]["electra.embeddings.word_embeddings.weight"]  # read by both networks
    content[content.find(table.tobytes()) + 100] ^= 0xFF
    data.write_bytes(bytes(content))
    for network in ("discriminator", "generator"):
        with pytest.raises(CheckpointError, match=rf"^{data}: cannot read electra/embeddings/word_embeddings, the file is truncated "
                                                  r"or corrupt \(\w+: [^\n]*Checksum does not match[^\n]*\)$"):
            load_google_checkpoint(prefix, network)


def test_another_model_s_checkpoint_names_its_first_variable(tmp_path):
    bert = {"bert/embeddings/word_embeddings": np.zeros((5, 3), np.float32), "cls/predictions/output_bias": np.zeros(5, np.float32),
            "global_step": np.array(7, np.int64)}
    prefix = write_tf1(tmp_path, bert)
    with pytest.raises(CheckpointError, match=r"model.ckpt-1000.index: bert/embeddings/word_embeddings: unexpected variable in an "
                                              r"ELECTRA TF1 checkpoint"):
        load_google_checkpoint(prefix, "discriminator")
    variables, *_ = google_layout("shared")
    pooled = write_tf1(tmp_path / "pooled", {**variables, "electra/pooler/dense/kernel": np.zeros((32, 32), np.float32)})
    with pytest.raises(CheckpointError, match=r"variable electra/pooler/dense/kernel has no place in ElectraForPreTraining under the "
                                              r"config \(as electra.pooler.dense.weight\)$"):
        load_google_checkpoint(pooled, "discriminator")
    assert sorted(load_google_checkpoint(pooled, "generator")[1]) == sorted(google_layout("shared")[4])


def test_a_tf2_checkpoint_is_named_as_one(tmp_path):
    prefix = tf.train.Checkpoint(w=tf.Variable(np.zeros(3, np.float32))).write(str(tmp_path / "ckpt"))
    assert is_google_checkpoint(prefix)
    with pytest.raises(CheckpointError, match=r"ckpt.index: a TF2 object-based checkpoint \(tf.train.Checkpoint\), not Google's"):
        load_google_checkpoint(prefix, "generator")


def test_a_checkpoint_without_the_network_says_so(layouts, tmp_path):
    variables, *_ = google_layout("tied")
    without_generator = {k: v for k, v in variables.items() if not k.startswith("generator_predictions/")}  # uniform generator
    with pytest.raises(CheckpointError, match=r"no generator in this checkpoint \(no generator_predictions/ variables"):
        load_google_checkpoint(write_tf1(tmp_path / "uniform", without_generator), "generator")
    without_discriminator = {k: v for k, v in variables.items() if not k.startswith("discriminator_predictions/")}  # BERT objective
    prefix = write_tf1(tmp_path / "mlm", without_discriminator)
    with pytest.raises(CheckpointError, match=r"no discriminator in this checkpoint \(no discriminator_predictions/ variables: a "
                                              r"run without the ELECTRA objective\?\)"):
        load_google_checkpoint(prefix, "discriminator")
    assert sorted(load_google_checkpoint(prefix, "generator")[1]) == sorted(google_layout("tied")[4])
