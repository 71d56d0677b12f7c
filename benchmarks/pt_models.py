"""electra.pt against HF `transformers` PyTorch ELECTRA, in one process, on CPU or GPU.

Measures, at L=128 for each size: `ElectraModel` forward at B=1 and B=8 under
`torch.inference_mode` (eval mode), and an `ElectraForPreTraining` train step (forward,
backward, AdamW) at B=8. Ours and HF's run alternately, same weights, same inputs;
figures are medians. Also the machine's float32 matmul rate, and each figure as achieved
FLOP/s over that rate. HF 4.57 has only "eager" attention for ELECTRA (no SDPA class).

    python benchmarks/pt_models.py --sizes small base --repeats 7 --compile --markdown out.md
    python benchmarks/pt_models.py --device cuda --autocast bf16 --batch-sizes 1 8 64
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

# `python benchmarks/pt_models.py` puts benchmarks/ first on sys.path, where
# benchmarks/tokenizers.py would shadow the `tokenizers` library that transformers imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

import electra.pt as pt  # noqa: E402
from electra.common.config import ElectraConfig  # noqa: E402
from electra.common.pretraining.flops import encoder_flops  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402

L = 128
DEVICE = torch.device("cpu")
AUTOCAST = None  # None, torch.bfloat16 or torch.float16


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def precision():
    """The autocast context of the run (a no-op in float32)."""
    if AUTOCAST is None:
        return contextlib.nullcontext()
    return torch.autocast(DEVICE.type, dtype=AUTOCAST)


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of an n x n x n matmul (median) in the run's precision."""
    dtype = AUTOCAST or torch.float32
    a, b = torch.randn(n, n, device=DEVICE, dtype=dtype), torch.randn(n, n, device=DEVICE, dtype=dtype)
    a @ b
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def forward_flops(config: ElectraConfig, B: int) -> float:
    """Matmul FLOPs of an `ElectraModel` forward on (B, L) tokens."""
    return encoder_flops(config, B, L)


def build_pair(config: ElectraConfig, architecture: str):
    import transformers

    state = {k: torch.from_numpy(v) for k, v in random_state_dict(config, architecture, scale=0.02).items()}
    ours = getattr(pt, architecture)(config)
    ours.load_state_dict(state)
    hf = getattr(transformers, architecture)(transformers.ElectraConfig.from_dict(config.to_dict()))
    hf.load_state_dict(state, strict=False)  # transformers 5 keeps no position_ids buffer
    return ours.to(DEVICE), hf.to(DEVICE)


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return times


def bench_alternating(fns: dict, repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved to share machine noise."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
        sync()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name] += timed(fn, 1)
    return {name: statistics.median(t) for name, t in times.items()}


def forward_case(config, B, repeats, compile_ours):
    ours, hf = build_pair(config, "ElectraModel")
    ours.eval(), hf.eval()
    ids = torch.randint(1, config.vocab_size, (B, L), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    mask = torch.ones(B, L, dtype=torch.long, device=DEVICE)
    fns = {}

    def run(model):
        def call():
            with torch.inference_mode(), precision():
                model(input_ids=ids, attention_mask=mask)
        return call

    fns["ours"] = run(ours)
    fns["hf"] = run(hf)
    if compile_ours:
        compiled = torch.compile(ours)
        fns["ours+compile"] = run(compiled)
    return bench_alternating(fns, repeats)


def train_case(config, B, repeats):
    models = build_pair(config, "ElectraForPreTraining")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, config.vocab_size, (B, L), generator=g).to(DEVICE)
    labels = torch.randint(0, 2, (B, L), generator=g).to(DEVICE)
    mask = torch.ones(B, L, dtype=torch.long, device=DEVICE)
    fns = {}
    for name, model in zip(("ours", "hf"), models):
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, optimizer=optimizer):
            optimizer.zero_grad(set_to_none=True)
            with precision():
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()

        fns[name] = step
    return bench_alternating(fns, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "base"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(ours) for the forward")
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--autocast", choices=["bf16", "fp16"], help="run both libraries under torch.autocast")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8], help="forward batch sizes (default: 1 8)")
    parser.add_argument("--train-batch", type=int, default=8)
    args = parser.parse_args()

    import transformers

    global DEVICE, AUTOCAST
    DEVICE = torch.device(args.device)
    AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[args.autocast]
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rate = matmul_rate()
    rows = []
    for size in args.sizes:
        config = ElectraConfig.preset(size, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
        for B in args.batch_sizes:
            medians = forward_case(config, B, args.repeats, args.compile)
            flops = forward_flops(config, B)
            for impl, seconds in medians.items():
                rows.append((size, f"ElectraModel forward B={B}", impl, seconds, flops, medians["hf"] / seconds))
        B = args.train_batch
        medians = train_case(config, B, max(3, args.repeats // 2))
        flops = 3 * forward_flops(config, B)
        for impl, seconds in medians.items():
            rows.append((size, f"ElectraForPreTraining train step B={B}", impl, seconds, flops, medians["hf"] / seconds))

    if DEVICE.type == "cuda":
        where = f"GPU: {torch.cuda.get_device_name(DEVICE)}"
    else:
        where = f"CPU: {cpu_name()}, {torch.get_num_threads()} threads"
    dtype = args.autocast or "float32"
    lines = [
        f"Date: {datetime.date.today()}; {where}; {dtype}; "
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}.",
        f"Measured {dtype} matmul rate (2048^3): {rate / 1e9:.1f} GFLOP/s. L={L}; medians of {args.repeats} "
        "(train: half as many) alternating runs; `hf` is transformers' default (eager) attention.",
    ]
    print_table(lines, "speed-up vs hf", rows, rate, args.markdown)


def print_table(header: list[str], ratio_title: str, rows, rate: float, markdown: str | None) -> None:
    """Prints the `header` lines and a table of `rows` (size, case, implementation, seconds,
    FLOPs, ratio) with the achieved GFLOP/s and their share of the matmul `rate`; writes the
    same text to the file `markdown` when given."""
    lines = [
        *header,
        "",
        f"| size | case | implementation | median ms | GFLOP/s | of matmul rate | {ratio_title} |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for size, case, impl, seconds, flops, ratio in rows:
        achieved = flops / seconds
        lines.append(f"| {size} | {case} | {impl} | {seconds * 1e3:.1f} | {achieved / 1e9:.1f} | {achieved / rate:.0%} | {ratio:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if markdown:
        with open(markdown, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
