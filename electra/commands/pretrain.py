"""`electra pretrain`: the replaced-token-detection run (or, with `--objective mlm`, the
paper's masked-LM baseline), the same loop for every backend.

What a run directory (`--out`) holds:
    run.json            the settings that define the run (a different run refuses to reuse it)
    tokenizer/          vocab.txt and the HF tokenizer files (given with --vocab or --data, or trained)
    checkpoint/         the latest training state: weights, optimizer moments, data position
    metrics.jsonl       one JSON object per logged step, then the held-out evaluation
    discriminator/      the final discriminator (ElectraForPreTraining), tokenizer files included
    generator/          the final generator (ElectraForMaskedLM), tokenizer files included
    mlm/                instead of the two: the masked-LM network of `--objective mlm`
    curves.png          losses and held-out AUC (masked-LM accuracy) over training

The backend only provides a trainer (`electra.<backend>.pretraining.PretrainingTrainer`);
data, masking, schedule, checkpoints, logging and evaluation live here, so the three
backends train from the same batches. Every random draw of step k is seeded from
(seed, k), and the data reader's position is saved, so `--resume` after a kill continues
exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from electra.common.config import ElectraConfig, generator_config, preset_config
from electra.common.files import atomic_write_text
from electra.common.pretraining import recipe
from electra.common.pretraining.masking import default_max_predictions
from electra.common.pretraining.metrics import binary_counts, precision_recall_accuracy, roc_auc
from electra.common.pretraining.prefetch import Prefetcher
from electra.common.pretraining.schedule import LinearSchedule

DEFAULT_PREFETCH = 2  # batches built ahead of the step (--prefetch)
DEFAULT_LR = {"tiny": 5e-4, "small": 5e-4, "small-discriminator": 5e-4}
# Settings that must match for --resume (and for reusing an output directory).
RUN_KEYS = (
    "objective", "backend", "precision", "grad_accum", "corpus", "preset", "config", "generator_fraction", "steps", "batch_size", "seq_len", "lr",
    "warmup_steps", "mask_prob", "disc_weight", "score_special_tokens", "seed", "vocab", "vocab_size",
    "data", "data_sha256",  # --data: the folder and its meta.json's hash (vocab hash, corpus files, sizes)
)


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The run-defining settings of the parsed arguments, JSON-ready, defaults resolved."""
    settings = {k: getattr(args, k, None) for k in RUN_KEYS}
    settings["objective"] = settings["objective"] or "rtd"
    if settings["objective"] not in recipe.OBJECTIVES:
        raise ValueError(f"--objective must be one of {', '.join(recipe.OBJECTIVES)}, got {settings['objective']!r}")
    for name, default in recipe.RTD_DEFAULTS.items():
        if settings["objective"] == "rtd" and settings[name] is None:
            settings[name] = default
        elif settings["objective"] == "mlm" and settings[name] is not None:
            raise ValueError(f"--{name.replace('_', '-')} applies to replaced token detection; --objective mlm trains "
                             f"no generator and no discriminator: leave it out")
    settings["score_special_tokens"] = bool(settings["score_special_tokens"])
    if settings["objective"] == "mlm" and settings["score_special_tokens"]:
        raise ValueError("--score-special-tokens applies to replaced token detection (the discriminator's loss); "
                         "--objective mlm trains no discriminator: leave it out")
    settings["corpus"] = [str(Path(p).resolve()) for p in args.corpus] if args.corpus else None
    settings["data"] = str(Path(args.data).resolve()) if getattr(args, "data", None) else None
    settings["config"] = str(Path(args.config).resolve()) if args.config else None
    settings["vocab"] = str(Path(args.vocab).resolve()) if args.vocab else None
    if settings["warmup_steps"] is None:
        settings["warmup_steps"] = min(10_000, max(1, args.steps // 10))
    check_precision(settings["backend"], settings["precision"])  # the hardware is asked later (settle_hardware)
    if getattr(args, "prefetch", DEFAULT_PREFETCH) < 0:
        raise ValueError(f"--prefetch must be 0 (off) or more, got {args.prefetch}")
    settings["grad_accum"] = 1 if settings["grad_accum"] is None else settings["grad_accum"]
    if settings["grad_accum"] < 1 or (args.batch_size is not None and args.batch_size % settings["grad_accum"]):
        raise ValueError(f"--grad-accum {settings['grad_accum']} must be a positive divisor of --batch-size {args.batch_size} "
                         f"(each step runs the batch as that many micro-batches of equal size)")
    for name in ("steps", "batch_size", "seq_len", "save_every", "eval_batches"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not 0 < args.mask_prob < 1:
        raise ValueError(f"--mask-prob must be in (0, 1), got {args.mask_prob}")
    return settings


PRECISIONS = ("fp32", "bf16", "fp16")


def gpu_support(backend: str) -> tuple[bool, bool]:
    """(a GPU is visible to the backend, every visible GPU computes in bfloat16 (compute capability 8.0+))."""
    import importlib.util

    if importlib.util.find_spec(BACKEND_PACKAGES[backend][0]) is None:
        return False, False  # check_backend refuses the run
    if backend == "pt":
        import torch

        visible = torch.cuda.is_available()
        # Compute capability 8.0+ (Ampere on): is_bf16_supported() also says yes where bfloat16 is only emulated.
        return visible, visible and all(torch.cuda.get_device_capability(i)[0] >= 8 for i in range(torch.cuda.device_count()))
    if backend == "flax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return bool(gpus), bool(gpus) and all(float(getattr(d, "compute_capability", "8.0")) >= 8.0 for d in gpus)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability", (8, 0)) for g in gpus]
    return bool(gpus), bool(gpus) and all(tuple(c) >= (8, 0) for c in capabilities)


def check_precision(backend: str, requested: str | None) -> None:
    """Refuse a --precision that no hardware makes right for this backend (asks no device)."""
    if requested is not None and requested not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested == "fp16" and backend != "pt":
        raise ValueError(f"--precision fp16 needs a loss scaler, which only --backend pt has; use --precision bf16 with --backend {backend}")


def resolve_precision(backend: str, requested: str | None, announce: bool = True) -> str:
    """--precision, checked against the hardware; without it bf16 on a GPU that computes in
    bfloat16 (said on stdout when `announce`), else fp32."""
    check_precision(backend, requested)
    gpu, bf16 = gpu_support(backend)
    if requested is None:
        chosen = "bf16" if bf16 else "fp32"
        if gpu and announce:
            print(f"precision: {chosen} (a GPU is visible{'' if bf16 else ' without bfloat16 support'}; --precision chooses)", flush=True)
        return chosen
    if requested == "bf16" and gpu and not bf16:
        raise ValueError("--precision bf16: this GPU does not compute in bfloat16 (it needs compute capability 8.0 or higher); "
                         "use --precision fp32, or fp16 with --backend pt")
    return requested


BACKEND_PACKAGES = {"pt": ("torch", "torch"), "tf": ("tensorflow", "tf"), "flax": ("jax", "flax")}


# The defaults of the settings that follow the hardware: (on CPU, with a GPU visible). On a GPU
# the default run is the paper's ELECTRA-Small shape (small preset, B = 128 of L = 128), which
# keeps the device busy where tiny at B = 16 would leave it waiting on the host.
HARDWARE_DEFAULTS = {"preset": ("tiny", "small"), "batch_size": (16, 128)}


def settle_hardware(settings: dict[str, Any], out: Path, resume: bool, announce: bool) -> None:
    """Resolve the settings that depend on the run's hardware, after the workers have started
    (JAX must not be asked for its devices before `jax.distributed.initialize`): --precision
    (`resolve_precision`), --preset and --batch-size (`HARDWARE_DEFAULTS`), then the preset's
    default --lr. --resume continues with the run's own values of those not given. A GPU
    default is said on stdout when `announce`."""
    previous = json.loads((out / "run.json").read_text()) if resume and (out / "run.json").is_file() else {}
    if settings["precision"] is None and previous:
        settings["precision"] = previous.get("precision", "fp32")  # runs from before --precision were fp32
    settings["precision"] = resolve_precision(settings["backend"], settings["precision"], announce)
    unset = [key for key in HARDWARE_DEFAULTS if settings[key] is None]
    visible = bool(unset) and not previous and gpu_support(settings["backend"])[0]  # asked once, and only if needed
    chosen = {}
    for key in unset:
        settings[key] = previous.get(key) or HARDWARE_DEFAULTS[key][visible]
        chosen[key] = settings[key]
    if announce and chosen and visible:
        given = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in chosen.items())
        print(f"defaults for a GPU: {given} (a GPU is visible; pass them to choose)", flush=True)
    if settings["lr"] is None:
        settings["lr"] = DEFAULT_LR.get(settings["preset"], 2e-4)


