"""The paper's claim in miniature: replaced token detection against masked LM at equal
pretraining compute, both fine-tuned on Rotten Tomatoes sentence polarity, with a randomly
initialised model as the floor.

Each arm runs the real commands, as a user runs them, in subprocesses:

1. `electra pretrain` (replaced token detection; the default recipe unless changed here): the
   discriminator of the tiny preset with its 1/4 generator, its own WordPiece vocab trained on
   the corpus (default: the embedded corpus, the standard library's docstrings).
2. `electra pretrain --objective mlm` with that vocab: one masked-LM network of the
   discriminator's size on the same data, masking, optimizer and schedule. At `--equal flops`
   (default) it trains for as many steps as give it the RTD run's training FLOPs, the
   generator's cost counted (`electra.common.pretraining.flops`); at `--equal steps`, as many
   steps.
3. A randomly initialised discriminator of the same config and vocab (a new one per seed).
4. `electra finetune --task classification` of each on a fixed split of
   ../shared/data/rotten_tomatoes (`fresh` vs `rotten`, `plot` rows dropped, 80/10/10 from a
   seeded permutation), once per fine-tuning seed: the test accuracy of the best validation
   epoch (results.json).

    python benchmarks/rtd_vs_mlm.py --markdown docs/rtd-vs-mlm-table.md
    python benchmarks/rtd_vs_mlm.py --preset small --steps 20000 --batch-size 128 ...   # on a GPU

Finished pretraining runs and fine-tunes in --work are reused when the same command made
them (delete it to start over; one made with other settings is refused, not reported), so a
stopped benchmark continues where it was.
"""

from __future__ import annotations

import os
import sys

# `python benchmarks/rtd_vs_mlm.py` puts benchmarks/ first on sys.path, where
# benchmarks/tokenizers.py would shadow the `tokenizers` library.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import bz2  # noqa: E402
import csv  # noqa: E402
import datetime  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from electra.common.config import ElectraConfig  # noqa: E402
from electra.common.pretraining.flops import mlm_step_flops, rtd_step_flops  # noqa: E402
from electra.common.pretraining.masking import DEFAULT_MASK_PROB  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "rotten_tomatoes" / "rotten_tomatoes_corpus_full.csv.bz2"
SPLIT_SEED = 1234
ARMS = ("rtd", "mlm", "random")


def write_split(work: Path) -> dict[str, Path]:
    """train/validation/test CSVs (text,label) of the fixed 80/10/10 split."""
    if not DATA.is_file():
        sys.exit(f"{DATA} is missing: the benchmark fine-tunes on the shared Rotten Tomatoes data")
    with bz2.open(DATA, "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(rows))
    cuts = (int(0.8 * len(rows)), int(0.9 * len(rows)))
    parts = dict(zip(("train", "validation", "test"), np.split(order, cuts)))
    files = {}
    (work / "data").mkdir(parents=True, exist_ok=True)
    for name, indices in parts.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["text", "label"])
        writer.writerows([rows[i]["text"], rows[i]["category"]] for i in indices)
        files[name] = work / "data" / f"{name}.csv"
        files[name].write_text(buffer.getvalue(), encoding="utf-8")
    return files


def run(command: list[str], log: Path) -> float:
    """Run `python -m electra <command>`, its output in `log`; returns the wall time."""
    started = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-m", "electra", *command], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode:
        sys.exit(f"electra {' '.join(command)} failed ({done.returncode}); see {log}")
    return time.perf_counter() - started


def pretrain(args, out: Path, objective: str, steps: int, vocab: Path | None) -> dict:
    """A finished pretraining run in `out` (reused when the same command made it): wall time and held-out metrics."""
    info_file = out.with_suffix(".json")
    command = ["pretrain", "--objective", objective, "--backend", args.backend, "--preset", args.preset, "--steps", str(steps),
               "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len), "--seed", str(args.pretrain_seed),
               "--out", str(out), "--overwrite", "--no-progress"]
    if args.corpus:
        command += ["--corpus", *map(str, args.corpus)]
    if vocab is not None:
        command += ["--vocab", str(vocab)]
    command += args.pretrain_args.split()
    if objective == "rtd" and args.rtd_args:
        command += args.rtd_args.split()
    if info_file.is_file() and (out / ("discriminator" if objective == "rtd" else "mlm")).is_dir():
        return reused(json.loads(info_file.read_text()), command, info_file)
    seconds = run(command, out.with_suffix(".log"))
    heldout = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    info = {"objective": objective, "steps": steps, "seconds": seconds, "heldout": heldout, "command": command}
    info_file.write_text(json.dumps(info, indent=2) + "\n")
    return info


