"""electra.flax against HF `transformers` 4.57 Flax ELECTRA (and electra.pt), in one process.

Measures, at L=128 for each size: `ElectraModel` forward at B=1 and B=8 (jitted, no
dropout), and an `ElectraForPreTraining` train step (forward, backward, optax AdamW; dropout
on) at B=8. HF's Flax class computes no loss: its step uses `electra.flax.losses` on its
logits. electra.pt runs the same cases (inference mode; torch AdamW). All implementations
hold the same weights and inputs and run alternately; figures are medians. Also the
machine's float32 matmul rate (jitted jnp), and each figure as achieved FLOP/s over it.

    python benchmarks/flax_models.py --sizes small base --repeats 5 --markdown out.md

On a GPU (JAX's default device), pass `--pt-device cuda` to time electra.pt there too, and
`--matmul-precision highest` to keep JAX's float32 matmuls in full float32 as PyTorch's are
by default (JAX's default on NVIDIA GPUs may use TF32).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

HERE = Path(__file__).resolve().parent
# Files beside this script (benchmarks/tokenizers.py) would shadow libraries of the same name
# (transformers imports `tokenizers`): take the script's folder off the path and load the
# PyTorch benchmark's helpers (forward_flops, build_pair, cpu_name) from its file.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("pt_models", HERE / "pt_models.py")
pt_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pt_models)

import electra.flax as ef  # noqa: E402
from electra.common.config import preset_config  # noqa: E402
from electra.common.weights.layouts import canonical_to_hf_flax  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402
from electra.flax import losses  # noqa: E402

L = pt_models.L


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a jitted float32 n x n x n matmul (median)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, a).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        matmul(a, a).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def build(config, architecture: str):
    """(ours, HF Flax model, HF Flax params, electra.pt model) with the same weights."""
    import torch
    import transformers

    state = random_state_dict(config, architecture, scale=0.02)
    ours = ef.MODEL_CLASSES[architecture](config)
    ours.load_canonical_state_dict(state)
    hf = getattr(transformers, "Flax" + architecture)(transformers.ElectraConfig.from_dict(config.to_dict()), _do_init=False)
    hf_params = jax.tree_util.tree_map(jnp.asarray, canonical_to_hf_flax(state))
    pt_model, _ = pt_models.build_pair(config, architecture)
    del torch
    return ours, hf, hf_params, pt_model


def inputs(config, B: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "input_ids": rng.integers(1, config.vocab_size, (B, L)).astype(np.int32),
        "attention_mask": np.ones((B, L), np.int32),
        "token_type_ids": np.zeros((B, L), np.int32),
    }


def forward_case(config, B: int, repeats: int) -> dict[str, float]:
    import torch

    ours, hf, hf_params, pt_model = build(config, "ElectraModel")
    x = {k: jnp.asarray(v) for k, v in inputs(config, B).items()}
    ours_fn = jax.jit(lambda p, x: ours.module.apply({"params": p}, **x).last_hidden_state)
    hf_fn = jax.jit(lambda p, x: hf(**x, params=p).last_hidden_state)
    pt_x = {k: torch.from_numpy(np.asarray(v, np.int64)).to(pt_models.DEVICE) for k, v in x.items()}
    pt_model.eval()

    def pt_call():
        with torch.inference_mode():
            pt_model(**pt_x)

    return pt_models.bench_alternating({
        "ours": lambda: ours_fn(ours.params, x).block_until_ready(),
        "hf": lambda: hf_fn(hf_params, x).block_until_ready(),
        "electra.pt": pt_call,
    }, repeats, warmup=1)


def train_case(config, B: int, repeats: int) -> dict[str, float]:
    import torch

    ours, hf, hf_params, pt_model = build(config, "ElectraForPreTraining")
    x = {k: jnp.asarray(v) for k, v in inputs(config, B).items()}
    labels = jnp.asarray(np.random.default_rng(1).integers(0, 2, (B, L)), jnp.int32)
    optimizer = optax.adamw(1e-4)

    def make_step(logits_fn):
        @jax.jit
        def step(params, opt_state, rng):
            def loss_fn(p):
                logits = logits_fn(p, rng)
                return losses.replaced_token_detection_loss(logits, labels, x["attention_mask"])

            grads = jax.grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        return step

    ours_step = make_step(lambda p, rng: ours(**x, params=p, dropout_rng=rng, train=True).logits)  # as a user calls it
    hf_step = make_step(lambda p, rng: hf(**x, params=p, dropout_rng=rng, train=True).logits)
    state = {"ours": (ours.params, optimizer.init(ours.params)), "hf": (hf_params, optimizer.init(hf_params))}

    def run(name, step):
        def call():
            params, opt_state = step(*state[name], jax.random.key(0))
            jax.block_until_ready(params)
            state[name] = (params, opt_state)
        return call

    pt_model.train()
    pt_optimizer = torch.optim.AdamW(pt_model.parameters(), lr=1e-4)
    pt_x = {k: torch.from_numpy(np.asarray(v, np.int64)).to(pt_models.DEVICE) for k, v in x.items()}
    pt_labels = torch.from_numpy(np.asarray(labels, np.int64)).to(pt_models.DEVICE)

    def pt_step():
        pt_optimizer.zero_grad(set_to_none=True)
        pt_model(**pt_x, labels=pt_labels).loss.backward()
        pt_optimizer.step()

    return pt_models.bench_alternating({"ours": run("ours", ours_step), "hf": run("hf", hf_step), "electra.pt": pt_step}, repeats, warmup=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "base"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8], help="forward batch sizes (default: 1 8)")
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--pt-device", default="cpu", help="where electra.pt runs: cpu or cuda (default: cpu)")
    parser.add_argument("--matmul-precision", choices=["default", "high", "highest"],
                        help="jax_default_matmul_precision (default: JAX's own)")
    args = parser.parse_args()

    import flax
    import torch
    import transformers

    pt_models.DEVICE = torch.device(args.pt_device)
    if args.matmul_precision:
        jax.config.update("jax_default_matmul_precision", args.matmul_precision)

    rate = matmul_rate()
    rows = []
    for size in args.sizes:
        config = preset_config(size, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
        for B in args.batch_sizes:
            medians = forward_case(config, B, args.repeats)
            flops = pt_models.forward_flops(config, B)
            for impl, seconds in medians.items():
                rows.append((size, f"ElectraModel forward B={B}", impl, seconds, flops, seconds / medians["ours"]))
        B = args.train_batch
        medians = train_case(config, B, max(3, args.repeats // 2))
        for impl, seconds in medians.items():
            rows.append((size, f"ElectraForPreTraining train step B={B}", impl, seconds, 3 * pt_models.forward_flops(config, B),
                         seconds / medians["ours"]))

    device = jax.devices()[0]
    where = f"CPU: {pt_models.cpu_name()}" if device.platform == "cpu" else f"GPU: {device.device_kind}"
    pt_where = f"torch threads {torch.get_num_threads()}" if pt_models.DEVICE.type == "cpu" else f"electra.pt on {args.pt_device}"
    lines = [
        f"Date: {datetime.date.today()}; {where}, {jax.device_count()} JAX device(s), {pt_where}; float32 "
        f"(JAX matmul precision: {args.matmul_precision or 'JAX default'}); jax {jax.__version__}, flax {flax.__version__}, "
        f"optax {optax.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"Python {platform.python_version()}.",
        f"Measured float32 matmul rate (jitted jnp, 2048^3): {rate / 1e9:.1f} GFLOP/s. L={L}; medians of "
        f"{args.repeats} (train: half as many, at least 3) alternating runs after one warm-up (compilation).",
    ]
    pt_models.print_table(lines, "ours vs this", rows, rate, args.markdown)


if __name__ == "__main__":
    main()