def check_replicas(settings: dict[str, Any], replicas: int) -> None:
    """Refuse a batch that the workers and --grad-accum cannot split into equal micro-batches."""
    if settings["batch_size"] % (replicas * settings["grad_accum"]):
        raise ValueError(f"--batch-size {settings['batch_size']} must divide into {replicas} data-parallel workers x "
                         f"--grad-accum {settings['grad_accum']} micro-batches of equal size; choose a batch size that is a "
                         f"multiple of {replicas * settings['grad_accum']}")


def check_backend(backend: str) -> None:
    """Refuse a backend whose framework is not installed, naming the extra that installs it."""
    import importlib.util

    module, extra = BACKEND_PACKAGES[backend]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"--backend {backend} needs {module}, which is not installed: pip install 'electra[{extra}]'")


def check_output(out: Path, settings: dict[str, Any], resume: bool, overwrite: bool) -> None:
    """Check that `out` can take this run; writes nothing. Each refusal names the way on."""
    run_file = out / "run.json"
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite starts it over: pass one of them")
    if resume:
        if not run_file.is_file():
            raise ValueError(f"--resume: {out} holds no run to continue; run the same command without --resume to start one")
        previous = json.loads(run_file.read_text())
        previous.setdefault("objective", "rtd")  # runs started before --objective existed
        previous.setdefault("precision", "fp32")  # and before --precision
        previous.setdefault("grad_accum", 1)  # and --grad-accum
        previous.setdefault("score_special_tokens", previous["objective"] == "rtd")  # and before [CLS]/[SEP] were left out
        changed = sorted(k for k in settings if previous.get(k) != settings[k])
        if changed:
            differences = "; ".join(f"{k} is {previous.get(k)!r} there, {settings[k]!r} now" for k in changed)
            raise ValueError(f"--resume: {out} holds a different run ({differences}); resume it with its own settings, "
                             f"or add --overwrite (without --resume) to start this one over in {out}")
        return
    if not out.exists() or not any(out.iterdir()):
        return
    if not run_file.is_file():
        raise ValueError(f"--out {out} holds files that are not an electra run; choose another --out (an empty or new folder)")
    if not overwrite:
        raise ValueError(f"--out {out} already holds a run: add --resume to continue it, --overwrite to start it over, "
                         f"or choose another --out")


