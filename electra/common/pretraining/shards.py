"""Pre-tokenized, memory-mapped pretraining data: `electra prepare-data` writes it once,
`batches.PretrainingBatches` reads it instead of tokenizing text (`electra pretrain --data`).

What is stored is the pipeline just before packing: every document of the corpus, in
corpus order, as the token ids of its sentences (`packing.tokenize_documents`), with its
length in characters and its `corpus.DocumentStart`. The train/eval split, packing,
shuffle and masking still happen when reading, from the same seeds, so the batches (and
the `state_dict` positions) read from the shards are those read from the text, whatever
the sequence length, batch size, seed or `eval_every`. Only the tokenizer is fixed when
the data is prepared: its vocab.txt is copied into the folder, and meta.json records its
sha256 and options.

A data folder holds:
    meta.json                   format and version, vocab sha256, tokenizer options, corpus
                                files, counts, and per shard its counts and file sizes
    vocab.txt                   the tokenizer's vocabulary
    shard-00000.tokens.npy      (T,) uint16 (int32 when an id exceeds 65535): the token ids
                                of the shard's sentences, end to end
    shard-00000.sentences.npy   (S,) int64: where each sentence ends in tokens
    shard-00000.documents.npy   (D, 4) int64 per document: where its sentences end in
                                sentences, its characters, its corpus file and byte offset
A document never spans two shards; the document ordinal is the shard's `first_document`
plus the row. Files are plain `.npy` arrays, read with `np.load(mmap_mode="r",
allow_pickle=False)`: a corpus larger than memory trains, and loading executes nothing.

Writing streams the corpus (memory holds about one shard of tokens) into a hidden folder
beside the target, renamed into place when every shard and meta.json is written, so a crash
leaves no data folder, never a half-written one. Opening checks the format version, the
vocab's hash and every file's size against meta.json (a truncated or missing shard is
refused before any batch is read).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from electra.common.files import atomic_open, atomic_write_text
from electra.common.pretraining.corpus import Corpus, DocumentStart, PathLike
from electra.common.pretraining.packing import TokenizeBatch, tokenize_documents

FORMAT = "electra-pretraining-shards"
VERSION = 1
META_FILE, VOCAB_FILE = "meta.json", "vocab.txt"
ARRAYS = ("tokens", "sentences", "documents")  # the .npy files of each shard
DEFAULT_SHARD_TOKENS = 64 * 2**20  # about 128 MB of uint16 token ids per shard
WRITE_CHUNK_CHARACTERS = 200_000  # the writer tokenizes documents in calls of about this much text


class TokenizedDocument(NamedTuple):
    """One document as the shards hold it."""

    sentences: list[list[int]]  # token ids of each sentence, without special tokens
    characters: int  # the length of its text: the batch reader's tokenizer calls are cut by it
    start: DocumentStart


def write_shards(
    corpus: Corpus,
    tokenize_batch: TokenizeBatch,
    out: PathLike,
    *,
    vocab_file: PathLike,
    tokenizer_options: dict[str, Any] | None = None,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
) -> dict[str, Any]:
    """Tokenizes a corpus once into a new data folder (see the module docstring).

    Args:
        corpus: the documents, read in order.
        tokenize_batch: texts -> token ids without special tokens; the tokenizer built
            from `vocab_file` (with `tokenizer_options`).
        out: the folder to create; it must not exist or be empty.
        vocab_file: the tokenizer's vocab.txt, copied into `out`.
        tokenizer_options: the tokenizer's settings besides its vocab (lowercasing ...),
            recorded so that a reader can check it builds the same tokenizer.
        shard_tokens: a shard is closed after the document that brings it to this many tokens.

    Returns:
        The metadata written to `out/meta.json`.

    Raises:
        FileExistsError: `out` holds files.
        ValueError: an unreadable corpus (see `corpus.Corpus`), or `shard_tokens` < 1.
    """
    out = Path(out)
    if shard_tokens < 1:
        raise ValueError(f"shard_tokens must be >= 1, got {shard_tokens}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists: choose a new folder for the data (or remove it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        shutil.copyfile(vocab_file, staging / VOCAB_FILE)
        writer = _ShardWriter(staging, shard_tokens)
        documents = corpus.documents()
        document = next(documents, None)
        while document is not None:
            chunk, characters = [], 0
            while document is not None and characters < WRITE_CHUNK_CHARACTERS:
                chunk.append(document)
                characters += len(document.text)
                document = next(documents, None)
            for sentences, read in zip(tokenize_documents([d.text for d in chunk], tokenize_batch), chunk):
                writer.add(sentences, len(read.text), read.start)
        writer.close_shard()
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "vocab_sha256": file_sha256(staging / VOCAB_FILE),
            "tokenizer": tokenizer_options or {},
            "corpus": {"sources": [str(s) for s in corpus.sources], "files": [str(f) for f in corpus.files]},
            "documents": sum(shard["documents"] for shard in writer.shards),
            "sentences": sum(shard["sentences"] for shard in writer.shards),
            "tokens": sum(shard["tokens"] for shard in writer.shards),
            "shards": writer.shards,
        }
        atomic_write_text(staging / META_FILE, json.dumps(meta, indent=1) + "\n")
        if out.exists():
            out.rmdir()  # empty, as checked above
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return meta


class _ShardWriter:
    """Gathers tokenized documents and writes them as shards of about `shard_tokens` tokens."""

    def __init__(self, folder: Path, shard_tokens: int):
        self.folder, self.shard_tokens = folder, shard_tokens
        self.shards: list[dict[str, Any]] = []  # meta.json's record of each written shard
        self.first_document = 0
        self._tokens: list[np.ndarray] = []  # per document, its sentences end to end
        self._sentence_ends: list[np.ndarray] = []  # per document, within the shard
        self._documents: list[tuple[int, int, int, int]] = []
        self._token_count = self._sentence_count = 0

    def add(self, sentences: Sequence[Sequence[int]], characters: int, start: DocumentStart) -> None:
        if start.index != self.first_document + len(self._documents):
            raise ValueError(f"document {start} out of order: expected ordinal {self.first_document + len(self._documents)}")
        lengths = np.fromiter((len(sentence) for sentence in sentences), dtype=np.int64, count=len(sentences))
        tokens = np.fromiter(itertools.chain.from_iterable(sentences), dtype=np.int32, count=int(lengths.sum()))
        self._tokens.append(tokens)
        self._sentence_ends.append(self._token_count + np.cumsum(lengths))
        self._token_count += len(tokens)
        self._sentence_count += len(sentences)
        self._documents.append((self._sentence_count, characters, start.file, start.offset))
        if self._token_count >= self.shard_tokens:
            self.close_shard()

    def close_shard(self) -> None:
        """Writes the gathered documents as the next shard (nothing when none are gathered)."""
        if not self._documents:
            return
        tokens = np.concatenate(self._tokens)
        # uint16 halves the files (and the pages read) for vocabularies of up to 65,536 tokens.
        dtype = np.uint16 if tokens.size == 0 or tokens.max() <= np.iinfo(np.uint16).max else np.int32
        arrays = {
            "tokens": tokens.astype(dtype),
            "sentences": np.concatenate(self._sentence_ends).astype(np.int64),
            "documents": np.array(self._documents, dtype=np.int64).reshape(-1, 4),
        }
        name = f"shard-{len(self.shards):05d}"
        sizes = {}
        for key, array in arrays.items():
            file = f"{name}.{key}.npy"
            with atomic_open(self.folder / file) as handle:
                np.save(handle, array, allow_pickle=False)
            sizes[file] = (self.folder / file).stat().st_size
        self.shards.append({
            "name": name, "first_document": self.first_document, "documents": len(self._documents),
            "sentences": self._sentence_count, "tokens": self._token_count, "bytes": sizes,
        })
        self.first_document += len(self._documents)
        self._tokens, self._sentence_ends, self._documents = [], [], []
        self._token_count = self._sentence_count = 0


class Shards:
    """A data folder written by `write_shards`, checked and read as tokenized documents.

    Args:
        directory: the folder.

    Raises:
        ValueError: not a data folder, an unknown format version, a vocab.txt that is not
            the one the shards were made with, or a missing or truncated shard file (each
            message names the file and says how to go on).
    """

    def __init__(self, directory: PathLike):
        self.directory = Path(directory)
        self.sources = [self.directory]  # what error messages name, as `Corpus.sources`
        meta_file = self.directory / META_FILE
        if not meta_file.is_file():
            raise ValueError(f"{self.directory} holds no {META_FILE}: it is not a folder written by electra prepare-data")
        try:
            self.meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{meta_file} is not valid JSON ({error}): prepare the data again") from None
        if not isinstance(self.meta, dict) or self.meta.get("format") != FORMAT:
            raise ValueError(f"{meta_file} does not describe electra pretraining shards: prepare the data again")
        if self.meta.get("version") != VERSION:
            raise ValueError(f"{meta_file} is of format version {self.meta.get('version')!r}; this electra reads version "
                             f"{VERSION}: prepare the data again with this version")
        self.vocab_file = self.directory / VOCAB_FILE
        try:
            self._check_files()
            self._firsts = [shard["first_document"] for shard in self.meta["shards"]]
        except (KeyError, TypeError, AttributeError) as error:  # a meta.json edited by hand
            raise ValueError(f"{meta_file} is malformed ({type(error).__name__}: {error}): prepare the data again") from None

    def _check_files(self) -> None:
        """The vocab's hash and every shard file's size, against meta.json."""
        if not self.vocab_file.is_file() or file_sha256(self.vocab_file) != self.meta["vocab_sha256"]:
            raise ValueError(f"{self.vocab_file} is missing or not the vocab the shards were tokenized with "
                             f"(sha256 {self.meta['vocab_sha256']}): prepare the data again")
        for shard in self.meta["shards"]:
            for file, size in shard["bytes"].items():
                path = self.directory / file
                actual = path.stat().st_size if path.is_file() else None
                if actual != size:
                    found = "missing" if actual is None else f"{actual} bytes where {META_FILE} records {size}"
                    raise ValueError(f"shard file {path} is {found} (truncated or damaged): prepare the data again")

    def __repr__(self) -> str:
        return f"Shards({str(self.directory)!r}, {self.meta['documents']} documents, {self.meta['tokens']} tokens)"

    @property
    def vocab_sha256(self) -> str:
        return self.meta["vocab_sha256"]

    def documents(self, start: DocumentStart | None = None) -> Iterator[TokenizedDocument]:
        """Yields the documents in corpus order, from the beginning or from `start`.

        Raises:
            ValueError: `start` is not where a document of this data begins (a position
                saved from other data), or a shard file's contents disagree with meta.json.
        """
        index = 0 if start is None else start.index
        if not 0 <= index <= self.meta["documents"]:
            raise ValueError(f"document start {start} is outside {self.directory} ({self.meta['documents']} documents)")
        first_shard = max(0, bisect.bisect_right(self._firsts, index) - 1)
        for number in range(first_shard, len(self.meta["shards"])):
            shard = self.meta["shards"][number]
            tokens, sentence_ends, documents = self._open(shard)
            row = index - shard["first_document"]
            if start is not None and row < len(documents) and tuple(documents[row, 2:]) != (start.file, start.offset):
                raise ValueError(f"document start {start} is not where document {index} of {self.directory} begins: "
                                 f"the position was saved reading other data")
            start = None
            for row in range(row, len(documents)):
                first_sentence = documents[row - 1, 0] if row else 0
                ends = sentence_ends[first_sentence : documents[row, 0]].tolist()
                offset = sentence_ends[first_sentence - 1] if first_sentence else 0
                ids = tokens[offset : ends[-1] if ends else offset].tolist()
                bounds = [offset, *ends]
                sentences = [ids[a - offset : b - offset] for a, b in zip(bounds, bounds[1:])]
                yield TokenizedDocument(sentences, int(documents[row, 1]),
                                        DocumentStart(int(documents[row, 2]), int(documents[row, 3]), index))
                index += 1

    def _open(self, shard: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The shard's tokens and sentence ends memory-mapped, its (small) document table in memory."""
        arrays = {key: np.load(self.directory / f"{shard['name']}.{key}.npy", mmap_mode="r", allow_pickle=False)
                  for key in ARRAYS}
        shapes = {"tokens": (shard["tokens"],), "sentences": (shard["sentences"],), "documents": (shard["documents"], 4)}
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{self.directory / shard['name']}.{key}.npy holds an array of shape {arrays[key].shape} "
                                 f"where {META_FILE} records {shape}: prepare the data again")
        return arrays["tokens"], arrays["sentences"], np.array(arrays["documents"])


def file_sha256(path: PathLike) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
