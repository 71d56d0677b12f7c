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


def _common_import_graph() -> dict[str, set[str]]:
    """Module -> the `electra.common` modules it imports (anywhere in its body), read with `ast`."""
    import ast

    root = REPO_ROOT / "electra" / "common"
    graph: dict[str, set[str]] = {}
    for file in root.rglob("*.py"):
        parts = file.relative_to(REPO_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        targets = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("electra.common"):
                targets.add(node.module)
                targets.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("electra.common"))
        graph[name] = targets
    return {name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()}


def test_common_is_three_parts_around_the_contract_without_cycles():
    graph = _common_import_graph()
    parts = ("tokenizers", "weights", "pretraining", "finetuning")
    assert {n.split(".")[2] for n in graph if n.count(".") >= 3} == set(parts)

    def part(name: str) -> str | None:
        pieces = name.split(".")
        return pieces[2] if len(pieces) > 2 and pieces[2] in parts else None

    for name, targets in graph.items():
        if name == "electra.common":
            continue
        for target in targets:
            # A part reads the contract and itself; the contract reads no part.
            assert part(target) in (None, part(name)), f"{name} imports {target}"
    # No cycle: a depth-first walk never meets a module on its own path.
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert state.get(name) != 1, f"import cycle: {' -> '.join(path + (name,))}"
        if state.get(name) == 2:
            return
        state[name] = 1
        for target in graph[name]:
            visit(target, path + (name,))
        state[name] = 2

    for name in graph:
        visit(name, ())