def start_output(out: Path, settings: dict[str, Any], tokenizer, overwrite: bool) -> None:
    """Write the run's folder once everything it needs has been checked: `run.json` and
    `tokenizer/`, written beside `out` and renamed into place, so a crash leaves `out` as it
    was (with --overwrite, the run that was there is removed only after the swap)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging, old = out.with_name(f".{out.name}.starting"), out.with_name(f".{out.name}.replaced")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir()
    tokenizer.save_pretrained(staging / "tokenizer")
    atomic_write_text(staging / "run.json", json.dumps(settings, indent=2) + "\n")
    if out.exists():
        if overwrite:
            os.replace(out, old)
        else:
            out.rmdir()  # empty: check_output refused anything else
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def open_data(settings: dict[str, Any]):
    """The shards of --data, checked before anything is written (see `shards.Shards`). Their
    vocab.txt becomes the run's `vocab`, and the hash of their meta.json its `data_sha256`, so
    that --resume on other shards is refused; an explicit --vocab must be the same file."""
    from electra.common.pretraining.shards import META_FILE, Shards, file_sha256

    shards = Shards(settings["data"])
    if settings["vocab"] and file_sha256(settings["vocab"]) != shards.vocab_sha256:
        raise ValueError(f"--vocab {settings['vocab']} is not the vocab {settings['data']} was prepared with "
                         f"({shards.vocab_file}): leave --vocab out, or prepare the data again with this vocab")
    settings["vocab"] = str(shards.vocab_file)
    settings["data_sha256"] = file_sha256(shards.directory / META_FILE)
    return shards


def check_data_tokenizer(shards, tokenizer) -> None:
    """Refuse shards tokenized with options (lowercasing ...) other than the run's tokenizer has."""
    from electra.commands.prepare_data import tokenizer_options

    if shards.meta["tokenizer"] != tokenizer_options(tokenizer):
        raise ValueError(f"{shards.directory} was tokenized with {shards.meta['tokenizer']}, this run's tokenizer has "
                         f"{tokenizer_options(tokenizer)}: prepare the data again")


