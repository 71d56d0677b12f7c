"""Pretraining text sources: files and folders streamed as documents, and a built-in corpus.

Formats, as the corpus format of google-research/electra (`build_pretraining_dataset.py`):
- plain text (`.txt`, and any explicitly named file not ending in `.json`/`.jsonl`): a
  *document* is a block of consecutive non-blank lines; blank lines separate documents.
  Lines inside a block are joined and re-split into sentences by `packing.split_sentences`,
  so one-sentence-per-line files and hard-wrapped prose both work. A novel with blank lines
  between paragraphs (../shared/data/austen) therefore yields one document per paragraph,
  and packing never joins two paragraphs into one example.
- JSON Lines (`.jsonl`, `.json`): one object per line with a string field "text"; each
  object is one document, whatever blank lines its text holds.
A folder is searched recursively for `.txt`, `.jsonl` and `.json` files in sorted path
order, skipping names that start with "."; other files in folders are ignored.

Reading is streamed (one line at a time) in a fixed order, and every document carries the
`DocumentStart` (file, byte offset, ordinal) it begins at, so a reader can resume from it.

`default_corpus()` builds the corpus every Python has: the docstrings of the running
interpreter's standard library plus the `pydoc_data.topics` help pages, extracted in a
subprocess (run this file as a script) and cached as JSON Lines. This module imports only
the standard library so that the subprocess can run it without the package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

PathLike = str | os.PathLike
FOLDER_SUFFIXES = (".txt", ".jsonl", ".json")
JSON_LINES_SUFFIXES = (".jsonl", ".json")


class DocumentStart(NamedTuple):
    """Where a document begins in a `Corpus`: the point a reader can resume from."""

    file: int  # index into `Corpus.files`
    offset: int  # byte offset of the document's first line in that file
    index: int  # ordinal of the document in the whole corpus, from 0


class Document(NamedTuple):
    """One document's text and where it starts."""

    text: str
    start: DocumentStart

    @property
    def characters(self) -> int:
        """The text's length: what the batch reader cuts its tokenizer calls by (as `shards.TokenizedDocument`)."""
        return len(self.text)


class Corpus:
    """A fixed, sorted list of text files read as a stream of documents.

    Args:
        sources: a path or a sequence of paths, each a file or a folder (searched
            recursively, see the module docstring).

    Raises:
        FileNotFoundError: a source does not exist.
        ValueError: no sources, or a folder holds no readable files.
    """

    def __init__(self, sources: PathLike | Sequence[PathLike]):
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        self.sources = [Path(source) for source in sources]
        if not self.sources:
            raise ValueError("no corpus sources given")
        self.files = [file for source in self.sources for file in _expand(source)]

    def __repr__(self) -> str:
        return f"Corpus({[str(source) for source in self.sources]!r}, {len(self.files)} files)"

    def documents(self, start: DocumentStart | None = None) -> Iterator[Document]:
        """Yields the documents in order, from the beginning or from `start`.

        Raises:
            ValueError: a file is binary, not UTF-8 or malformed JSON Lines (the message
                names the file and byte offset), or a pass from the beginning finds no text.
        """
        file, offset, index = start if start is not None else DocumentStart(0, 0, 0)
        if not 0 <= file <= len(self.files):
            raise ValueError(f"document start {start} is outside this corpus of {len(self.files)} files")
        for file_index in range(file, len(self.files)):
            path = self.files[file_index]
            read = _json_lines_documents if path.suffix in JSON_LINES_SUFFIXES else _text_documents
            for text, text_offset in read(path, offset):
                yield Document(text, DocumentStart(file_index, text_offset, index))
                index += 1
            offset = 0
        if start is None and index == 0:
            raise ValueError(f"corpus has no text: {', '.join(str(source) for source in self.sources)}")


def _expand(source: Path) -> list[Path]:
    """The readable files of one source: itself, or a folder's matching files in sorted order."""
    if not source.exists():
        raise FileNotFoundError(f"corpus source not found: {source}")
    if not source.is_dir():
        return [source]
    files = sorted(
        path
        for path in source.rglob("*")
        if path.suffix in FOLDER_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(source).parts)
    )
    if not files:
        raise ValueError(f"no {', '.join(FOLDER_SUFFIXES)} files under {source}")
    return files


