"""Reference files from HF `transformers` 4.57, built in a subprocess.

HF's TF classes need tf-keras (`TF_USE_LEGACY_KERAS=1`, set before `transformers` is
imported), which cannot share a process with `electra.tf`'s Keras 3. So the reference
models are built and saved by running this file as a script, and tests read the files.

    from tests.hf_reference import save_hf_references

    paths = save_hf_references(tmp_path, ["ElectraForMaskedLM"], config.to_dict(), seed=0,
                               formats=("pt", "pt_bin", "tf", "flax"),
                               states={"ElectraForMaskedLM": canonical_state},   # optional
                               inputs={"input_ids": ids, "attention_mask": mask})  # optional
    paths["ElectraForMaskedLM"]["tf"]            # directory with config.json + tf_model.h5

For each architecture `A` (a name from `electra.common.weights.names.ARCHITECTURES`), files go to
`directory/A/`:

- `pt/`: `transformers.A(config)` after `torch.manual_seed(seed)` (or loaded with
  `states[A]`, canonical keys, strictly: the tied LM-head weight may be absent), saved
  with `save_pretrained` (`model.safetensors`). Always written; the others derive from it.
- `pt_bin/`: `save_pretrained(safe_serialization=False)` (`pytorch_model.bin`).
- `pt_sharded/`, `pt_bin_sharded/`: the same, sharded (`max_shard_size="20KB"`).
- `tf/`: `TFA.from_pretrained(pt, from_pt=True).save_pretrained` (`tf_model.h5`).
- `flax/`: `FlaxA.from_pretrained(pt, from_pt=True).save_pretrained` (`flax_model.msgpack`).
- `state.npz`: the PyTorch model's `state_dict()` (buffers included), canonical keys.
- with `inputs`: `outputs_{pt,tf,flax}.npz` for each framework in `formats`: the eval-mode
  (no dropout) model called with `inputs` (+ `output_hidden_states` and
  `output_attentions`); fields `logits`, `loss`, `last_hidden_state`, ..., tuples as
  `hidden_states_0`, `hidden_states_1`, ... HF Flax defaults `token_type_ids` to ones and
  HF TF has no `ElectraForCausalLM`: pass `token_type_ids` explicitly and leave `tf` out
  for that class. `inputs` are NumPy arrays named as the models' keyword arguments.

Runtime: one subprocess per call (about 15-30 s on 2 CPU cores, mostly imports), so
batch every architecture a test module needs into one call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

FORMATS = ("pt", "pt_bin", "pt_sharded", "pt_bin_sharded", "tf", "flax")
SHARD_SIZE = "20KB"  # small enough that a tiny config gives several shards


# The modules each format's HF reference is built with ("pt" is always built).
FRAMEWORKS = {"pt": ("torch",), "tf": ("torch", "tensorflow", "tf_keras"), "flax": ("torch", "jax", "flax")}


def skip_without_frameworks(formats) -> None:
    """Skip the calling test where a framework the references need is not installed (as in
    the framework-free `tox -e common` environment); a full install never skips."""
    import importlib.util

    import pytest

    needed = {m for f in ("pt", *formats) for m in FRAMEWORKS.get(f, FRAMEWORKS["pt"])}
    missing = sorted(m for m in needed if importlib.util.find_spec(m) is None)
    if missing:
        pytest.skip(f"the HF reference files need {', '.join(missing)}, not installed here")


def save_hf_references(
    directory: str | os.PathLike,
    architectures: list[str] | tuple[str, ...],
    config_dict: dict,
    seed: int = 0,
    formats: tuple[str, ...] = ("pt", "tf", "flax"),
    *,
    states: dict[str, dict[str, np.ndarray]] | None = None,
    inputs: dict[str, np.ndarray] | None = None,
    timeout: float = 600,
) -> dict[str, dict[str, Path]]:
    """Build and save HF reference models in a subprocess (see the module docstring).

    Args:
        directory: output root; each architecture gets `directory/<architecture>/`.
        architectures: names such as "ElectraForMaskedLM".
        config_dict: `transformers.ElectraConfig.from_dict` input (`ElectraConfig.to_dict()`).
        seed: `torch.manual_seed` before each model is built.
        formats: a subset of `FORMATS`; "pt" is always written.
        states: optional canonical weights per architecture, loaded instead of the seeded init.
        inputs: optional model inputs; outputs are then saved per framework.
        timeout: seconds before the subprocess is killed.
    Returns:
        {architecture: {format or "state" or "outputs_<fw>": path}}.
    Raises:
        RuntimeError: the subprocess failed (its stderr tail is in the message).
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown formats {sorted(unknown)}; expected a subset of {FORMATS}")
    skip_without_frameworks(formats)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    job = {"directory": str(directory), "architectures": list(architectures), "config": config_dict,
           "seed": seed, "formats": sorted(set(formats) | {"pt"}, key=FORMATS.index)}
    for architecture, state in (states or {}).items():
        np.savez(directory / f"{architecture}.input_state.npz", **state)
    if inputs is not None:
        np.savez(directory / "inputs.npz", **inputs)
        job["inputs"] = str(directory / "inputs.npz")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    # -P: keep tests/ off sys.path, where tests/flax and tests/tf would shadow the frameworks.
    command = [sys.executable, "-P", __file__, json.dumps(job)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"HF reference subprocess failed ({result.returncode}):\n{result.stderr[-4000:]}")
    paths: dict[str, dict[str, Path]] = {}
    for architecture in architectures:
        root = directory / architecture
        paths[architecture] = {name: root / name for name in job["formats"]}
        paths[architecture]["state"] = root / "state.npz"
        for output in root.glob("outputs_*.npz"):
            paths[architecture][output.stem] = output
    return paths


