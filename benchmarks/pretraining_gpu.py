"""ELECTRA pretraining throughput on a GPU: electra.pt (eager and `torch.compile`), electra.flax
and electra.tf (where TensorFlow is installed) against an HF-composed reference step, in one run.

The reference is what a user would write with HF `transformers`: `ElectraForMaskedLM`
(generator) and `ElectraForPreTraining` (discriminator) sharing one embeddings module, SDPA
attention (eager where the installed version has none for ELECTRA; the table says which),
full (B, L, V) generator logits with HF's MLM loss, Gumbel-max sampling in float32 at the
masked positions under no_grad, loss = 1 x MLM + 50 x RTD, global-norm clip 1.0 and a fused
`torch.optim.AdamW` (foreach off the GPU), under bf16 autocast. Ours are each backend's
`PretrainingTrainer.train_step` as `electra pretrain` builds it (K prediction slots,
counter-based noise, `--precision`), fed the same host (NumPy) masked batches; every
implementation copies its batch to the device inside the step.

Each implementation runs `--warmup` steps (compilation included), then `--rounds` rounds of
`--steps` consecutive steps, synchronising only at the end of a round (ours read the last
step's metrics, the reference synchronises the device): sequences/s is the median round's.
Also: achieved FLOP/s (3 x forward matmul FLOPs of both encoders and both heads at the masked
positions, `electra.common.pretraining.flops`) over the measured matmul rate of the run's
precision (torch, 8192^3 on a GPU), peak device memory (torch's, reset per implementation;
JAX's peak since the process started), and the extrapolated time of the paper's
ELECTRA-Small schedule (1M steps of 128 x 128) at the measured rate.

    python benchmarks/pretraining_gpu.py --markdown gpu.md                       # small and base, B=128, bf16
    python benchmarks/pretraining_gpu.py --device cpu --presets tiny --batch-size 4 --steps 2 --rounds 1 \\
        --warmup 1 --precision fp32 --implementations hf pt flax                     # a smoke test of the script on CPU

Never quote a GPU figure this script did not print.
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/pretraining_gpu.py` puts benchmarks/ first on sys.path, where
# benchmarks/tokenizers.py would shadow the `tokenizers` library that transformers imports.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from electra.common.config import ElectraConfig, generator_config  # noqa: E402
from electra.common.pretraining import recipe  # noqa: E402
from electra.common.pretraining.flops import rtd_step_flops  # noqa: E402
from electra.common.pretraining.masking import IGNORE_INDEX, default_max_predictions, mask_batch  # noqa: E402
from electra.common.pretraining.schedule import LinearSchedule  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

CLS, SEP, MASK = 101, 102, 103
GENERATOR_FRACTION = {"tiny": 0.25, "small": 0.25, "base": 1 / 3, "large": 1 / 4}  # the paper's generator sizes
PAPER_SMALL_STEPS = 1_000_000
IMPLEMENTATIONS = ("hf", "pt", "pt-compile", "flax", "tf")


def masked_batches(config: ElectraConfig, n: int, B: int, L: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """`n` host batches like `electra pretrain` feeds: [CLS] A [SEP] B [SEP], ~15% masked."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n):
        ids = rng.integers(1000, config.vocab_size, (B, L), dtype=np.int64)
        middle = rng.integers(L // 4, 3 * L // 4, B)
        ids[:, 0], ids[np.arange(B), middle], ids[:, -1] = CLS, SEP, SEP
        token_type_ids = (np.arange(L)[None, :] > middle[:, None]).astype(np.int64)
        attention_mask = np.ones((B, L), np.int64)
        masked_ids, mlm_labels, _ = mask_batch(ids, attention_mask, rng, special_ids=(CLS, SEP, 0), mask_id=MASK)
        batches.append({"input_ids": ids, "masked_ids": masked_ids, "mlm_labels": mlm_labels,
                        "attention_mask": attention_mask, "token_type_ids": token_type_ids})
    return batches


def reference_step(disc: ElectraConfig, gen: ElectraConfig, device: str, precision: str):
    """The HF-composed step (module docstring); returns (step, sync, attention implementation)."""
    import torch
    import transformers

    def hf(config: ElectraConfig, architecture: str):
        try:
            model = getattr(transformers, architecture)._from_config(transformers.ElectraConfig.from_dict(config.to_dict()),
                                                                     attn_implementation="sdpa")
        except (ValueError, ImportError):  # no SDPA for ELECTRA in this version (4.57 has none)
            model = getattr(transformers, architecture)(transformers.ElectraConfig.from_dict(config.to_dict()))
        state = {k: torch.from_numpy(v) for k, v in random_state_dict(config, architecture, scale=0.02).items()}
        model.load_state_dict(state, strict=False)
        return model.to(device).train()

    discriminator, generator = hf(disc, "ElectraForPreTraining"), hf(gen, "ElectraForMaskedLM")
    generator.electra.embeddings = discriminator.electra.embeddings
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    parameters = list({id(p): p for p in [*discriminator.parameters(), *generator.parameters()]}.values())
    cuda = device.startswith("cuda")
    optimizer = torch.optim.AdamW(parameters, lr=1e-4, eps=1e-6, weight_decay=0.01, **({"fused": True} if cuda else {"foreach": True}))
    dtype = {"bf16": torch.bfloat16, "fp32": None}[precision]
    rng = torch.Generator(device=device).manual_seed(0)

    def step(batch: dict[str, np.ndarray], _step: int) -> None:
        t = {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items()}
        chosen = t["mlm_labels"] != IGNORE_INDEX
        with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            gen_out = generator(input_ids=t["masked_ids"], attention_mask=t["attention_mask"],
                                token_type_ids=t["token_type_ids"], labels=t["mlm_labels"])
            with torch.no_grad():
                logits = gen_out.logits[chosen].float()
                u = torch.rand(logits.shape, generator=rng, device=device)
                sampled = (logits - torch.log(-torch.log(u + recipe.GUMBEL_EPS) + recipe.GUMBEL_EPS)).argmax(-1)
                disc_ids = t["input_ids"].clone()
                disc_ids[chosen] = sampled
                replaced = (disc_ids != t["input_ids"]).long()
            disc_out = discriminator(input_ids=disc_ids, attention_mask=t["attention_mask"],
                                     token_type_ids=t["token_type_ids"], labels=replaced)
            loss = gen_out.loss + 50.0 * disc_out.loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    return step, sync, getattr(discriminator.config, "_attn_implementation", "eager")


def electra_step(implementation: str, disc: ElectraConfig, gen: ElectraConfig, device: str, precision: str, L: int):
    """Our `train_step` (its metrics are read only by `sync`); returns (step, sync)."""
    backend = implementation.split("-")[0]
    module = importlib.import_module(f"electra.{backend}.trainer")
    schedule = LinearSchedule(5e-4, 10_000, 1_000_000)
    cap = default_max_predictions(0.15, L)
    if backend == "pt":
        pretrainer = module.ElectraPretrainer(disc, gen, seed=0)
        trainer = module.PretrainingTrainer(pretrainer, schedule, seed=0, device=device, max_predictions=cap, precision=precision,
                                            compile=implementation == "pt-compile")
    else:
        pretrainer = module.ElectraPretrainer(disc, gen, seed=0, precision=precision)
        trainer = module.PretrainingTrainer(pretrainer, schedule, seed=0, max_predictions=cap)
    last = {}

    def step(batch: dict[str, np.ndarray], i: int) -> None:
        last["metrics"] = trainer.train_step(batch, i)

    def sync() -> None:
        dict(last["metrics"])  # reads the last step's metrics: waits for the device

    return step, sync


def peak_memory(implementation: str) -> float | None:
    """Peak device bytes since the last reset (torch), or JAX's peak where its device reports one."""
    if implementation in ("hf", "pt", "pt-compile"):
        import torch

        return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    if implementation == "flax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return stats.get("peak_bytes_in_use")
    return None


def matmul_rate(device: str, precision: str, n: int) -> float:
    """FLOP/s of an n^3 matmul in the run's precision (median of 10)."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for _ in range(11):
        started = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times[1:])


def measure(step, sync, batches, args) -> list[float]:
    """Seconds per step of each round (after the warm-up)."""
    for i in range(args.warmup):
        step(batches[i % len(batches)], i)
    sync()
    rounds = []
    for r in range(args.rounds):
        started = time.perf_counter()
        for i in range(args.steps):
            step(batches[i % len(batches)], args.warmup + r * args.steps + i)
        sync()
        rounds.append((time.perf_counter() - started) / args.steps)
    return rounds


def preset_rows(preset: str, args, rate: float) -> list[str]:
    import torch

    disc = ElectraConfig.preset(preset)
    gen = generator_config(disc, GENERATOR_FRACTION[preset])
    B, L = args.batch_size, args.seq_len
    batches = masked_batches(disc, 4, B, L)
    masked = statistics.mean(float((b["mlm_labels"] != IGNORE_INDEX).sum()) for b in batches)
    flops = rtd_step_flops(disc, gen, B, L, masked)
    rows, reference = [], None
    for implementation in args.implementations:
        if implementation == "tf" and importlib.util.find_spec("tensorflow") is None:
            rows.append(f"| {preset} | electra.tf | not installed | | | | | |")
            continue
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        if implementation == "hf":
            step, sync, attention = reference_step(disc, gen, args.device, args.precision)
            name = f"HF-composed reference ({attention})"
        else:
            step, sync = electra_step(implementation, disc, gen, args.device, args.precision, L)
            name = {"pt": "electra.pt", "pt-compile": "electra.pt (torch.compile)", "flax": "electra.flax", "tf": "electra.tf"}[implementation]
        seconds = statistics.median(measure(step, sync, batches, args))
        print(f"  {preset} {name}: {seconds * 1e3:.1f} ms/step ({time.perf_counter() - started:.0f} s with warm-up)", file=sys.stderr, flush=True)
        reference = seconds if implementation == "hf" else reference
        memory = peak_memory(implementation)
        hours = PAPER_SMALL_STEPS * seconds * (128 * 128) / (B * L) / 3600
        rows.append(
            f"| {preset} | {name} | {B / seconds:,.0f} | {seconds * 1e3:.1f} | {flops / seconds / 1e12:.2f} | {flops / seconds / rate:.0%} | "
            f"{'' if memory is None else f'{memory / 2**30:.1f}'} | {'' if reference is None else f'{reference / seconds:.2f}x'} | "
            f"{hours:.1f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--presets", nargs="+", default=["small", "base"])
    parser.add_argument("--implementations", nargs="+", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS))
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first, compilation included (default: 3)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round (default: 10)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the median is reported (default: 3)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("--device cuda: no GPU is visible to torch (use --device cpu for a smoke test; never quote its figures as a GPU's)")
    if "hf" in args.implementations and args.implementations[0] != "hf":
        args.implementations = ["hf", *[i for i in args.implementations if i != "hf"]]  # the ratios need it first
    hardware = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    rate = matmul_rate(args.device, args.precision, 8192 if args.device.startswith("cuda") else 1024)
    lines = [
        f"Date: {datetime.date.today()}; device: {hardware}; precision {args.precision}; B={args.batch_size}, L={args.seq_len}; "
        f"median of {args.rounds} rounds of {args.steps} steps after {args.warmup} warm-up steps; torch {torch.__version__}"
        + "".join(f", {m} {importlib.import_module(m).__version__}" for m in ("transformers", "jax", "flax") if importlib.util.find_spec(m)),
        f"Measured {args.precision} matmul rate: {rate / 1e12:.1f} TFLOP/s.",
        "",
        "| preset | implementation | seq/s | ms/step | TFLOP/s | of matmul rate | peak GiB | vs reference | 1M steps of 128 x 128, h |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for preset in args.presets:
        lines += preset_rows(preset, args, rate)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