def _lines(path: Path, offset: int) -> Iterator[tuple[str, int]]:
    """(line without its line break, byte offset of the line) from `offset` on."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        for raw in handle:
            nul = raw.find(b"\0")
            if nul >= 0:
                raise ValueError(
                    f"{path}: binary data (NUL byte) at byte offset {offset + nul}; expected UTF-8 text"
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}: not UTF-8 text at byte offset {offset + error.start}") from None
            if offset == 0:
                line = line.removeprefix("\ufeff")  # a byte-order mark
            yield line.rstrip("\r\n"), offset
            offset += len(raw)


def _text_documents(path: Path, offset: int) -> Iterator[tuple[str, int]]:
    """(document text, byte offset): blocks of non-blank lines, joined with newlines."""
    block: list[str] = []
    block_offset = offset
    for line, line_offset in _lines(path, offset):
        if line.strip():
            if not block:
                block_offset = line_offset
            block.append(line.strip())
        elif block:
            yield "\n".join(block), block_offset
            block = []
    if block:
        yield "\n".join(block), block_offset


def _json_lines_documents(path: Path, offset: int) -> Iterator[tuple[str, int]]:
    """(document text, byte offset): the "text" field of each JSON Lines object that has text."""
    for line, line_offset in _lines(path, offset):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: invalid JSON at byte offset {line_offset}: {error}") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(
                f'{path}: the JSON line at byte offset {line_offset} is not an object with a string "text"'
            )
        if record["text"].strip():
            yield record["text"], line_offset


# --- the built-in corpus ---------------------------------------------------------------

DEFAULT_CORPUS_FORMAT = 1  # bump when the extraction changes, so stale caches are rebuilt
# Top-level standard-library modules that are not imported: side effects on import
# (`antigravity` opens a browser, `this` prints), GUI toolkits, tests and data modules.
SKIPPED_MODULES = frozenset(
    {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "site", "encodings"}
    | {"pydoc_data"}  # read separately: its help topics
)


def default_corpus(cache_dir: PathLike | None = None) -> Path:
    """The built-in English corpus as a JSON Lines file, extracted on first use and cached.

    One document per standard-library module (its docstring and the own docstrings of its
    functions, classes and methods, each text kept once) in sorted module order, then one
    per `pydoc_data.topics` help page in sorted order. Nothing is downloaded. The content
    depends on the Python version, which names the cache file. Use
    `batches.PretrainingBatches(..., split="eval")` for its held-out documents.

    Args:
        cache_dir: where to keep the file; default `$XDG_CACHE_HOME/electra` or
            `~/.cache/electra`.

    Returns:
        The path of `default_corpus-<implementation>-<version>-v<format>.jsonl`.

    Raises:
        RuntimeError: the extraction subprocess failed (its error output is included).
    """
    if cache_dir is None:
        cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "electra"
    cache_dir = Path(cache_dir)
    version = ".".join(map(str, sys.version_info[:3]))
    path = cache_dir / f"default_corpus-{sys.implementation.name}-{version}-v{DEFAULT_CORPUS_FORMAT}.jsonl"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=cache_dir, prefix=path.name, suffix=".partial")
    os.close(descriptor)
    try:
        # -I -S: only the standard library is importable; -W ignore: deprecated modules stay quiet.
        command = [sys.executable, "-I", "-S", "-W", "ignore", str(Path(__file__).resolve()), partial]
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"default corpus extraction failed ({command}):\n{result.stderr[-2000:]}")
        os.replace(partial, path)  # atomic: readers see the old state or the whole file
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def _stdlib_module_names() -> list[str]:
    """Sorted importable names: public built-in, extension and pure-Python stdlib modules."""
    import pkgutil
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    names = set(sys.builtin_module_names)
    pending = [(info, "") for info in pkgutil.iter_modules([stdlib, os.path.join(stdlib, "lib-dynload")])]
    while pending:
        info, prefix = pending.pop()
        name = prefix + info.name
        if info.ispkg and name.split(".")[0] not in SKIPPED_MODULES:
            package_dir = os.path.join(info.module_finder.path, info.name)
            pending.extend((sub, name + ".") for sub in pkgutil.iter_modules([package_dir]))
        names.add(name)
    return sorted(name for name in names if _is_prose_module(name))


def _is_prose_module(name: str) -> bool:
    """Excludes private, test, `__main__` and skipped modules."""
    parts = name.split(".")
    return parts[0] not in SKIPPED_MODULES and not any(
        part.startswith("_") or part.startswith("test") or part.endswith("_test") or part == "tests"
        for part in parts
    )


def _stdlib_documents() -> Iterator[dict[str, str]]:
    """{"text", "source"} per module with new docstrings, then per help topic; see `default_corpus`."""
    import importlib
    import inspect

    seen_objects: set[int] = set()
    seen_texts: set[str] = set()
    keep: list[object] = []  # holds every visited object so that no id() is reused

    def own_docs(objects: list[object]) -> Iterator[str]:
        for obj in objects:
            if id(obj) in seen_objects:
                continue
            seen_objects.add(id(obj))
            keep.append(obj)
            doc = obj.__doc__ if isinstance(obj.__doc__, str) else ""
            text = inspect.cleandoc(doc).strip()
            if text and text not in seen_texts:
                seen_texts.add(text)
                yield text

    for name in _stdlib_module_names():
        try:
            module = importlib.import_module(name)
        except BaseException:  # any failure (even SystemExit) just leaves the module out
            continue
        members = [
            obj
            for key, obj in vars(module).items()
            if not key.startswith("__") and (inspect.isclass(obj) or inspect.isroutine(obj))  # not __loader__
        ]
        objects: list[object] = [module]
        for member in members:
            objects.append(member)
            if inspect.isclass(member):
                attributes = [getattr(a, "__func__", a) for a in vars(member).values()]  # unwrap classmethods
                objects.extend(a for a in attributes if inspect.isroutine(a) or isinstance(a, property))
        docs = list(own_docs(objects))
        if docs:
            yield {"text": "\n\n".join(docs), "source": name}

    from pydoc_data.topics import topics

    for key in sorted(topics):
        yield {"text": topics[key].strip(), "source": f"pydoc_data.topics:{key}"}


def _write_stdlib_corpus(path: str) -> None:
    """Writes `_stdlib_documents()` as JSON Lines to `path`."""
    with open(path, "w", encoding="utf-8") as handle:
        for record in _stdlib_documents():
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":  # the extraction subprocess of `default_corpus`
    _write_stdlib_corpus(sys.argv[1])
