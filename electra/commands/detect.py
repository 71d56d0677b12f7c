"""`electra detect`: the discriminator's per-token probability that a token was replaced.

The ELECTRA demo: take a sentence, replace one word by another (by hand, or with
`--replace`, which draws the word and its replacement), and a trained discriminator gives
the replaced word a high probability. Works with any backend; the model directory is the
`discriminator/` folder `electra pretrain` writes (tokenizer files included) or any HF
ELECTRA discriminator directory. A directory without the discriminator's head (a
generator, a bare `ElectraModel`) is refused: its scores would be those of a random head.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import numpy as np

THRESHOLD = 0.5  # a token whose probability of being replaced crosses this is flagged
HEAD_KEY = "discriminator_predictions.dense_prediction.weight"


def discriminator_logits(backend: str, model_dir: Path, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Replaced-token logits (B, L) of the discriminator in `model_dir`, run with `backend`
    (its eager model, as `electra.<backend>.export` loads and runs it)."""
    runner = importlib.import_module(f"electra.{backend}.export")
    return runner.run_eager(runner.load_model(model_dir, "ElectraForPreTraining"), batch)["logits"]


def check_discriminator_dir(model_dir: Path) -> None:
    """Refuse a directory that is not a model, or a model without the discriminator head."""
    from electra.common.weights.checkpoint import read_state_dict

    if not model_dir.is_dir():
        raise ValueError(f"--model {model_dir} is not a directory; pass the discriminator/ folder of a run")
    if not (model_dir / "config.json").is_file():
        hint = (f"; did you mean --model {model_dir / 'discriminator'}?" if (model_dir / "discriminator" / "config.json").is_file()
                else "; pass the discriminator/ folder of a run (electra pretrain --out DIR writes DIR/discriminator)")
        raise ValueError(f"--model {model_dir} is not a model directory (no config.json){hint}")
    keys = read_state_dict(model_dir)
    if not any(key.endswith(HEAD_KEY) for key in keys):
        hint = (f"; the discriminator of this run is {model_dir.parent / 'discriminator'}"
                if (model_dir.parent / "discriminator" / "config.json").is_file() and model_dir.name != "discriminator" else "")
        raise ValueError(f"--model {model_dir} holds no discriminator (no replaced-token detection head "
                         f"'{HEAD_KEY}' in its weights): detect needs an ElectraForPreTraining model{hint}")


def replace_one_word(text: str, tokenizer, rng: np.random.Generator) -> tuple[str, str, str]:
    """`text` with one of its words (letters only) replaced by a different whole word of the
    vocabulary; returns (new text, the old word, the new word)."""
    words = [m for m in re.finditer(r"[A-Za-z]+", text)]
    if not words:
        raise ValueError(f"--replace: no word made of letters in {text!r}")
    candidates = sorted(token for token in tokenizer.get_vocab() if token.isalpha() and len(token) > 2)
    word = words[int(rng.integers(len(words)))]
    choices = [token for token in candidates if token != word.group().lower()]
    if not choices:
        raise ValueError("--replace: the vocabulary holds no other whole word to replace with")
    new = choices[int(rng.integers(len(choices)))]
    return text[: word.start()] + new + text[word.end():], word.group(), new


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


def format_scores(text: str, scored: list[tuple[str, float]]) -> str:
    """The table `electra detect` prints for one text: a header, a row per token (flagged
    rows marked), then the flagged tokens in one line."""
    lines = [text, f"  {'token':<16} {'p(replaced)':>11}"]
    for token, p in scored:
        bar = "#" * int(round(p * 20))
        mark = "  <- replaced?" if p > THRESHOLD else ""
        lines.append(f"  {token:<16} {p:11.3f}  {bar:<20}{mark}".rstrip())
    flagged = [token for token, p in scored if p > THRESHOLD]
    lines.append(f"  flagged (p > {THRESHOLD}): {', '.join(flagged) if flagged else 'none'}")
    return "\n".join(lines)


def run_detect(args: argparse.Namespace) -> None:
    from electra.common.tokenizers.fast import ElectraTokenizerFast

    model_dir = Path(args.model)
    check_discriminator_dir(model_dir)
    tokenizer = ElectraTokenizerFast.from_pretrained(args.tokenizer or model_dir)
    texts = list(args.text)
    if args.replace:
        rng = np.random.default_rng(args.seed)
        for i, text in enumerate(texts):
            texts[i], old, new = replace_one_word(text, tokenizer, rng)
            print(f"replaced {old!r} by {new!r}")
    for text, scored in zip(texts, replaced_probabilities(args.backend, model_dir, tokenizer, texts)):
        print(format_scores(text, scored))
