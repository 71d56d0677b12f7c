"""Fixtures of the framework-free tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def corpus_dir(tmp_path):
    """40 documents in two files, of 5-60 words in sentences of 1-12 words."""
    rng = np.random.default_rng(0)
    for name, documents in [("a.txt", range(0, 25)), ("b/c.txt", range(25, 40))]:
        blocks = []
        for d in documents:
            words = [f"d{d}w{w}" for w in range(int(rng.integers(5, 61)))]
            cuts = np.cumsum(rng.integers(1, 13, size=len(words)))
            sentences = [" ".join(words[a:b]) for a, b in zip(np.r_[0, cuts], cuts) if a < len(words)]
            blocks.append("\n".join(s.capitalize() + "." for s in sentences))
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("\n\n".join(blocks) + "\n")
    return tmp_path
