"""Does a discriminator learn context within the default run's budget? A diagnostic for issue 17.

`electra.pt.ElectraForPreTraining` of the tiny preset alone (no generator), trained on the
Rotten Tomatoes training sentences (the split of benchmarks/rtd_vs_mlm.py, packed into
sequences of --seq-len) with 15% of the tokens replaced by draws from either

- `unigram`: the training text's token frequencies: what an untrained generator samples. A
  replaced token is then as frequent as an original one, so only its context can give it
  away; or
- `uniform`: every vocabulary id alike: replaced tokens are mostly rare ones, so a network
  that learns which ids are usually replaced detects them without any context.

AdamW (weight decay 0.01), linear warmup over 10% of the steps then linear decay, global-norm
clip 1.0, the discriminator's output bias at the prior (as `electra pretrain`), [CLS]/[SEP]
never replaced and not scored. Prints the held-out AUC (64 sequences) every --every steps: an
AUC near 0.5 with unigram replacements says the network has learned nothing of context yet.

    python benchmarks/discriminator_plateau.py --work runs/rtd-vs-mlm --replacements unigram
    python benchmarks/discriminator_plateau.py --work runs/rtd-vs-mlm --replacements uniform --steps 200
"""

from __future__ import annotations

import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import csv  # noqa: E402
import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("runs/rtd-vs-mlm"), help="benchmarks/rtd_vs_mlm.py's work folder (its split)")
    p.add_argument("--tokenizer", type=Path, help="tokenizer folder (default: WORK/rtd/tokenizer)")
    p.add_argument("--replacements", choices=("unigram", "uniform"), default="unigram")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--every", type=int, default=200, help="evaluate every N steps")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import torch

    from electra.common.config import ElectraConfig
    from electra.common.pretraining.masking import DEFAULT_MASK_PROB
    from electra.common.pretraining.metrics import roc_auc
    from electra.common.pretraining.recipe import prior_logit
    from electra.common.pretraining.schedule import LinearSchedule, decays
    from electra.common.tokenizers.fast import ElectraTokenizerFast
    from electra.pt import ElectraForPreTraining

    spec = importlib.util.spec_from_file_location("rtd_vs_mlm", Path(__file__).with_name("rtd_vs_mlm.py"))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    split = benchmark.write_split(args.work.resolve())
    tokenizer = ElectraTokenizerFast.from_pretrained(args.tokenizer or args.work / "rtd" / "tokenizer")
    with split["train"].open(encoding="utf-8", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    ids = np.concatenate([np.asarray(tokenizer(t, add_special_tokens=False)["input_ids"], np.int64) for t in texts])
    body = args.seq_len - 2
    sequences = np.stack([np.concatenate([[tokenizer.cls_token_id], ids[i * body:(i + 1) * body], [tokenizer.sep_token_id]])
                          for i in range(len(ids) // body)])
    heldout, train = sequences[:64], sequences[64:]
    frequencies = np.bincount(ids, minlength=tokenizer.vocab_size) / len(ids)

    def corrupt(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        chosen = rng.random(x.shape) < DEFAULT_MASK_PROB
        chosen[:, 0] = chosen[:, -1] = False
        if args.replacements == "unigram":
            draws = rng.choice(len(frequencies), size=x.shape, p=frequencies)
        else:
            draws = rng.integers(0, tokenizer.vocab_size, size=x.shape)
        replaced = np.where(chosen, draws, x)
        return replaced, (replaced != x).astype(np.float32)

    torch.manual_seed(args.seed)
    config = ElectraConfig.preset("tiny").replace(vocab_size=tokenizer.vocab_size, hidden_dropout_prob=args.dropout,
                                                  attention_probs_dropout_prob=args.dropout)
    model = ElectraForPreTraining(config)
    with torch.no_grad():
        model.discriminator_predictions.dense_prediction.bias.fill_(prior_logit(DEFAULT_MASK_PROB))
    decay = [p for n, p in model.named_parameters() if decays(n)]  # not LayerNorm or biases
    rest = [p for n, p in model.named_parameters() if not decays(n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=args.lr)
    schedule = LinearSchedule(args.lr, max(1, args.steps // 10), args.steps)
    rng = np.random.default_rng(args.seed)
    held_x, held_y = corrupt(heldout, np.random.default_rng(args.seed + 1))
    print(f"{args.replacements} replacements, lr {args.lr}, dropout {args.dropout}, {args.steps} steps of "
          f"{args.batch_size} x {args.seq_len}; {len(train):,} training sequences", flush=True)
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        x, y = corrupt(train[rng.integers(0, len(train), args.batch_size)], rng)
        logits = model(torch.from_numpy(x)).logits[:, 1:-1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y[:, 1:-1]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            model.eval()
            with torch.no_grad():
                scores = model(torch.from_numpy(held_x)).logits[:, 1:-1].flatten().numpy()
            model.train()
            print(f"step {step + 1}: loss {loss.item():.4f}, held-out AUC {roc_auc(scores, held_y[:, 1:-1].flatten()):.3f}", flush=True)


if __name__ == "__main__":
    main()