def save_hf_reference(directory, architecture: str, config_dict: dict, seed: int = 0, formats=("pt", "tf", "flax"), **kwargs) -> dict[str, Path]:
    """`save_hf_references` for one architecture: its {format: path} dict."""
    return save_hf_references(directory, [architecture], config_dict, seed, formats, **kwargs)[architecture]


# ----------------------------------------------------------------------------- subprocess side
def _flatten_outputs(output) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in output.items():
        if value is None:
            continue
        if isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                if not isinstance(item, (tuple, list)):  # skip nested caches
                    arrays[f"{name}_{i}"] = np.asarray(item.detach() if hasattr(item, "detach") else item)
        else:
            arrays[name] = np.asarray(value.detach() if hasattr(value, "detach") else value)
    return arrays


def _run(job: dict) -> None:
    import torch
    import transformers

    config = transformers.ElectraConfig.from_dict(job["config"])
    inputs = dict(np.load(job["inputs"])) if "inputs" in job else None
    for architecture in job["architectures"]:
        root = Path(job["directory"]) / architecture
        torch.manual_seed(job["seed"])
        model = getattr(transformers, architecture)(config).eval()
        state_file = Path(job["directory"]) / f"{architecture}.input_state.npz"
        if state_file.exists():
            state = {k: torch.from_numpy(v) for k, v in np.load(state_file).items()}
            missing, unexpected = model.load_state_dict(state, strict=False)
            allowed = {"generator_lm_head.weight", "electra.embeddings.position_ids", "embeddings.position_ids"}
            if unexpected or set(missing) - allowed:
                raise SystemExit(f"{architecture}: state does not fit: missing {missing}, unexpected {unexpected}")
            model.tie_weights()
        model.save_pretrained(root / "pt")
        np.savez(root / "state.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
        for name, kwargs in (("pt_bin", {"safe_serialization": False}), ("pt_sharded", {"max_shard_size": SHARD_SIZE}),
                             ("pt_bin_sharded", {"safe_serialization": False, "max_shard_size": SHARD_SIZE})):
            if name in job["formats"]:
                model.save_pretrained(root / name, **kwargs)
        if inputs is not None:
            with torch.no_grad():
                out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, output_hidden_states=True, output_attentions=True)
            np.savez(root / "outputs_pt.npz", **_flatten_outputs(out))
        for fw, prefix in (("tf", "TF"), ("flax", "Flax")):
            if fw in job["formats"]:
                other = getattr(transformers, prefix + architecture).from_pretrained(root / "pt", from_pt=True)
                other.save_pretrained(root / fw)
                if inputs is not None:
                    kwargs = {"training": False} if fw == "tf" else {"train": False}
                    out = other(**inputs, output_hidden_states=True, output_attentions=True, **kwargs)
                    np.savez(root / f"outputs_{fw}.npz", **_flatten_outputs(out))


if __name__ == "__main__":
    _run(json.loads(sys.argv[1]))
