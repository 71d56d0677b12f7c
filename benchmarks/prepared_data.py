"""Tokenizing text against reading `electra prepare-data` shards, on the embedded corpus.

Times, each as the median of `--repeats` passes over the whole corpus (the docstrings of this
Python's standard library, about 2 MB), with the BERT uncased vocab:
- tokenize: what `electra pretrain --corpus` does per epoch before packing (read the
  documents, split sentences, `encode_batch_ids` in calls of about 200,000 characters);
- prepare: `electra prepare-data` (the same, plus writing the shards);
- read shards: what `electra pretrain --data` does instead (the documents' token ids from
  the memory-mapped shards);
and the batches per second of the whole pipeline (`PretrainingBatches`, B=16, L=128, the
`electra pretrain` defaults: packing, shuffle and masking included) from either source.

    .venv/bin/python benchmarks/prepared_data.py [--vocab VOCAB] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# This file's folder comes first on sys.path, where benchmarks/tokenizers.py would shadow the `tokenizers` library.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from electra.common.pretraining.batches import CHUNK_CHARACTERS, PretrainingBatches  # noqa: E402
from electra.common.pretraining.corpus import Corpus, default_corpus  # noqa: E402
from electra.common.pretraining.packing import tokenize_documents  # noqa: E402
from electra.common.pretraining.shards import Shards, write_shards  # noqa: E402
from electra.common.tokenizers.fast import ElectraTokenizerFast  # noqa: E402


def tokenize_corpus(corpus: Corpus, tokenize_batch) -> int:
    """Tokens of one streaming pass, tokenized in chunks as `PretrainingBatches` does."""
    tokens, chunk, characters = 0, [], 0
    for document in corpus.documents():
        chunk.append(document.text)
        characters += len(document.text)
        if characters >= CHUNK_CHARACTERS:
            tokens += sum(len(s) for d in tokenize_documents(chunk, tokenize_batch) for s in d)
            chunk, characters = [], 0
    return tokens + sum(len(s) for d in tokenize_documents(chunk, tokenize_batch) for s in d)


def read_shards(shards: Shards) -> int:
    """Tokens of one pass over the shards' documents."""
    return sum(len(s) for document in shards.documents() for s in document.sentences)


def timed(function, repeats: int) -> tuple[float, object]:
    """(median seconds, the last result) of `repeats` calls."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "vocab" / "bert-base-uncased-vocab.txt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=400, help="batches timed per source (default: 400)")
    args = parser.parse_args()

    corpus = Corpus(default_corpus())
    tokenizer = ElectraTokenizerFast(vocab_file=args.vocab)
    with tempfile.TemporaryDirectory() as folder:
        counter = iter(range(10**6))

        def prepare():
            return write_shards(corpus, tokenizer.encode_batch_ids, Path(folder) / f"data-{next(counter)}", vocab_file=args.vocab)

        tokenize_s, tokens = timed(lambda: tokenize_corpus(corpus, tokenizer.encode_batch_ids), args.repeats)
        prepare_s, meta = timed(prepare, args.repeats)
        shards = Shards(Path(folder) / "data-0")
        read_s, read_tokens = timed(lambda: read_shards(shards), args.repeats)
        assert read_tokens == tokens == meta["tokens"]
        data_bytes = sum(size for shard in meta["shards"] for size in shard["bytes"].values())
        special = dict(cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id, pad_id=tokenizer.pad_token_id,
                       mask_id=tokenizer.mask_token_id, batch_size=16, seq_len=128)
        rates = {}
        for name, source in (("text", corpus), ("shards", shards)):
            def batches(source=source):
                iterator = PretrainingBatches(source, tokenizer.encode_batch_ids, **special)
                for _ in range(args.batches):
                    next(iterator)
            rates[name] = args.batches / timed(batches, args.repeats)[0]

    print(f"embedded corpus: {default_corpus().stat().st_size / 1e6:.2f} MB of JSON Lines, {meta['documents']:,} documents, "
          f"{tokens:,} tokens; shards {data_bytes / 1e6:.2f} MB")
    print(f"machine: {os.cpu_count()} CPUs visible, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')}; medians of {args.repeats}")
    print("| what | seconds per pass | tokens/s |")
    print("|---|---|---|")
    for name, seconds in (("tokenize the text (pretrain --corpus)", tokenize_s), ("prepare-data (tokenize + write)", prepare_s),
                          ("read the shards (pretrain --data)", read_s)):
        print(f"| {name} | {seconds:.2f} | {tokens / seconds:,.0f} |")
    print(f"PretrainingBatches B=16 L=128, first {args.batches} batches: text {rates['text']:.0f} batches/s, "
          f"shards {rates['shards']:.0f} batches/s")


if __name__ == "__main__":
    main()
