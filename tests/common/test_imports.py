"""`import electra`, `electra.common`, the tokenizers and the config load no deep-learning framework."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

FRAMEWORKS = ("torch", "tensorflow", "jax", "flax", "keras")


def modules_after(code: str) -> list[str]:
    """The framework modules in sys.modules after running `code` in a fresh interpreter."""
    script = code + f"\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r})))"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_package_and_common_load_no_framework():
    assert modules_after("import electra, electra.common\nfrom electra import ElectraConfig, PRESETS") == []


def test_tokenizers_and_config_load_no_framework(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    code = f"""
import electra
for cls in (electra.ElectraTokenizer, electra.ElectraTokenizerFast):
    tok = cls(vocab_file={str(vocab)!r})
    enc = tok(["hello world", "hello"], padding=True, return_tensors="np", return_offsets_mapping=True)
    assert enc["input_ids"].tolist() == [[2, 5, 6, 3], [2, 5, 3, 0]], enc
    tok.save_pretrained({str(tmp_path / 'tok')!r})
    assert tok.decode(cls.from_pretrained({str(tmp_path / 'tok')!r}).encode("hello")) == "[CLS] hello [SEP]"
config = electra.ElectraConfig.preset("tiny")
config.save_pretrained({str(tmp_path / 'model')!r})
assert electra.ElectraConfig.from_pretrained({str(tmp_path / 'model')!r}) == config
"""
    assert modules_after(code) == []


def test_the_check_sees_a_framework():
    import importlib.util

    import pytest

    installed = [(m, b) for m, b in (("torch", "pt"), ("jax", "flax"), ("tensorflow", "tf")) if importlib.util.find_spec(m)]
    if not installed:
        pytest.skip("no framework installed: nothing for the check to see")
    framework, backend = installed[0]
    assert framework in modules_after(f"import electra.{backend}")