def new_tokenizer(settings: dict[str, Any], corpus_files: list[Path]):
    """The tokenizer of a new run: the given --vocab, or a WordPiece vocab trained on the
    corpus in a temporary folder (nothing is written to --out before the run starts)."""
    import tempfile

    from electra.common.tokenizers.fast import ElectraTokenizerFast, train_wordpiece

    if settings["vocab"]:
        return ElectraTokenizerFast(vocab_file=settings["vocab"])
    print(f"training a WordPiece vocab of {settings['vocab_size']} tokens on the corpus ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="electra-vocab-") as directory:
        return ElectraTokenizerFast(vocab_file=train_wordpiece(corpus_files, settings["vocab_size"], out_dir=directory))


def run_tokenizer(out: Path):
    """The tokenizer a started run wrote into `out/tokenizer`."""
    from electra.common.tokenizers.fast import ElectraTokenizerFast

    return ElectraTokenizerFast.from_pretrained(out / "tokenizer")


def base_config(settings: dict[str, Any]) -> ElectraConfig:
    """The discriminator's config before the vocabulary is known; --seq-len checked against it."""
    if settings["config"]:
        disc = ElectraConfig.from_pretrained(settings["config"])
    else:
        disc = preset_config(settings["preset"])
    if settings["seq_len"] > disc.max_position_embeddings:
        source = f"--config {settings['config']}" if settings["config"] else f"--preset {settings['preset']}"
        raise ValueError(f"--seq-len {settings['seq_len']} is longer than the {disc.max_position_embeddings} positions of "
                         f"{source}: pass --seq-len {disc.max_position_embeddings} or less")
    return disc


def model_configs(base: ElectraConfig, settings: dict[str, Any], vocab_size: int) -> tuple[ElectraConfig, ElectraConfig | None]:
    """Discriminator and generator configs for the run, with the tokenizer's vocabulary
    (`--objective mlm`: the masked-LM network's, of the discriminator's size, and None)."""
    disc = base.replace(vocab_size=vocab_size)
    if settings.get("objective", "rtd") == "mlm":  # runs started before --objective have none
        return disc.replace(tie_word_embeddings=True), None
    return disc, generator_config(disc, settings["generator_fraction"])


class SingleWorker:
    """A run on one worker: it is the chief and waits for nobody. A data-parallel run uses
    the backend's `DataParallelWorkers` instead (same attributes)."""

    is_chief = True
    replicas = 1  # devices or processes the batch is split over
    trainer_args: dict[str, Any] = {}

    def barrier(self) -> None:
        pass


def workers(backend: str, data_parallel: bool):
    """The run's workers: the backend's `DataParallelWorkers` (DDP under torchrun, a JAX mesh,
    a `tf.distribute` strategy), or a `SingleWorker`."""
    if not data_parallel:
        return SingleWorker()
    import importlib

    return importlib.import_module(f"electra.{backend}.trainer").DataParallelWorkers()


def max_predictions(settings: dict[str, Any]) -> int:
    """The most positions masked in one sequence: the masking's cap, which every trainer is given
    (the Flax trainer's K, so its steps compile once)."""
    return max(1, default_max_predictions(settings["mask_prob"], settings["seq_len"]))


def heldout_batches(corpus, data_args: dict[str, Any], count: int, settings: dict[str, Any]) -> list[dict[str, np.ndarray]]:
    """The first `count` held-out batches; a corpus without one is refused with what to change."""
    from electra.common.pretraining.batches import PretrainingBatches

    heldout = []
    try:
        for batch in PretrainingBatches(corpus, split="eval", **data_args):
            heldout.append(model_inputs(batch))
            if len(heldout) == count:
                break
    except ValueError as err:
        if "corpus too small" not in str(err):
            raise
    if not heldout:
        raise ValueError(corpus_too_small("held-out", corpus, settings))
    return heldout


def check_corpus_size(train, settings: dict[str, Any]) -> None:
    """Refuse a corpus without one training batch; the reader is left at its start."""
    state = train.state_dict()
    try:
        next(train)
    except ValueError as err:
        if "corpus too small" not in str(err):
            raise
        raise ValueError(corpus_too_small("training", train.corpus, settings)) from None
    train.load_state_dict(state)


def corpus_too_small(split: str, corpus, settings: dict[str, Any]) -> str:
    sources = ", ".join(str(source) for source in corpus.sources)
    return (f"the corpus ({sources}) is too small for one {split} batch of {settings['batch_size']} sequences of "
            f"{settings['seq_len']} tokens (one document in 20 is held out): give more text with --corpus, "
            f"or lower --batch-size or --seq-len")


def make_trainer(backend: str, disc: ElectraConfig, gen: ElectraConfig | None, settings: dict[str, Any],
                 trainer_args: dict[str, Any] | None = None, compile: bool = False, special_ids: tuple[int, ...] = ()):
    """The backend's `PretrainingTrainer` for these configs and settings: around an
    `ElectraPretrainer`, or a `MaskedLMPretrainer` for `--objective mlm`. `special_ids`
    ([CLS], [SEP]) are left out of the discriminator's loss unless `score_special_tokens`."""
    import importlib

    module = importlib.import_module(f"electra.{backend}.trainer")
    schedule = LinearSchedule(settings["lr"], settings["warmup_steps"], settings["steps"])
    # pt casts inside the step (autocast); tf and flax build their layers in the compute dtype.
    precision = {"precision": settings.get("precision") or "fp32"}
    built_in, in_step = ({}, precision) if backend == "pt" else (precision, {})
    if settings.get("objective", "rtd") == "mlm":
        pretrainer = module.MaskedLMPretrainer(disc, seed=settings["seed"], **built_in)
    else:
        weights = recipe.LossWeights(discriminator=settings["disc_weight"])
        unscored = () if settings.get("score_special_tokens", True) else tuple(special_ids)
        pretrainer = module.ElectraPretrainer(disc, gen, loss_weights=weights, seed=settings["seed"], prior=settings["mask_prob"],
                                              unscored_ids=unscored,
                                              **built_in)
    # --compile: torch.compile in pt, XLA (jit_compile) in tf; flax steps are always jax.jit-compiled.
    compiled = {"pt": {"compile": compile}, "tf": {"jit_compile": compile}, "flax": {}}[backend]
    return module.PretrainingTrainer(pretrainer, schedule, seed=settings["seed"], max_predictions=max_predictions(settings),
                                     grad_accum=settings.get("grad_accum") or 1, **in_step, **compiled, **(trainer_args or {}))


def model_inputs(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trainer's inputs from a `PretrainingBatches` batch."""
    return {
        "input_ids": batch["input_ids"],
        "masked_ids": batch["masked_input_ids"],
        "mlm_labels": batch["mlm_labels"],
        "attention_mask": batch["attention_mask"],
        "token_type_ids": batch["token_type_ids"],
    }


def save_checkpoint(out: Path, trainer, step: int, data_state: dict[str, Any]) -> None:
    """Write the training state to `checkpoint/` atomically (new folder, then swap)."""
    from safetensors.numpy import save_file

    tmp = out / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # C order: safetensors writes an array's buffer as it lies, so a transposed view (the Flax
    # trainer's kernels in canonical layout) would be stored scrambled.
    save_file({k: np.ascontiguousarray(v) for k, v in trainer.state_arrays().items()}, str(tmp / "state.safetensors"))
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "data": data_state}) + "\n")
    final, old = out / "checkpoint", out / ".checkpoint-old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(out: Path, trainer) -> tuple[int, dict[str, Any]]:
    """Restore the training state; returns (step, data reader state)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = out / "checkpoint"
    if not directory.is_dir() and (out / ".checkpoint-old").is_dir():
        directory = out / ".checkpoint-old"  # a crash between the two renames of save_checkpoint
    try:
        meta = json.loads((directory / "trainer_state.json").read_text())
        arrays = load_file(str(directory / "state.safetensors"))
        step, data_state = int(meta["step"]), meta["data"]
    except (OSError, ValueError, KeyError, SafetensorError) as err:
        raise ValueError(f"--resume: checkpoint in {directory} is missing or corrupt ({err})") from None
    trainer.load_state_arrays(arrays)
    return step, data_state


def evaluate(trainer, batches: list[dict[str, np.ndarray]], step: int) -> dict[str, float]:
    """Held-out generator accuracy and discriminator AUC / precision / recall; for
    `--objective mlm` the masked-LM network's accuracy and loss."""
    parts = [trainer.evaluate(b, step=i) for i, b in enumerate(batches)]
    if trainer.model.objective == "mlm":
        return {
            "step": step,
            "heldout_mlm_accuracy": float(np.concatenate([p["generator_correct"] for p in parts]).mean()),
            "heldout_mlm_loss": float(np.mean([p["generator_loss"] for p in parts])),
        }
    valid = np.concatenate([p["valid"].ravel() for p in parts]).astype(bool)
    scores = np.concatenate([p["scores"].ravel() for p in parts])[valid]
    replaced = np.concatenate([p["replaced"].ravel() for p in parts])[valid]
    rates = precision_recall_accuracy(binary_counts(scores > 0, replaced))
    return {
        "step": step,
        "heldout_generator_accuracy": float(np.concatenate([p["generator_correct"] for p in parts]).mean()),
        "heldout_generator_loss": float(np.mean([p["generator_loss"] for p in parts])),
        "heldout_discriminator_loss": float(np.mean([p["discriminator_loss"] for p in parts])),
        "heldout_discriminator_auc": roc_auc(scores, replaced),
        "heldout_discriminator_accuracy": rates["accuracy"],
        "heldout_discriminator_precision": rates["precision"],
        "heldout_discriminator_recall": rates["recall"],
        "heldout_replaced_fraction": float(replaced.mean()),
    }


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """The logged records, optionally only those of steps <= `up_to_step`."""
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if up_to_step is None or r.get("step", 0) <= up_to_step]


