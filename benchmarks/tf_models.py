"""electra.tf against HF `transformers` 4.57 TensorFlow ELECTRA (`TFElectra*`), in one process, on CPU.

HF's TF classes need tf-keras (Keras 2); ours needs Keras 3. They share one process here:
`TF_USE_LEGACY_KERAS=1` is set before anything is imported, which makes `transformers`
(and `tf.keras`) use `tf_keras`, while `electra.tf` imports Keras 3 as `keras`.

Measures, at L=128 for each size: `ElectraModel` forward at B=1 and B=8 (inference,
`training=False`), and an `ElectraForPreTraining` train step at B=8 (forward, BCE over the
attended positions, backward, one Adam update written in plain TF, the same for both),
each under `tf.function` and under `tf.function(jit_compile=True)`. `electra.pt` runs the
same cases in a subprocess of the same run (in one process the two frameworks' thread
pools slow each other down). TF functions run alternately on the same weights and
inputs; figures are medians. Also the
float32 matmul rate of TF, and each figure as achieved FLOP/s over that rate.

    python benchmarks/tf_models.py --sizes small base --repeats 5 --markdown out.md
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/tf_models.py` puts benchmarks/ first on sys.path, where other scripts
# (e.g. tokenizers.py) would shadow the packages of the same name.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # transformers' TF classes on tf-keras; electra.tf on Keras 3
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import electra.tf as etf  # noqa: E402
from electra.common.config import ElectraConfig  # noqa: E402
from electra.common.weights.random import random_state_dict  # noqa: E402


def _load_pt_models():
    """benchmarks/pt_models.py by path (putting benchmarks/ on sys.path would let its
    other scripts shadow packages of the same name)."""
    spec = importlib.util.spec_from_file_location("pt_models", Path(__file__).resolve().parent / "pt_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_pt_models = _load_pt_models()
forward_flops = _pt_models.forward_flops  # the same FLOP count as the PyTorch benchmark
bench_alternating = _pt_models.bench_alternating  # medians of interleaved calls
print_table = _pt_models.print_table  # the same table layout

L = 128


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """TF float32 FLOP/s of an n x n x n matmul (median)."""
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        tf.matmul(a, b).numpy()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def build_tf_pair(config: ElectraConfig, architecture: str):
    """Ours and HF's TF model with the same canonical weights (HF's assigned by name
    through `electra.common.weights.layouts.canonical_to_hf_tf`)."""
    import transformers

    from electra.common.weights.layouts import canonical_to_hf_tf

    state = random_state_dict(config, architecture, scale=0.02)
    ours = getattr(etf, architecture)(config)
    ours.load_canonical_state_dict(state)
    hf = getattr(transformers, "TF" + architecture)(transformers.ElectraConfig.from_dict(config.to_dict()))
    hf(np.ones((1, 4), np.int32))  # build
    arrays = canonical_to_hf_tf(state, hf.name)
    for variable in hf.weights:
        variable.assign(arrays[variable.name])
    return ours, hf


def tf_adam(variables, lr=1e-4, beta1=0.9, beta2=0.999, eps=1e-6):
    """A plain Adam update on `variables` (the same code for both libraries)."""
    m = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]
    s = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]

    def apply(grads):
        for var, g, m_, s_ in zip(variables, grads, m, s):
            g = tf.convert_to_tensor(g)
            m_.assign(beta1 * m_ + (1 - beta1) * g)
            s_.assign(beta2 * s_ + (1 - beta2) * g * g)
            var.assign_sub(lr * m_ / (tf.sqrt(s_) + eps))

    return apply


def forward(model):
    """The inference forward, the model closed over (see `train_step`)."""
    return lambda ids, mask: model(input_ids=ids, attention_mask=mask, training=False).last_hidden_state


def forward_case(config, B, repeats):
    ours, hf = build_tf_pair(config, "ElectraModel")
    rng = np.random.default_rng(0)
    ids = tf.constant(rng.integers(1, config.vocab_size, (B, L)), tf.int32)
    mask = tf.ones((B, L), tf.int32)
    fns = {}
    for impl, model in (("ours", ours), ("hf", hf)):
        for mode, jit in (("tf.function", False), ("XLA", True)):
            f = tf.function(forward(model), jit_compile=jit)
            fns[f"{impl} {mode}"] = lambda f=f: f(ids, mask).numpy()
    return bench_alternating(fns, repeats)


def train_step(model):
    """Forward, BCE over the attended positions, backward, Adam. The model and its
    variables are closed over: passed as (default) arguments, tf.function would turn
    Keras 3 variables into tensors, and the gradients into None."""
    variables = list(model.trainable_variables)
    apply = tf_adam(variables)

    def step(ids, mask, labels):
        with tf.GradientTape() as tape:
            logits = model(input_ids=ids, attention_mask=mask, training=True).logits
            per_token = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32), logits=logits)
            weights = tf.cast(mask, tf.float32)
            loss = tf.reduce_sum(per_token * weights) / tf.reduce_sum(weights)
        grads = tape.gradient(loss, variables)
        if any(g is None for g in grads):
            raise RuntimeError("a trainable variable got no gradient")
        apply(grads)
        return loss

    return step


def train_case(config, B, repeats):
    ours, hf = build_tf_pair(config, "ElectraForPreTraining")
    rng = np.random.default_rng(0)
    ids = tf.constant(rng.integers(1, config.vocab_size, (B, L)), tf.int32)
    labels = tf.constant(rng.integers(0, 2, (B, L)), tf.int32)
    mask = tf.ones((B, L), tf.int32)
    fns = {}
    for impl, model in (("ours", ours), ("hf", hf)):
        step = train_step(model)
        for mode, jit in (("tf.function", False), ("XLA", True)):
            f = tf.function(step, jit_compile=jit)
            fns[f"{impl} {mode}"] = lambda f=f: f(ids, mask, labels).numpy()
    return bench_alternating(fns, repeats)


def pt_medians(size: str, repeats: int) -> dict[str, float]:
    """electra.pt's medians for the same cases, measured in a subprocess: in this process
    TF's and PyTorch's thread pools would compete for the cores and slow each other."""
    import json
    import subprocess

    command = [sys.executable, __file__, "--pt-only", size, "--repeats", str(repeats)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_pt_only(size: str, repeats: int) -> None:
    """Print {case: median seconds} of electra.pt (eager, inference_mode; AdamW train step) as JSON."""
    import json

    import torch

    import electra.pt as ept

    config = ElectraConfig.preset(size, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    rng = np.random.default_rng(0)
    medians = {}
    model = ept.ElectraModel(config).eval()
    for B in (1, 8):
        ids = torch.as_tensor(rng.integers(1, config.vocab_size, (B, L)), dtype=torch.long)
        mask = torch.ones(B, L, dtype=torch.long)

        def call(ids=ids, mask=mask):
            with torch.inference_mode():
                model(input_ids=ids, attention_mask=mask)

        medians[f"forward B={B}"] = bench_alternating({"pt": call}, repeats)["pt"]
    model = ept.ElectraForPreTraining(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.as_tensor(rng.integers(1, config.vocab_size, (8, L)), dtype=torch.long)
    labels = torch.as_tensor(rng.integers(0, 2, (8, L)), dtype=torch.long)
    mask = torch.ones(8, L, dtype=torch.long)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()

    medians["train B=8"] = bench_alternating({"pt": step}, max(3, repeats // 2))["pt"]
    print(json.dumps(medians))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "base"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--pt-only", metavar="SIZE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pt_only:
        return run_pt_only(args.pt_only, args.repeats)

    from importlib.metadata import version

    import keras
    import transformers

    rate = matmul_rate()
    rows = []
    for size in args.sizes:
        config = ElectraConfig.preset(size, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
        pt = pt_medians(size, args.repeats)
        for B in (1, 8):
            medians = {**forward_case(config, B, args.repeats), "electra.pt eager (own process)": pt[f"forward B={B}"]}
            print(size, B, {k: round(v * 1e3, 1) for k, v in medians.items()}, flush=True)
            best_hf = min(v for k, v in medians.items() if k.startswith("hf"))
            for impl, seconds in medians.items():
                rows.append((size, f"ElectraModel forward B={B}", impl, seconds, forward_flops(config, B), best_hf / seconds))
        medians = {**train_case(config, 8, max(3, args.repeats // 2)), "electra.pt eager (own process)": pt["train B=8"]}
        print(size, "train", {k: round(v * 1e3, 1) for k, v in medians.items()}, flush=True)
        best_hf = min(v for k, v in medians.items() if k.startswith("hf"))
        for impl, seconds in medians.items():
            rows.append((size, "ElectraForPreTraining train step B=8", impl, seconds, 3 * forward_flops(config, 8), best_hf / seconds))

    lines = [
        f"Date: {datetime.date.today()}; CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"tensorflow {tf.__version__}, keras {keras.__version__} (ours), tf-keras (HF), transformers {transformers.__version__}, "
        f"torch {version('torch')}, Python {platform.python_version()}.",
        f"Measured TF float32 matmul rate (2048^3): {rate / 1e9:.1f} GFLOP/s. L={L}; medians of {args.repeats} "
        "(train: half as many, at least 3) alternating runs; TF rows in one process (HF on tf-keras beside our Keras 3), "
        "electra.pt in a subprocess of the same run.",
    ]
    print_table(lines, "speed-up vs best hf", rows, rate, args.markdown)


if __name__ == "__main__":
    main()
