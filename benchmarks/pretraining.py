"""ELECTRA pretraining step (replaced token detection) in electra.pt, electra.tf and electra.flax
against a reference step built from HF `transformers` 4.57 PyTorch models, in one process, on CPU.

Step benchmark (always): the `small` preset discriminator with its 0.25 generator, B=8, L=128,
each backend's `PretrainingTrainer.train_step(batch, step)` built as `electra pretrain` builds
it (`electra.commands.pretrain.make_trainer`), against a reference step: HF `ElectraForMaskedLM`
(generator) and `ElectraForPreTraining` (discriminator) sharing one embeddings module, the
generator head re-tied to the shared word embeddings; the generator runs on the masked input
and returns full (B, L, V) logits with HF's MLM loss (`labels=`); Gumbel-max sampling in
float32 under no_grad at the masked positions; discriminator labels = sampled != original
with HF's loss (`labels=`); loss = 1 x MLM + 50 x RTD, backward, global-norm clip 1.0,
`torch.optim.AdamW`. Steps run alternately (one of each implementation per round) on the same
masked batches, so they share the machine's noise; figures are medians after warm-up
(XLA-compiled steps compile during warm-up).

FLOPs per step: 3 x the forward matmul FLOPs (forward + backward; 2 FLOPs per multiply-add,
i.e. 6 x multiply-adds) of both encoders, the discriminator head and the generator head at
the masked positions only (as the original ELECTRA code gathers them). The same count for
every implementation: the reference's full-vocabulary generator logits are extra work it
does, not useful FLOPs. Achieved FLOP/s is shown over the measured float32 matmul rate
(torch, 2048^3).

`--auc`: also runs the real command (`python -m electra pretrain`) for each backend on the
Austen corpus with the same settings and a fixed step budget, and reports the final held-out
discriminator AUC and generator accuracy (last line of metrics.jsonl) and the wall time.

    python benchmarks/pretraining.py --repeats 5 --markdown table.md
    python benchmarks/pretraining.py --repeats 5 --auc --auc-steps 150 --markdown table.md
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/pretraining.py` puts benchmarks/ first on sys.path, where
# benchmarks/tokenizers.py would shadow the `tokenizers` library that transformers imports.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # electra.tf runs Keras 3 on TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from electra.common.config import ElectraConfig, generator_config  # noqa: E402
from electra.common.pretraining import recipe  # noqa: E402
from electra.common.pretraining.flops import rtd_step_flops  # noqa: E402
from electra.common.pretraining.masking import IGNORE_INDEX, default_max_predictions, mask_batch  # noqa: E402
from electra.common.pretraining.schedule import LinearSchedule  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
B, L = 8, 128
CLS, SEP, MASK = 101, 102, 103  # bert-base-uncased ids ([PAD] is 0)
BATCHES = 4  # distinct masked batches, cycled through the steps
AUSTEN = Path("/work/shared/data/austen")
VOCAB = Path("/work/shared/data/vocab/bert-base-uncased-vocab.txt")


def _load_pt_models():
    """benchmarks/pt_models.py by path (benchmarks/ on sys.path would shadow `tokenizers`)."""
    spec = importlib.util.spec_from_file_location("pt_models", Path(__file__).resolve().parent / "pt_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pt_models = _load_pt_models()  # forward_flops, matmul_rate, cpu_name: the same as the model benchmark


def masked_batches(config: ElectraConfig, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """`n` batches like `electra pretrain` feeds: [CLS] A [SEP] B [SEP], ~15% masked (85% [MASK])."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n):
        ids = rng.integers(1000, config.vocab_size, (B, L), dtype=np.int64)  # (B, L) ordinary wordpieces
        middle = rng.integers(L // 4, 3 * L // 4, B)  # (B,) end of segment A
        ids[:, 0] = CLS
        ids[np.arange(B), middle] = SEP
        ids[:, -1] = SEP
        token_type_ids = (np.arange(L)[None, :] > middle[:, None]).astype(np.int64)  # (B, L)
        attention_mask = np.ones((B, L), np.int64)
        masked_ids, mlm_labels, _ = mask_batch(ids, attention_mask, rng, special_ids=(CLS, SEP, 0), mask_id=MASK)
        batches.append({
            "input_ids": ids, "masked_ids": masked_ids, "mlm_labels": mlm_labels,
            "attention_mask": attention_mask, "token_type_ids": token_type_ids,
        })
    return batches


def step_flops(disc: ElectraConfig, gen: ElectraConfig, masked: float) -> float:
    """Training matmul FLOPs of one pretraining step with `masked` generator predictions."""
    return rtd_step_flops(disc, gen, B, L, masked)


# ---------------------------------------------------------------------------- reference


def reference_step(disc: ElectraConfig, gen: ElectraConfig):
    """A pretraining step from HF 4.57 PyTorch ELECTRA models (see the module docstring)."""
    import torch
    import transformers

    def hf(config: ElectraConfig, architecture: str):
        model = getattr(transformers, architecture)(transformers.ElectraConfig.from_dict(config.to_dict()))
        state = {k: torch.from_numpy(v) for k, v in random_state_dict(config, architecture, scale=0.02).items()}
        model.load_state_dict(state, strict=False)
        return model.train()

    discriminator = hf(disc, "ElectraForPreTraining")
    generator = hf(gen, "ElectraForMaskedLM")
    generator.electra.embeddings = discriminator.electra.embeddings  # word, position, token type, LayerNorm
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    unique = {id(p): p for p in [*discriminator.parameters(), *generator.parameters()]}
    parameters = list(unique.values())
    optimizer = torch.optim.AdamW(parameters, lr=1e-4, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
    noise = torch.Generator().manual_seed(0)

    def step(batch: dict[str, np.ndarray], _step: int) -> None:
        t = {k: torch.from_numpy(v) for k, v in batch.items()}
        chosen = t["mlm_labels"] != IGNORE_INDEX  # (B, L)
        gen_out = generator(input_ids=t["masked_ids"], attention_mask=t["attention_mask"],
                            token_type_ids=t["token_type_ids"], labels=t["mlm_labels"])  # logits (B, L, V)
        with torch.no_grad():
            logits = gen_out.logits[chosen].float()  # (M, V)
            u = torch.rand(logits.shape, generator=noise)
            gumbel = -torch.log(-torch.log(u + recipe.GUMBEL_EPS) + recipe.GUMBEL_EPS)
            sampled = (logits + gumbel).argmax(-1)  # (M,)
            disc_ids = t["input_ids"].clone()
            disc_ids[chosen] = sampled
            replaced = (disc_ids != t["input_ids"]).long()  # (B, L)
        disc_out = discriminator(input_ids=disc_ids, attention_mask=t["attention_mask"],
                                 token_type_ids=t["token_type_ids"], labels=replaced)
        loss = 1.0 * gen_out.loss + 50.0 * disc_out.loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()

    return step


def electra_step(backend: str, disc: ElectraConfig, gen: ElectraConfig, **trainer_args):
    """`PretrainingTrainer.train_step` of `electra.<backend>.pretraining`, as `make_trainer` builds it."""
    module = importlib.import_module(f"electra.{backend}.trainer")
    schedule = LinearSchedule(5e-4, 10_000, 1_000_000)
    pretrainer = module.ElectraPretrainer(disc, gen, loss_weights=recipe.LossWeights(), seed=0)
    trainer_args.setdefault("max_predictions", default_max_predictions(0.15, L))  # as make_trainer (masked_batches' default cap)
    train_step = module.PretrainingTrainer(pretrainer, schedule, seed=0, **trainer_args).train_step
    # dict() reads the step's metrics from the device: the timed step includes all of its work.
    return lambda batch, step: dict(train_step(batch, step))


def bench_alternating(steps: dict, batches: list, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per step of each implementation, one step of each per round."""
    for name, step in steps.items():
        started = time.perf_counter()
        for i in range(warmup):
            step(batches[i % len(batches)], i)
        print(f"  warm-up {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    times = {name: [] for name in steps}
    for r in range(repeats):
        batch = batches[r % len(batches)]
        for name, step in steps.items():
            started = time.perf_counter()
            step(batch, warmup + r)
            times[name].append(time.perf_counter() - started)
        print(f"  round {r + 1}/{repeats}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), file=sys.stderr, flush=True)
    return times


def step_table(args, rate: float) -> list[str]:
    disc = ElectraConfig.preset("small")
    gen = generator_config(disc, 0.25)
    batches = masked_batches(disc, BATCHES)
    masked = statistics.mean(float((b["mlm_labels"] != IGNORE_INDEX).sum()) for b in batches)
    steps = {"hf reference (torch eager)": reference_step(disc, gen)}
    for backend in args.backends:
        steps[f"electra.{backend}"] = electra_step(backend, disc, gen)
        if backend == "tf" and args.tf_xla:
            steps["electra.tf (jit_compile=True)"] = electra_step("tf", disc, gen, jit_compile=True)
    times = bench_alternating(steps, batches, args.repeats, args.warmup)
    flops = step_flops(disc, gen, masked)
    reference = statistics.median(times["hf reference (torch eager)"])
    lines = [
        f"Small preset (discriminator H={disc.hidden_size}, {disc.num_hidden_layers} layers; generator H={gen.hidden_size}), "
        f"B={B}, L={L}, {masked:.0f} masked positions per batch, dropout {disc.hidden_dropout_prob}. "
        f"Median of {args.repeats} alternating steps after {args.warmup} warm-up steps each; "
        f"{flops / 1e9:.1f} GFLOP per step.",
        "",
        "| implementation | median s/step | min-max s | steps/s | tokens/s | GFLOP/s | of matmul rate | speed-up vs reference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, ts in times.items():
        seconds = statistics.median(ts)
        lines.append(
            f"| {name} | {seconds:.3f} | {min(ts):.2f}-{max(ts):.2f} | {1 / seconds:.2f} | {B * L / seconds:,.0f} | "
            f"{flops / seconds / 1e9:.1f} | {flops / seconds / rate:.0%} | {reference / seconds:.2f}x |"
        )
    return lines


# ---------------------------------------------------------------------------- held-out AUC


def auc_table(args) -> list[str]:
    """`python -m electra pretrain` once per backend on Austen; the final held-out evaluation."""
    rows = []
    common = ["--corpus", str(args.corpus), "--vocab", str(args.vocab), "--preset", "tiny", "--steps", str(args.auc_steps),
              "--batch-size", "16", "--seq-len", "128", "--seed", "0", "--no-progress"]
    env = dict(os.environ)  # XLA_FLAGS of --threads included
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), TF_NUM_INTRAOP_THREADS=str(args.threads), TF_NUM_INTEROP_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory(prefix="electra-auc-") as tmp:
        for backend in args.backends:
            out = Path(tmp) / backend
            command = [sys.executable, "-m", "electra", "pretrain", "--backend", backend, *common, "--out", str(out)]
            started = time.perf_counter()
            subprocess.run(command, cwd=REPO, env=env, check=True, stdout=sys.stderr)
            wall = time.perf_counter() - started
            records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
            final = records[-1]
            train = [r for r in records if "tokens_per_s" in r][-1]
            rows.append((backend, final, train, wall))
            print(f"  {backend}: AUC {final['heldout_discriminator_auc']:.4f} in {wall:.0f} s", file=sys.stderr, flush=True)
    lines = [
        f"`python -m electra pretrain --backend X {' '.join(common)} --out DIR`; "
        "final held-out evaluation (8 batches of 16) from the last line of DIR/metrics.jsonl"
        + (f"; threads limited to {args.threads} per framework (OMP_NUM_THREADS, TF_NUM_*_THREADS, XLA_FLAGS)." if args.threads else "."),
        "",
        "| backend | held-out disc. AUC | held-out gen. accuracy | held-out disc. loss | final train loss | train tokens/s | wall s (whole command) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, final, train, wall in rows:
        lines.append(
            f"| electra.{backend} | {final['heldout_discriminator_auc']:.4f} | {final['heldout_generator_accuracy']:.4f} | "
            f"{final['heldout_discriminator_loss']:.4f} | {train['loss']:.3f} | {train['tokens_per_s']:,.0f} | {wall:.0f} |"
        )
    return lines


# ---------------------------------------------------------------------------- main


def versions() -> str:
    found = []
    for name in ("torch", "tensorflow", "keras", "jax", "flax", "transformers"):
        try:
            found.append(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            found.append(f"{name} missing")
    return ", ".join(found) + f", Python {platform.python_version()}"


def limit_threads(n: int) -> None:
    """Give torch, TensorFlow and XLA (JAX) `n` threads each, before any of them runs an op."""
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} intra_op_parallelism_threads={n}".strip()
    import tensorflow as tf
    import torch

    torch.set_num_threads(n)
    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=("pt", "tf", "flax"), default=["pt", "tf", "flax"])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per implementation (default: 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per implementation first (default: 2)")
    parser.add_argument("--threads", type=int, help="threads of each framework (torch, TF intra/inter-op, XLA CPU); default: their own choice")
    parser.add_argument("--tf-xla", action="store_true", help="also time electra.tf with jit_compile=True")
    parser.add_argument("--no-steps", action="store_true", help="skip the step benchmark (with --auc)")
    parser.add_argument("--auc", action="store_true", help="also pretrain each backend on Austen and report held-out AUC")
    parser.add_argument("--auc-steps", type=int, default=150, help="steps of each --auc run (default: 150)")
    parser.add_argument("--corpus", type=Path, default=AUSTEN)
    parser.add_argument("--vocab", type=Path, default=VOCAB)
    parser.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args()
    if args.threads:
        limit_threads(args.threads)

    import torch

    torch.manual_seed(0)
    rate = pt_models.matmul_rate()
    lines = [
        f"Date: {datetime.date.today()}; CPU: {pt_models.cpu_name()}, {len(os.sched_getaffinity(0))} cores available, "
        f"threads per framework: {args.threads or 'default'} (torch {torch.get_num_threads()}); float32; {versions()}.",
        f"Measured float32 matmul rate (torch, 2048^3): {rate / 1e9:.1f} GFLOP/s.",
    ]
    if not args.no_steps:
        lines += ["", "### Pretraining step", "", *step_table(args, rate)]
    if args.auc:
        lines += ["", f"### Held-out discriminator AUC after {args.auc_steps} steps (Austen)", "", *auc_table(args)]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
