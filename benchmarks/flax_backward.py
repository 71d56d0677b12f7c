"""Where the electra.flax pretraining gradient spends its time: one jitted gradient per variant,
compile time and median step time, so that a GPU session can bisect issue 16 item 4 in one run.

On an H200 (issue 16), small preset, bf16, B=128: the pretrainer's forward took 4.9 ms, its
gradient 264.5 ms, the discriminator alone trained in 7.9 ms; the first step compiled for 55 s.
The variants below each change one suspect of the generator / sampling path's backward:

- `as-is`: `ElectraPretrainer.apply` as `electra pretrain` runs it (dropout on).
- `no-dropout`: train=False (dropout masks off).
- `generator-frozen`: the generator's loss under `stop_gradient` (no generator backward at all;
  the discriminator's backward still reaches the shared embeddings).
- `one-hot-loss`: the generator's cross-entropy picks its target log-probability with a
  one-hot product instead of `take_along_axis` (whose transpose is a scatter-add into (B, K, V)).
- `one-hot-slots`: the K prediction slots gathered from the generator's (B, L, H) hidden states
  by a one-hot matmul instead of `take_along_axis` (whose transpose is a scatter into (B, L, H)).
- `one-hot-types`: the token-type embedding (a table of `type_vocab_size` rows, 2) read by a
  one-hot sum instead of `jnp.take`, whose transpose is a scatter-add of B x L updates into two
  rows (jax issue 38806: GPU scatter-add into a small array up to ~2000x slower in jaxlib
  0.10.2-0.11.0; the generator and the discriminator each have one).
- `one-hot-all`: the three together.
- `f32-lookups`: every embedding lookup gathers from the float32 table and casts after, so
  its gradient is a float32 scatter-add (with `--precision bf16`, `nn.Embed` gathers from a
  bfloat16 copy and scatter-adds in bfloat16, which XLA:GPU does with compare-and-swap loops
  under contention, jax issue 26371).
- `forward`: the loss only, no gradient.

Each variant is a separate `jax.jit`; the time is the median of `--steps` calls after one
(compiling) call. `--dump DIR` also writes XLA's optimised HLO of every variant there
(`--xla_dump_to`), to look for while loops and scatters.

    python benchmarks/flax_backward.py --preset small --batch-size 128 --precision bf16 --markdown flax-backward.md
    python benchmarks/flax_backward.py --preset tiny --batch-size 4 --steps 2 --precision fp32    # CPU smoke test

Never quote a GPU figure this script did not print.
"""

from __future__ import annotations

import os
import sys

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

VARIANTS = ("forward", "as-is", "no-dropout", "generator-frozen", "one-hot-loss", "one-hot-slots", "one-hot-types", "one-hot-all",
            "f32-lookups")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="small")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    p.add_argument("--steps", type=int, default=10, help="timed calls per variant (median; default: 10)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--dump", type=Path, help="write XLA's optimised HLO of every variant here")
    p.add_argument("--markdown", type=Path, help="write the table here")
    return p.parse_args()


def one_hot_cross_entropy(logits, labels, ignore_index=-100):
    """`losses.cross_entropy` with the target's log-probability picked by a one-hot product."""
    import jax
    import jax.numpy as jnp

    logits = logits.astype(jnp.float32)
    valid = labels != ignore_index
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.sum(log_probs * jax.nn.one_hot(jnp.where(valid, labels, 0), logits.shape[-1], dtype=log_probs.dtype), axis=-1)
    return -jnp.sum(jnp.where(valid, picked, 0.0)) / jnp.sum(valid)


class OneHotSlots:
    """Stands in for `jax.numpy` inside electra.flax.trainer: `take_along_axis` of a float
    (B, L, H) array at (B, K, 1) indices along axis 1 becomes a one-hot (B, K, L) matmul."""

    def __init__(self, jnp):
        self._jnp = jnp

    def __getattr__(self, name):
        return getattr(self._jnp, name)

    def take_along_axis(self, array, indices, axis, **kwargs):
        jnp = self._jnp
        if axis == 1 and array.ndim == 3 and jnp.issubdtype(array.dtype, jnp.floating) and indices.shape[-1] == 1:
            import jax

            picks = jax.nn.one_hot(indices[..., 0], array.shape[1], dtype=array.dtype)  # (B, K, L)
            return jnp.einsum("bkl,blh->bkh", picks, array)
        return jnp.take_along_axis(array, indices, axis=axis, **kwargs)