def reused(info: dict, command: list[str], file: Path) -> dict:
    """`info` of a finished run or fine-tune in --work, if it was made by this same command;
    a result of other settings is refused, never reported as this one's."""
    if info.get("command") != command:
        sys.exit(f"{file} was made by another command ({' '.join(info.get('command') or ['(not recorded)'])}), not "
                 f"{' '.join(command)}: delete it (or its --work) to rerun, or choose another --work")
    return info


def random_model(directory: Path, config: ElectraConfig, tokenizer_dir: Path, seed: int) -> Path:
    """A randomly initialised discriminator (HF's initialisation) with the run's tokenizer."""
    import torch

    from electra.common.tokenizers.fast import ElectraTokenizerFast
    from electra.pt import ElectraForPreTraining

    if not (directory / "config.json").is_file():
        torch.manual_seed(seed)
        ElectraForPreTraining(config).save_pretrained(directory)
        ElectraTokenizerFast.from_pretrained(tokenizer_dir).save_pretrained(directory)
    return directory


def finetune(args, model: Path, split: dict[str, Path], out: Path, seed: int) -> dict:
    """A finished fine-tune in `out` (reused when the same command made it): results.json and wall time."""
    results, made_by = out / "results.json", out.with_name(out.name + ".json")
    command = ["finetune", "--task", "classification", "--backend", args.backend, "--model", str(model),
               "--train", str(split["train"]), "--validation", str(split["validation"]), "--test", str(split["test"]),
               "--max-length", str(args.max_length), "--seed", str(seed), "--out", str(out), "--overwrite", "--no-progress"]
    for flag, value in (("--epochs", args.epochs), ("--lr", args.lr), ("--layerwise-lr-decay", args.layerwise_lr_decay)):
        if value is not None:
            command += [flag, str(value)]
    if results.is_file() and made_by.is_file():
        info = reused(json.loads(made_by.read_text()), command, made_by)
    else:
        info = {"command": command, "seconds": run(command, out.with_name(out.name + ".log"))}
        made_by.write_text(json.dumps(info, indent=2) + "\n")
    return json.loads(results.read_text()) | {"seconds": info["seconds"]}


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {sd:.4f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("runs/rtd-vs-mlm"), help="runs, fine-tunes and the split (reused)")
    p.add_argument("--backend", default="pt")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--corpus", nargs="+", type=Path, help="pretraining text (default: the embedded corpus)")
    p.add_argument("--steps", type=int, default=1200, help="replaced-token-detection steps (default: the default run's 1200)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--corpus-from-train", action="store_true", help="pretrain on the training split's sentences (their "
                   "text, no labels; never the validation or test text): task-adaptive pretraining, in place of --corpus")
    p.add_argument("--pretrain-seed", type=int, default=0)
    p.add_argument("--rtd-args", default="", help='more options of the RTD pretraining, e.g. "--generator-fraction 0.5" '
                   "(the masked-LM arm's FLOPs follow the generator's size)")
    p.add_argument("--pretrain-args", default="", help='more options of both pretrainings (RTD and masked LM), e.g. '
                   '"--lr 2e-3" (written with =: --pretrain-args="--lr 2e-3")')
    p.add_argument("--equal", choices=("flops", "steps"), default="flops", help="what the masked-LM arm matches (default: flops)")
    p.add_argument("--seeds", default="0,1,2", help="fine-tuning seeds (default: 0,1,2)")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--epochs", type=int, help="fine-tuning epochs (default: electra finetune's)")
    p.add_argument("--lr", type=float, help="fine-tuning learning rate (default: electra finetune's)")
    p.add_argument("--layerwise-lr-decay", type=float, help="(default: electra finetune's)")
    p.add_argument("--max-length", type=int, default=64, help="fine-tuning tokens per sentence (default: 64)")
    p.add_argument("--markdown", type=Path, help="write the table here")
    p.add_argument("--json", type=Path, help="write every number here (default: WORK/results.json)")
    args = p.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    arms = args.arms.split(",")
    split = write_split(work)
    if args.corpus_from_train:
        if args.corpus:
            sys.exit("--corpus-from-train pretrains on the training split's sentences: leave out --corpus")
        with split["train"].open(encoding="utf-8", newline="") as f:  # the training sentences only
            sentences = [row["text"].replace("\n", " ") for row in csv.DictReader(f)]
        # One sentence per line, a blank line after every 20: documents of 20 sentences, one in
        # 20 of them held out by `electra pretrain`.
        text = "".join(s + "\n" + ("\n" if i % 20 == 19 else "") for i, s in enumerate(sentences))
        (work / "data" / "train-text.txt").write_text(text, encoding="utf-8")
        args.corpus = [work / "data" / "train-text.txt"]

    rtd = pretrain(args, work / "rtd", "rtd", args.steps, None)
    disc = ElectraConfig.from_pretrained(work / "rtd" / "discriminator")
    gen = ElectraConfig.from_pretrained(work / "rtd" / "generator")
    predictions = DEFAULT_MASK_PROB * args.batch_size * (args.seq_len - 3)  # [CLS] and two [SEP] are never masked
    flops = {"rtd": rtd_step_flops(disc, gen, args.batch_size, args.seq_len, predictions),
             "mlm": mlm_step_flops(disc, args.batch_size, args.seq_len, predictions)}
    steps = {"rtd": args.steps, "random": 0,
             "mlm": args.steps if args.equal == "steps" else round(args.steps * flops["rtd"] / flops["mlm"])}
    runs = {"rtd": rtd}
    if "mlm" in arms:
        runs["mlm"] = pretrain(args, work / "mlm", "mlm", steps["mlm"], work / "rtd" / "tokenizer" / "vocab.txt")

    results = {}
    for arm in arms:
        for seed in seeds:
            model = {"rtd": work / "rtd" / "discriminator", "mlm": work / "mlm" / "mlm"}.get(arm)
            if arm == "random":
                model = random_model(work / f"random-{seed}", disc, work / "rtd" / "tokenizer", seed)
            result = finetune(args, model, split, work / "finetune" / f"{arm}-{seed}", seed)
            results.setdefault(arm, []).append(result)
            print(f"{arm} seed {seed}: test accuracy {result['test']['accuracy']:.4f} "
                  f"(validation {result['validation']['accuracy']:.4f}, {result['seconds']:.0f} s)", flush=True)

    corpus_name = "the embedded corpus" if not args.corpus else ", ".join(p.name for p in args.corpus)
    if args.corpus_from_train:
        corpus_name += " (the training split's sentences)"
    lines = [
        f"Rotten Tomatoes fresh/rotten ({', '.join(f'{len(split[k].read_text().splitlines()) - 1:,} {k}' for k in split)}), "
        f"`electra finetune` defaults but --max-length {args.max_length}"
        + "".join(f", {flag} {value}" for flag, value in (("--epochs", args.epochs), ("--lr", args.lr)) if value is not None)
        + f", fine-tuning seeds {args.seeds}. Pretraining: --preset {args.preset}, batch {args.batch_size} x {args.seq_len}, "
        f"{corpus_name}, backend {args.backend}, "
        f"masked-LM arm at equal {args.equal}.",
        "",
        "| arm | pretraining steps | pretraining TFLOP | pretraining wall s | held-out pretraining metric | test accuracy per seed | test accuracy mean ± sd |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for arm in arms:
        accs = [r["test"]["accuracy"] for r in results[arm]]
        info = runs.get(arm)
        if arm == "rtd":
            metric = f"AUC {info['heldout']['heldout_discriminator_auc']:.3f}, generator acc {info['heldout']['heldout_generator_accuracy']:.3f}"
        elif arm == "mlm":
            metric = f"MLM acc {info['heldout']['heldout_mlm_accuracy']:.3f}"
        else:
            metric = "-"
        tflop = steps[arm] * flops.get(arm, 0.0) / 1e12
        lines.append(f"| {arm} | {steps[arm]:,} | {tflop:.1f} | {info['seconds']:.0f} | {metric} | "
                     f"{', '.join(f'{a:.4f}' for a in accs)} | {spread(accs)} |" if info else
                     f"| {arm} | 0 | 0 | 0 | {metric} | {', '.join(f'{a:.4f}' for a in accs)} | {spread(accs)} |")
    lines += ["", f"Run {datetime.date.today()} on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs."]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    (args.json or work / "results.json").write_text(json.dumps(
        {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "corpus"},
         "steps": steps, "step_flops": flops, "pretraining": runs, "finetuning": results}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
