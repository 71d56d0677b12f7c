"""Texts per second of our tokenizers against HF transformers 4.57's, on Jane Austen's novels.

Each tokenizer encodes the same paragraphs in one batched call (`tokenizer(texts)`: ids, token
types and attention masks; `--offsets` adds offsets, which HF's slow tokenizer cannot give), a
fresh tokenizer each repeat so that no cache carries over; the table shows the median.

    .venv/bin/python benchmarks/tokenizers.py [--texts 12000] [--repeats 3] [--offsets]

Targets (issue 2): ours fast >= HF fast, ours slow >= 1.5x HF slow.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# This file's folder comes first on sys.path, where this file would shadow the `tokenizers` library.
sys.path[:] = [str(REPO_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_paragraphs(data_dir: Path, count: int) -> list[str]:
    """`count` paragraphs spread evenly over the six novels (all of them when count is 0)."""
    texts = []
    for path in sorted((data_dir / "austen").glob("*.txt")):
        texts += [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    if not texts:
        raise SystemExit(f"no Austen paragraphs under {data_dir / 'austen'}")
    return texts if not count or count >= len(texts) else texts[:: len(texts) // count][:count]


def time_tokenizer(make, texts: list[str], repeats: int, kwargs: dict) -> list[float]:
    """Seconds of `make()(texts, **kwargs)` for each repeat (construction and a warm-up call on a
    few texts, which starts the `tokenizers` thread pool, not timed)."""
    seconds = []
    for _ in range(repeats):
        tokenizer = make()
        tokenizer(texts[:8], **kwargs)
        start = time.perf_counter()
        tokenizer(texts, **kwargs)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--texts", type=int, default=12000, help="paragraphs to encode (0: all 62k)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--offsets", action="store_true", help="also return offsets (fast tokenizers only)")
    args = parser.parse_args()

    import tokenizers
    import transformers

    from electra.common.tokenizers.fast import ElectraTokenizerFast
    from electra.common.tokenizers.slow import ElectraTokenizer

    vocab = args.data / "vocab" / "bert-base-uncased-vocab.txt"
    texts = read_paragraphs(args.data, args.texts)
    kwargs = dict(return_offsets_mapping=True) if args.offsets else {}
    candidates = {
        "ours fast (ElectraTokenizerFast)": lambda: ElectraTokenizerFast(vocab_file=vocab),
        "HF fast (BertTokenizerFast)": lambda: transformers.BertTokenizerFast(str(vocab)),
        "ours slow (ElectraTokenizer)": lambda: ElectraTokenizer(vocab_file=vocab),
        "HF slow (BertTokenizer)": lambda: transformers.BertTokenizer(str(vocab)),
    }
    if args.offsets:
        candidates = {name: make for name, make in candidates.items() if "HF slow" not in name}
    rates = {}
    for name, make in candidates.items():
        seconds = time_tokenizer(make, texts, args.repeats, kwargs)
        rates[name] = len(texts) / statistics.median(seconds)
        print(f"{name}: {', '.join(f'{s:.2f}' for s in seconds)} s", file=sys.stderr, flush=True)

    print(f"Date {datetime.date.today()}; CPU {cpu_name()} ({os.cpu_count()} logical cores); "
          f"Python {platform.python_version()}, transformers {transformers.__version__}, "
          f"tokenizers {tokenizers.__version__}. {len(texts)} Austen paragraphs "
          f"({sum(map(len, texts)) / len(texts):.0f} characters on average), one batched call"
          f"{' with offsets' if args.offsets else ''}, median of {args.repeats}.\n")
    print("| tokenizer | texts/s | vs HF |")
    print("|---|---:|---:|")
    for name, rate in rates.items():
        reference = rates.get("HF fast (BertTokenizerFast)" if "fast" in name else "HF slow (BertTokenizer)")
        ratio = f"{rate / reference:.2f}x" if reference else "n/a"
        print(f"| {name} | {rate:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
