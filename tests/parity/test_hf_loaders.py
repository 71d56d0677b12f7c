"""HF 4.57's own loaders read what `write_pretrained` writes, with no cross-framework flag:
`transformers.Electra*` our `pytorch_model.bin`, `TFElectra*` our `tf_model.h5`, `FlaxElectra*`
our `flax_model.msgpack` (each unsharded and sharded), loading every weight (no missing,
unexpected or mismatched key) and giving electra.pt's outputs to 1e-5.

HF's TF classes need tf-keras (`TF_USE_LEGACY_KERAS=1` before `transformers` is imported),
so the HF side runs as this file in a subprocess, as tests/hf_reference.py does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# (format, HF class prefix, architectures HF loads from our files)
CASES = (
    ("pytorch", "", ("ElectraModel", "ElectraForSequenceClassification")),
    ("tf", "TF", ("ElectraModel", "ElectraForPreTraining", "ElectraForMaskedLM")),
    ("flax", "Flax", ("ElectraModel", "ElectraForMaskedLM")),
)
SHARD = 20_000  # bytes: several shards for the tiny config


def test_hf_loaders_read_our_files(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.hf_reference import skip_without_frameworks

    skip_without_frameworks(("pt", "tf", "flax"))
    import electra.pt as ept
    from electra.common.weights.checkpoint import write_pretrained
    from electra.common.weights.random import random_state_dict
    from tests.conftest import tiny_config

    config = tiny_config()
    ids = np.array([[2, 7, 11, 5, 3, 9], [2, 4, 8, 3, 1, 0]], np.int64)
    inputs = {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64), "token_type_ids": np.zeros_like(ids)}
    jobs, expected = [], {}
    for fmt, prefix, architectures in CASES:
        for architecture in architectures:
            state = random_state_dict(config, architecture, seed=len(jobs))
            model = getattr(ept, architecture)(config).eval()
            model.load_canonical_state_dict(state)
            with torch.no_grad():
                out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
            expected[architecture, fmt] = (out.last_hidden_state if architecture == "ElectraModel" else out.logits).numpy()
            for shard in (None, SHARD):
                folder = tmp_path / f"{architecture}-{fmt}-{shard}"
                write_pretrained(folder, config, state, architecture, format=fmt, max_shard_size=shard)
                jobs.append({"folder": str(folder), "cls": prefix + architecture, "fmt": fmt, "architecture": architecture})
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-P", __file__, str(tmp_path / "inputs.npz"), json.dumps(jobs)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    for job in jobs:
        folder = Path(job["folder"])
        names = sorted(p.name for p in folder.iterdir())
        info = json.loads((folder / "info.json").read_text())
        assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}, (folder.name, info)
        got = np.load(folder / "output.npy")
        np.testing.assert_allclose(got, expected[job["architecture"], job["fmt"]], atol=1e-5, rtol=0, err_msg=folder.name)
        if folder.name.endswith("None"):
            assert len(names) == 4, names  # config.json, the weights, and the subprocess' info.json, output.npy
        else:
            assert sum(".index.json" in n for n in names) == 1 and len(names) > 5, names


# ----------------------------------------------------------------------------- subprocess side
def _load_and_run(inputs: dict[str, np.ndarray], job: dict) -> None:
    import transformers

    folder = Path(job["folder"])
    cls = getattr(transformers, job["cls"])
    if job["fmt"] == "flax":  # HF's Flax loader has no output_loading_info: compare the parameter paths
        from flax.serialization import msgpack_restore
        from flax.traverse_util import flatten_dict

        model = cls.from_pretrained(folder)
        index = folder / "flax_model.msgpack.index.json"
        stored = set(json.loads(index.read_text())["weight_map"]) if index.exists() else {
            "/".join(k) for k in flatten_dict(msgpack_restore((folder / "flax_model.msgpack").read_bytes()))}
        params = {"/".join(k) for k in flatten_dict(model.params)}
        info = {"missing_keys": params - stored, "unexpected_keys": stored - params}
    else:
        model, info = cls.from_pretrained(folder, output_loading_info=True)
    if job["fmt"] == "pytorch":
        import torch

        with torch.no_grad():
            out = model.eval()(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        value = out.last_hidden_state if job["architecture"] == "ElectraModel" else out.logits
        value = value.numpy()
    else:
        out = model(**inputs, **({"training": False} if job["fmt"] == "tf" else {"train": False}))
        value = np.asarray(out.last_hidden_state if job["architecture"] == "ElectraModel" else out.logits)
    info = {k: sorted(map(str, v)) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        info.setdefault(key, [])
    np.save(folder / "output.npy", value)
    (folder / "info.json").write_text(json.dumps(info))


if __name__ == "__main__":
    arrays = dict(np.load(sys.argv[1]))
    for one in json.loads(sys.argv[2]):
        _load_and_run(arrays, one)
