"""The `electra` command: `electra pretrain` (replaced token detection), `electra prepare-data`
(its corpus tokenized once into shards), `electra detect`, `electra convert` (a checkpoint in
another framework's format) and `electra finetune`.

Each subcommand parses its arguments here and calls into the library; errors a user can
fix (bad paths, bad sizes, an output folder holding another run) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from electra.commands import convert, predict, prepare_data
from electra.common.errors import CheckpointError
from electra.common.pretraining.masking import DEFAULT_MASK_PROB
from electra.common.pretraining.recipe import OBJECTIVES

BACKENDS = ("pt", "tf", "flax")


def _pretrain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain a generator + discriminator with replaced token detection (or --objective mlm: masked LM)",
        description="Pretrain ELECTRA (replaced token detection), or with --objective mlm the masked-LM baseline. "
        "With no --corpus, trains on the docstrings of this Python's standard library and its help topics "
        "(nothing downloaded).",
    )
    p.add_argument("--objective", choices=OBJECTIVES, default="rtd",
                   help="rtd: generator + discriminator (ELECTRA); mlm: one masked-LM network of the discriminator's size, "
                   "trained on the same masked batches, written to OUT/mlm (the paper's BERT baseline) (default: rtd)")
    p.add_argument("--backend", choices=BACKENDS, default="pt", help="framework to train with (default: pt)")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--corpus", nargs="+", type=Path, help="text files, folders or JSON Lines files (default: the embedded corpus)")
    data.add_argument("--data", type=Path, help="a folder written by `electra prepare-data`: the same batches as its corpus, "
                      "without tokenizing (its vocab.txt is the run's; --vocab, if given, must be the same file)")
    p.add_argument("--preset", default=None, help="model size: tiny, small, base, large (default: tiny; small when a GPU "
                   "is visible)")
    p.add_argument("--config", type=Path, help="a discriminator config.json instead of --preset")
    p.add_argument("--generator-fraction", type=float, default=None,
                   help="generator hidden size / discriminator hidden size (default: 0.25; rtd only)")
    p.add_argument("--steps", type=int, default=1200, help="optimizer steps (default: 1200)")
    p.add_argument("--batch-size", type=int, default=None, help="sequences per step (default: 16; 128 when a GPU is visible)")
    p.add_argument("--seq-len", type=int, default=128, help="tokens per sequence (default: 128)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 5e-4 tiny/small, 2e-4 base/large)")
    p.add_argument("--warmup-steps", type=int, default=None, help="linear warmup steps (default: 10%% of --steps, at most 10000)")
    p.add_argument("--mask-prob", type=float, default=DEFAULT_MASK_PROB,
                   help="fraction of tokens masked for the generator (the masked-LM network with --objective mlm) (default: %(default)s)")
    p.add_argument("--disc-weight", type=float, default=None, help="weight of the discriminator loss (default: 50; rtd only)")
    p.add_argument("--score-special-tokens", action="store_true",
                   help="count [CLS] and [SEP] in the discriminator's loss, as Google's code and HF do (default: left out, since "
                   "they are never replaced and scoring them empties the [CLS] vector that classifiers read; rtd only)")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step: the batch runs in N equal "
                   "parts whose gradients add up (the same step as the whole batch with dropout off; each part draws only its rows' "
                   "Gumbel noise, so less activation memory in every backend) (default: 1)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default=None,
                   help="compute precision: bf16 or fp16 autocast (fp16 with a loss scaler, pt only); parameters, optimizer, "
                   "sampling and losses stay float32 (default: bf16 on a GPU that has it, else fp32)")
    p.add_argument("--seed", type=int, default=0, help="seeds the initialisation, data order, masking, sampling and dropout (default: 0)")
    p.add_argument("--out", type=Path, default=Path("runs/electra-pretrain"), help="output directory (default: runs/electra-pretrain)")
    p.add_argument("--vocab", type=Path, help="a WordPiece vocab.txt; without it one is trained on the corpus first")
    p.add_argument("--vocab-size", type=int, default=8000, help="size of the vocab trained when --vocab is not given (default: 8000)")
    p.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps (default: 200)")
    p.add_argument("--eval-batches", type=int, default=8, help="held-out batches scored at every checkpoint (default: 8)")
    p.add_argument("--compile", action="store_true", help="compile the training step: torch.compile (pt), XLA jit_compile "
                   "(tf); flax steps are always compiled (jax.jit)")
    p.add_argument("--prefetch", type=int, default=2, help="batches built ahead of the step in a background thread; "
                   "0 builds each batch before its step (the same batches either way) (default: 2)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start over in an --out that holds a run (the old run is deleted)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (a line per checkpoint instead; also the default when the output is not a terminal)")
    p.add_argument("--verbose", action="store_true", help="let the framework's own log messages through (TensorFlow's start-up notices)")
    p.add_argument(
        "--data-parallel", action="store_true",
        help="split each batch over workers: pt under torchrun (gloo on CPU, NCCL on GPU); flax over every JAX device "
        "(multi-host with JAX_COORDINATOR_ADDRESS set); tf with MirroredStrategy (MultiWorkerMirroredStrategy with TF_CONFIG)",
    )


def _detect_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect",
        help="show, for each token, the discriminator's probability that it was replaced",
        description="Run a pretrained discriminator on text and print each token with the "
        "probability that it was replaced (the ELECTRA demo).",
    )
    p.add_argument("--model", type=Path, required=True, help="a discriminator directory (config.json, weights, tokenizer files)")
    p.add_argument("--backend", choices=BACKENDS, default="pt", help="framework to run the model with (default: pt)")
    p.add_argument("--tokenizer", type=Path, help="tokenizer directory (default: --model)")
    p.add_argument("--replace", action="store_true",
                   help="first replace one word of each text by another word of the vocabulary (drawn with --seed), "
                   "then check it: the demo of the method on any sentence")
    p.add_argument("--seed", type=int, default=0, help="draws the word --replace changes and its replacement (default: 0)")
    p.add_argument("--verbose", action="store_true", help="let the framework's own log messages through (TensorFlow's start-up notices)")
    p.add_argument("text", nargs="+", help="text to check; several arguments are checked one by one")


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a model as an ONNX, SavedModel, TFLite, StableHLO or TorchScript artifact",
        description="Export MODEL_DIR (config.json + weights) to OUT for serving: the artifact, export.json (inputs, "
        "outputs, axes), config.json and the tokenizer files. Formats: onnx (electra.pt, model.onnx; dynamic batch and "
        "length; fp32, fp16), torchscript (electra.pt, model.pt; a trace runs at any batch and length; fp32, fp16, bf16), "
        "savedmodel (electra.tf, saved_model/; dynamic batch and length; fp32), tflite (electra.tf, model.tflite; fixed "
        "shapes only: --batch-size and --length; fp32), stablehlo (electra.flax, jax.export bytes in model.stablehlo; "
        "dynamic batch and length; fp32, bf16). See docs/deployment.md.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", type=Path, help="a directory from_pretrained reads (config.json + weights)")
    p.add_argument("out", metavar="OUT", type=Path, help="output directory (new or empty; --overwrite replaces one)")
    p.add_argument("--format", required=True, metavar="FORMAT", help="onnx, savedmodel, tflite, stablehlo or torchscript")
    p.add_argument("--architecture", help="model class (default: config.json's architectures[0], else ElectraModel)")
    p.add_argument("--dynamic-batch", action="store_true", help="any batch size (onnx, savedmodel, stablehlo; not tflite)")
    p.add_argument("--dynamic-length", action="store_true",
                   help="any length up to max_position_embeddings (onnx, savedmodel, stablehlo; not tflite)")
    p.add_argument("--batch-size", type=int, help="the fixed batch size without --dynamic-batch (default: 1)")
    p.add_argument("--length", type=int, help="the fixed length without --dynamic-length (default: max_position_embeddings)")
    p.add_argument("--num-choices", type=int, help="ElectraForMultipleChoice: the fixed number of choices (default: 2)")
    p.add_argument("--precision", default="fp32", metavar="PRECISION",
                   help="fp32 (default), fp16 (onnx, torchscript) or bf16 (torchscript, stablehlo); outputs are float32")
    p.add_argument("--verify", action="store_true", help="run the artifact in its runtime on two probe inputs and compare with the "
                   "eager model: fails (exit 1, OUT not written) above 1e-4 (fp32), 2e-2 (fp16), 1e-1 (bf16)")
    p.add_argument("--overwrite", action="store_true", help="replace what OUT holds")
    p.add_argument("--verbose", action="store_true", help="let the framework's own log messages through (TensorFlow's start-up notices)")


def _finetune_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune a checkpoint on classification, token classification or question answering",
        description="Fine-tune --model on --train, evaluating on --validation after every epoch and keeping the best "
        "checkpoint in OUT/best (ELECTRA's recipe: layer-wise learning-rate decay, warmup, AdamW). See docs/finetuning.md.",
    )
    p.add_argument("--task", required=True, choices=("classification", "token-classification", "question-answering"))
    p.add_argument("--model", type=Path, required=True, help="a checkpoint directory (config.json + weights): a discriminator, a bare "
                   "ElectraModel or a task model")
    p.add_argument("--train", type=Path, required=True, help="training file: .csv/.tsv/.jsonl (classification), CoNLL or .jsonl "
                   "(token-classification), SQuAD .json (question-answering)")
    p.add_argument("--validation", type=Path, required=True, help="validation file, same format (evaluated after every epoch)")
    p.add_argument("--test", type=Path, help="test file, same format, with labels (scored with the best checkpoint)")
    p.add_argument("--text-column", help="column/key of the text (default: text; token-classification: tokens)")
    p.add_argument("--text-pair-column", help="column of the second text of sentence-pair tasks")
    p.add_argument("--label-column", help="column/key of the label (default: label; token-classification: tags)")
    p.add_argument("--epochs", type=int, default=None, help="passes over --train (default: 3)")
    p.add_argument("--batch-size", type=int, default=None, help="examples per step (default: 32)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 3e-4 hidden <= 256, 1e-4, 5e-5 hidden >= 1024)")
    p.add_argument("--layerwise-lr-decay", type=float, default=None, help="learning-rate factor per layer below the head "
                   "(default: 0.8, 0.9 for hidden >= 1024; 1: off)")
    p.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay (default: 0.01)")
    p.add_argument("--warmup-proportion", type=float, default=None, help="fraction of the steps of linear warmup (default: 0.1)")
    p.add_argument("--max-length", type=int, default=None, help="tokens per example, special tokens included (default: 128)")
    p.add_argument("--doc-stride", type=int, default=None, help="question-answering: context tokens windows overlap by "
                   "(default: min(128, max-length / 4))")
    p.add_argument("--metric", help="validation metric that picks the best checkpoint (default: accuracy, pearson (regression), "
                   "micro_f1 (multi-label), f1 (entities, SQuAD))")
    p.add_argument("--seed", type=int, default=0, help="seeds the new head, the data order and dropout (default: 0)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="compute precision (parameters stay float32)")
    p.add_argument("--backend", choices=BACKENDS, default="pt", help="framework to train with (default: pt)")
    p.add_argument("--tokenizer", type=Path, help="tokenizer directory (default: --model)")
    p.add_argument("--out", type=Path, default=Path("runs/electra-finetune"), help="output directory (default: runs/electra-finetune)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in all (checkpoint saved; --resume continues); "
                   "the schedule still spans --epochs")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start over in an --out that holds a run (the old run is deleted)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (a line per evaluation; also when not a terminal)")
    p.add_argument("--verbose", action="store_true", help="let the framework's own log messages through (TensorFlow's start-up notices)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="electra", description="ELECTRA in PyTorch, TensorFlow and Flax.")
    sub = parser.add_subparsers(dest="command", required=True)
    _pretrain_parser(sub)
    prepare_data.add_parser(sub)
    _detect_parser(sub)
    convert.add_parser(sub)
    _export_parser(sub)
    _finetune_parser(sub)
    predict.add_parser(sub)
    return parser


def quiet_frameworks(backend: str) -> None:
    """Keep TensorFlow's C++ start-up lines (CUDA-driver and CPU-feature notices, `failed
    call to cuInit` on a machine without a GPU) out of the command's output: the log level
    hides those written after TensorFlow's logging starts, and the ones written while it
    is imported (before its log level applies) go to /dev/null. A level the user set wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if backend != "tf" or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            except ImportError:
                pass  # reported by the command itself, with the extra to install
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "export":  # no --backend: the format's backend
        from electra.commands.export import format_backend

        args.backend = format_backend(args.format)
    if not args.verbose:
        # Commands without --backend may read or write TensorFlow files.
        quiet_frameworks(getattr(args, "backend", "tf"))
    try:
        if args.command == "convert":
            return convert.run_convert(args)
        if args.command == "pretrain":
            from electra.commands.pretrain import run_pretraining

            run_pretraining(args)
        elif args.command == "prepare-data":
            prepare_data.run_prepare_data(args)
        elif args.command == "detect":
            from electra.commands.detect import run_detect

            run_detect(args)
        elif args.command == "finetune":
            from electra.commands.finetune import run_finetune

            run_finetune(args)
        elif args.command == "predict":
            return predict.run_predict(args)
        elif args.command == "export":
            from electra.commands.export import run_export

            return run_export(args)
    except (ValueError, FileNotFoundError, FileExistsError, CheckpointError) as err:
        print(f"electra {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