class OneHotSmallTables:
    """Stands in for `jax.numpy` inside flax.linen.linear (`nn.Embed`): `take` from a table of
    at most 16 rows becomes a one-hot sum (exact: every product is by 0 or 1); with
    `float32`, every `take` gathers from the table in float32 and casts the rows back."""

    def __init__(self, jnp, float32: bool = False):
        self._jnp, self.float32 = jnp, float32

    def __getattr__(self, name):
        return getattr(self._jnp, name)

    def take(self, table, indices, axis=None, **kwargs):
        jnp = self._jnp
        if self.float32:
            return jnp.take(table.astype(jnp.float32), indices, axis=axis, **kwargs).astype(table.dtype)
        if axis == 0 and table.ndim == 2 and table.shape[0] <= 16:
            import jax

            picks = jax.nn.one_hot(indices, table.shape[0], dtype=table.dtype)  # (..., T)
            return jnp.sum(picks[..., None] * table, axis=-2)
        return jnp.take(table, indices, axis=axis, **kwargs)


@contextlib.contextmanager
def variant_patches(name: str):
    """Swap in the variant's functions for the duration of tracing."""
    from flax.linen import linear

    from electra.flax import losses
    from electra.flax import trainer as flax_trainer

    saved = (losses.cross_entropy, flax_trainer.jnp, linear.jnp)
    if name in ("one-hot-loss", "one-hot-all"):
        losses.cross_entropy = one_hot_cross_entropy
    if name in ("one-hot-slots", "one-hot-all"):
        flax_trainer.jnp = OneHotSlots(saved[1])
    if name in ("one-hot-types", "one-hot-all", "f32-lookups"):
        linear.jnp = OneHotSmallTables(saved[2], float32=name == "f32-lookups")
    try:
        yield
    finally:
        losses.cross_entropy, flax_trainer.jnp, linear.jnp = saved


def main() -> None:
    args = parse()
    if args.dump:
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={args.dump} --xla_dump_hlo_as_text".strip()
    import importlib.util

    import jax
    import jax.numpy as jnp

    from electra.common.config import ElectraConfig, generator_config
    from electra.common.pretraining.masking import default_max_predictions
    from electra.common.pretraining.noise import noise_key
    from electra.flax import trainer as flax_trainer

    spec = importlib.util.spec_from_file_location("pretraining_gpu", Path(__file__).with_name("pretraining_gpu.py"))
    gpu_benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_benchmark)  # its masked_batches (the batches electra pretrain feeds) and generator sizes

    disc = ElectraConfig.preset(args.preset)
    gen = generator_config(disc, gpu_benchmark.GENERATOR_FRACTION[args.preset])
    pretrainer = flax_trainer.ElectraPretrainer(disc, gen, seed=0, precision=args.precision, unscored_ids=(101, 102))
    batch = {k: jnp.asarray(v, jnp.int32) for k, v in gpu_benchmark.masked_batches(disc, 1, args.batch_size, args.seq_len)[0].items()}
    K = default_max_predictions(0.15, args.seq_len)
    key = jnp.asarray(noise_key(0, 0), jnp.uint32)
    dropout = jax.random.PRNGKey(0)
    weights = pretrainer.loss_weights

    def make(name: str):
        train = name != "no-dropout"

        def loss(params):
            out = pretrainer.apply(params, **batch, noise_key=key, train=train, max_predictions=K,
                                   dropout_rng=dropout if train else None)
            generator_loss = jax.lax.stop_gradient(out.generator_loss) if name == "generator-frozen" else out.generator_loss
            return weights.generator * generator_loss + weights.discriminator * out.discriminator_loss

        return jax.jit(loss if name == "forward" else jax.grad(loss))

    device = jax.devices()[0]
    lines = [
        f"Date: {datetime.date.today()}; device: {device.device_kind} ({device.platform}); jax {jax.__version__}; "
        f"preset {args.preset} (generator {gpu_benchmark.GENERATOR_FRACTION[args.preset]:.2f}), precision {args.precision}, "
        f"B={args.batch_size}, L={args.seq_len}, K={K}; median of {args.steps} calls after the compiling one",
        "",
        "| variant | first call (compile) s | ms per call | max abs difference from as-is |",
        "|---|---:|---:|---:|",
    ]
    reference = None
    for name in args.variants:
        with variant_patches(name):
            fn = make(name)
            started = time.perf_counter()
            result = jax.block_until_ready(fn(pretrainer.params))
            first = time.perf_counter() - started
        times = []
        for _ in range(args.steps):
            started = time.perf_counter()
            jax.block_until_ready(fn(pretrainer.params))
            times.append(time.perf_counter() - started)
        ms = statistics.median(times) * 1e3
        print(f"  {name}: compile {first:.1f} s, {ms:.1f} ms", file=sys.stderr, flush=True)
        # The one-hot variants compute the same gradient (up to summation order); the others differ by design.
        if name == "as-is":
            reference = result
        comparable = reference is not None and (name.startswith("one-hot") or name == "f32-lookups")
        difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree_util.tree_leaves(result),
                                                                          jax.tree_util.tree_leaves(reference))) if comparable else None
        lines.append(f"| {name} | {first:.1f} | {ms:.1f} | {'' if difference is None else f'{difference:.1e}'} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
