"""`electra prepare-data`: tokenize a pretraining corpus once into memory-mapped shards
(`electra.common.pretraining.shards`) that `electra pretrain --data` trains from.

The tokenizer is the one `electra pretrain --vocab` builds from the same vocab.txt
(`tokenizer_options` lists what besides the vocab defines it), so a run on the shards
yields the batches, checkpoints and resume positions of the run on the text.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from electra.common.pretraining.shards import DEFAULT_SHARD_TOKENS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare-data",
        help="tokenize a pretraining corpus once into memory-mapped shards for `electra pretrain --data`",
        description="Tokenize a corpus once with the tokenizer of --vocab and write it to --out as memory-mapped shards "
        "(token ids per sentence, no packing: any --seq-len, --batch-size or --seed can train from them). "
        "`electra pretrain --data OUT` then gives the same batches as `--corpus ... --vocab ...` without tokenizing, "
        "and trains on corpora larger than memory. See docs/pretraining-recipe.md.",
    )
    p.add_argument("--corpus", nargs="+", type=Path, help="text files, folders or JSON Lines files (default: the embedded corpus)")
    p.add_argument("--vocab", type=Path, required=True, help="the WordPiece vocab.txt to tokenize with (copied into --out)")
    p.add_argument("--out", type=Path, required=True, help="the folder to write (must not exist or be empty)")
    p.add_argument("--shard-tokens", type=int, default=DEFAULT_SHARD_TOKENS,
                   help=f"tokens per shard: each shard's tokens are gathered in memory before it is written "
                   f"(default: {DEFAULT_SHARD_TOKENS:,}, about 128 MB of uint16 ids)")
    # No framework runs: nothing for `electra.cli.main` to quiet, no TensorFlow to import for it.
    p.set_defaults(backend=None, verbose=False)


def tokenizer_options(tokenizer) -> dict[str, Any]:
    """What defines a tokenizer besides its vocab.txt, as meta.json records it."""
    return {
        "do_lower_case": tokenizer.do_lower_case,
        "strip_accents": tokenizer.strip_accents,
        "tokenize_chinese_chars": tokenizer.tokenize_chinese_chars,
    }


def run_prepare_data(args: argparse.Namespace) -> dict[str, Any]:
    """The whole `electra prepare-data` job; returns the written meta.json."""
    from electra.common.pretraining.corpus import Corpus, default_corpus
    from electra.common.pretraining.shards import write_shards
    from electra.common.tokenizers.fast import ElectraTokenizerFast

    if args.shard_tokens < 1:
        raise ValueError(f"--shard-tokens must be at least 1, got {args.shard_tokens}")
    if not args.vocab.is_file():
        raise FileNotFoundError(f"--vocab {args.vocab} does not exist")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise FileExistsError(f"--out {args.out} already exists: choose a new folder for the data (or remove it)")
    # Absolute paths in meta.json: the same corpus prepared from another folder gives the same file.
    corpus = Corpus([path.resolve() for path in args.corpus] if args.corpus else [default_corpus()])
    tokenizer = ElectraTokenizerFast(vocab_file=args.vocab)  # as `electra pretrain --vocab` builds it
    started = time.perf_counter()
    meta = write_shards(corpus, tokenizer.encode_batch_ids, args.out, vocab_file=args.vocab,
                        tokenizer_options=tokenizer_options(tokenizer), shard_tokens=args.shard_tokens)
    seconds = time.perf_counter() - started
    print(f"wrote {meta['documents']:,} documents, {meta['sentences']:,} sentences, {meta['tokens']:,} tokens in "
          f"{len(meta['shards'])} shards to {args.out} ({seconds:.1f} s, {meta['tokens'] / max(seconds, 1e-9):,.0f} tokens/s)")
    return meta
