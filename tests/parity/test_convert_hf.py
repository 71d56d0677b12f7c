"""Porting through HF: files HF 4.57 writes (`save_pretrained` in PyTorch, safetensors and
`.bin`, sharded and not; TF `tf_model.h5`; Flax `flax_model.msgpack`) go through `electra
convert` into every target format and hold HF's weights exactly. With
tests/parity/test_hf_loaders.py (HF's loaders read each target format we write) this is the
round trip HF -> electra convert -> HF."""

from __future__ import annotations

import numpy as np
import pytest

from electra.cli import main
from electra.common.config import ElectraConfig
from electra.common.weights.checkpoint import match_state_dict, read_state_dict
from tests.conftest import tiny_config
from tests.hf_reference import save_hf_references

HF_FORMATS = ("pt", "pt_bin", "pt_sharded", "pt_bin_sharded", "tf", "flax")
TARGETS = ("safetensors", "pytorch", "tf", "flax")
ARCHITECTURES = ("ElectraForPreTraining", "ElectraForMaskedLM")


@pytest.fixture(scope="module")
def hf_files(tmp_path_factory):
    pytest.importorskip("torch")
    return save_hf_references(tmp_path_factory.mktemp("hf"), ARCHITECTURES, tiny_config().to_dict(), seed=5, formats=HF_FORMATS)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_hf_written_files_convert_to_every_format_exactly(hf_files, tmp_path, architecture):
    hf_state = dict(np.load(hf_files[architecture]["state"]))
    for source in HF_FORMATS:
        for target in TARGETS:
            dst = tmp_path / f"{source}-{target}"
            assert main(["convert", str(hf_files[architecture][source]), str(dst), "--to", target]) == 0
            config = ElectraConfig.from_pretrained(dst)
            got = match_state_dict(read_state_dict(dst), config, architecture)[0]
            expected = match_state_dict(hf_state, config, architecture)[0]
            assert got.keys() == expected.keys(), (source, target)
            for key in expected:
                np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{source} -> {target}: {key}")
