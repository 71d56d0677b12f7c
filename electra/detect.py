"""`electra detect`: the discriminator's per-token probability that a token was replaced.

The ELECTRA demo: on "the quick brown fox fake over the lazy dog" a trained discriminator
gives "fake" a high probability. Works with any backend; the model directory is what
`electra pretrain` writes (`discriminator/`, tokenizer files included) or any HF ELECTRA
discriminator directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def discriminator_logits(backend: str, model_dir: Path, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Replaced-token logits (B, L) of the discriminator in `model_dir`, run with `backend`."""
    if backend == "pt":
        import torch

        from electra.pt import ElectraForPreTraining

        model = ElectraForPreTraining.from_pretrained(model_dir).eval()
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
        return out.logits.float().numpy()
    if backend == "tf":
        from electra.tf import ElectraForPreTraining

        model = ElectraForPreTraining.from_pretrained(model_dir)
        return np.asarray(model(**batch, training=False).logits, dtype=np.float32)
    if backend == "flax":
        from electra.flax import ElectraForPreTraining

        model = ElectraForPreTraining.from_pretrained(model_dir)
        return np.asarray(model(**batch).logits, dtype=np.float32)
    raise ValueError(f"unknown backend {backend!r}; expected pt, tf or flax")


def replaced_probabilities(backend: str, model_dir: Path, tokenizer, texts: list[str]) -> list[list[tuple[str, float]]]:
    """For each text, (token, probability replaced) for every token but [CLS] and [SEP]."""
    enc = tokenizer(texts, padding=True, return_tensors="np")
    batch = {k: np.asarray(enc[k], dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    probs = 1.0 / (1.0 + np.exp(-discriminator_logits(backend, model_dir, batch)))
    special = set(tokenizer.all_special_ids)
    results = []
    for ids, mask, row in zip(batch["input_ids"], batch["attention_mask"], probs):
        tokens = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
        results.append([(t, float(p)) for t, i, m, p in zip(tokens, ids, mask, row) if m and int(i) not in special])
    return results


def run_detect(args: argparse.Namespace) -> None:
    from electra.common.tokenizer_fast import ElectraTokenizerFast

    model_dir = Path(args.model)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"--model {model_dir} is not a directory")
    tokenizer = ElectraTokenizerFast.from_pretrained(args.tokenizer or model_dir)
    for text, scored in zip(args.text, replaced_probabilities(args.backend, model_dir, tokenizer, list(args.text))):
        print(text)
        for token, p in scored:
            bar = "#" * int(round(p * 20))
            print(f"  {token:<16} {p:6.3f}  {bar}")