# The panels of curves.png per objective: (metric, title, from the held-out evaluations).
CURVES = {
    "rtd": (("generator_loss", "generator loss", False), ("discriminator_loss", "discriminator loss", False),
            ("heldout_discriminator_auc", "held-out replaced-token AUC", True)),
    "mlm": (("loss", "masked-LM loss", False), ("mlm_accuracy", "masked-LM accuracy", False),
            ("heldout_mlm_accuracy", "held-out masked-LM accuracy", True)),
}


def plot_curves(records: list[dict[str, Any]], file: Path, objective: str = "rtd") -> bool:
    """Losses and held-out AUC (masked-LM accuracy) over steps as a PNG; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for i, (ax, (key, title, heldout)) in enumerate(zip(axes, CURVES[objective])):
        points = [(r["step"], r[key]) for r in records if key in r]
        ax.plot(*zip(*points) if points else ([], []), "o-" if heldout else "-", color=f"C{i}")
        ax.set_title(title)
    if objective == "rtd":
        axes[2].set_ylim(0.4, 1.0)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = file.with_name(f".{file.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, file)
    return True


@contextlib.contextmanager
def closing_feed(feed):
    """Stop the prefetching thread when the loop ends, also on a crash or a kill."""
    try:
        yield feed
    finally:
        if feed is not None:
            feed.close()


def log_line(record: dict[str, Any]) -> str:
    """One line of metrics.jsonl: standard JSON, a value that is not finite (the gradient norm
    of an fp16 step the loss scaler skipped) written as null."""
    return json.dumps({k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in record.items()}) + "\n"


def step_summary(metrics: dict[str, float]) -> dict[str, str]:
    """The losses a progress line shows: the generator's and the discriminator's, or the masked-LM accuracy."""
    if "mlm_accuracy" in metrics:
        return {"mlm_acc": f"{metrics['mlm_accuracy']:.3f}"}
    return {"gen": f"{metrics['generator_loss']:.3f}", "disc": f"{metrics['discriminator_loss']:.4f}"}


def run_pretraining(args: argparse.Namespace) -> dict[str, float]:
    """The whole `electra pretrain` job; returns the final held-out evaluation."""
    from electra.common.pretraining.batches import PretrainingBatches
    from electra.common.pretraining.corpus import Corpus, default_corpus

    settings = run_settings(args)
    out = Path(args.out)
    overwrite = getattr(args, "overwrite", False)
    check_backend(settings["backend"])
    if settings["data"]:  # pre-tokenized: the same documents, read from memory-mapped shards
        corpus = open_data(settings)
    else:
        corpus = Corpus(settings["corpus"] if settings["corpus"] else [default_corpus()])
    parallel = workers(settings["backend"], getattr(args, "data_parallel", False))
    settle_hardware(settings, out, args.resume, announce=parallel.is_chief)
    base = base_config(settings)  # the preset is known now
    check_replicas(settings, parallel.replicas)
    if parallel.is_chief:
        check_output(out, settings, args.resume, overwrite)
        tokenizer = run_tokenizer(out) if args.resume else new_tokenizer(settings, [] if settings["data"] else list(corpus.files))
    else:  # the others read the tokenizer the chief writes
        parallel.barrier()
        tokenizer = run_tokenizer(out)
    if settings["data"]:
        check_data_tokenizer(corpus, tokenizer)
    disc_config, gen_config = model_configs(base, settings, tokenizer.vocab_size)
    data_args = dict(
        tokenize_batch=tokenizer.encode_batch_ids,
        cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id,
        pad_id=tokenizer.pad_token_id, mask_id=tokenizer.mask_token_id,
        batch_size=settings["batch_size"], seq_len=settings["seq_len"], seed=settings["seed"],
        mask_prob=settings["mask_prob"], max_predictions=max_predictions(settings),
    )
    train = PretrainingBatches(corpus, split="train", **data_args)
    heldout = heldout_batches(corpus, data_args, args.eval_batches, settings)
    check_corpus_size(train, settings)
    if parallel.is_chief:  # everything is checked: the run starts here
        if not args.resume:
            start_output(out, settings, tokenizer, overwrite)
        parallel.barrier()
    trainer = make_trainer(settings["backend"], disc_config, gen_config, settings, parallel.trainer_args,
                           compile=getattr(args, "compile", False), special_ids=(tokenizer.cls_token_id, tokenizer.sep_token_id))
    objective = settings["objective"]
    chief = parallel.is_chief

    step = 0
    metrics_file = out / "metrics.jsonl"
    if args.resume and ((out / "checkpoint").is_dir() or (out / ".checkpoint-old").is_dir()):
        step, data_state = load_checkpoint(out, trainer)
        train.load_state_dict(data_state)
        print(f"resuming {out} at step {step}", flush=True)
    # Keep only the records of steps the checkpoint covers: the resumed run logs the rest again.
    if chief:
        kept = read_metrics(metrics_file, up_to_step=step)
        atomic_write_text(metrics_file, "".join(json.dumps(r) + "\n" for r in kept))
    parallel.barrier()

    total = settings["steps"]
    tokens_per_step = settings["batch_size"] * settings["seq_len"]
    bar = None
    if chief and not args.no_progress and sys.stderr.isatty():  # in a log file: a line per checkpoint instead
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)
    log_every = max(1, min(20, total // 50))
    started, started_step = time.perf_counter(), step
    # Batches built ahead in a background thread (--prefetch); its state_dict is the position
    # after the last batch consumed, so checkpoints and resume are as without it.
    prefetch = getattr(args, "prefetch", DEFAULT_PREFETCH)
    # Each batch is also staged for the device there (pinned host memory in pt, device_put in flax).
    feed = Prefetcher(train, depth=prefetch, transform=lambda batch: trainer.stage(model_inputs(batch))) if prefetch else None
    # Each logged record covers the steps since the previous log or checkpoint (recipe.MetricsWindow).
    window = recipe.MetricsWindow()
    with open(metrics_file if chief else os.devnull, "a", encoding="utf-8") as log, closing_feed(feed):
        while step < total:
            batch = next(feed) if feed is not None else model_inputs(next(train))
            window.add(trainer.train_step(batch, step))  # summed on the device; read at logged and saved steps
            step += 1
            rate = (step - started_step) * tokens_per_step / (time.perf_counter() - started)
            saving = step % args.save_every == 0 or step == total
            if step % log_every == 0 or saving:
                metrics = recipe.objective_metrics(objective, window.read())
                if step % log_every == 0 or step == total:
                    log.write(log_line({"step": step, **metrics, "tokens_per_s": rate}))
                    log.flush()
                if bar is not None:
                    bar.set_postfix(**step_summary(metrics), tok_s=f"{rate:,.0f}")
            if bar is not None:
                bar.update(1)
            if saving:
                # Evaluate, log, then checkpoint: a resumed run keeps the records up to its checkpoint.
                result = evaluate(trainer, heldout, step)
                log.write(json.dumps(result) + "\n")
                log.flush()
                if chief:
                    save_checkpoint(out, trainer, step, (feed or train).state_dict())
                if bar is None and chief:
                    summary = "  ".join(f"{k} {v}" for k, v in step_summary(metrics).items())
                    print(f"step {step}/{total}  loss {metrics['loss']:.4f}  {summary}  {rate:,.0f} tokens/s", flush=True)
    if bar is not None:
        bar.close()

    if started_step == total:  # resumed a finished run: nothing trained, evaluate once more
        result = evaluate(trainer, heldout, step)
    if not chief:
        return result
    trainer.export(out)
    networks = recipe.NETWORKS[objective]
    for network in networks:
        tokenizer.save_pretrained(out / network)
    plotted = plot_curves(read_metrics(metrics_file), out / "curves.png", objective)
    saved = " and ".join(str(out / network) for network in networks) + (f"; curves in {out / 'curves.png'}" if plotted else "")
    if objective == "mlm":
        print(f"held-out ({len(heldout)} batches): masked-LM accuracy {result['heldout_mlm_accuracy']:.3f}, "
              f"loss {result['heldout_mlm_loss']:.3f}")
        print(f"saved {saved}")
        return result
    print(
        f"held-out ({len(heldout)} batches): generator accuracy {result['heldout_generator_accuracy']:.3f}, "
        f"discriminator replaced-token AUC {result['heldout_discriminator_auc']:.3f} "
        f"(precision {result['heldout_discriminator_precision']:.3f}, recall {result['heldout_discriminator_recall']:.3f}, "
        f"{result['heldout_replaced_fraction']:.1%} of tokens replaced)"
    )
    print(f"saved {saved}")
    return result
