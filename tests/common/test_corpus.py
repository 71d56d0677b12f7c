"""Corpus reading: document splitting, folders, JSON Lines, resuming, bad input, the default corpus."""

import json
import re

import pytest

from electra.common.pretraining.corpus import Corpus, DocumentStart, default_corpus


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def texts(corpus, start=None):
    return [document.text for document in corpus.documents(start)]


def test_blank_lines_separate_documents(tmp_path):
    path = write(tmp_path / "a.txt", "\ufeffOne line.\nSecond  line.\n\n\n  \nNext doc.\r\n\r\nLast\n")
    documents = list(Corpus(path).documents())
    assert [d.text for d in documents] == ["One line.\nSecond  line.", "Next doc.", "Last"]
    raw = path.read_bytes()
    assert [d.start for d in documents] == [
        DocumentStart(0, 0, 0),
        DocumentStart(0, raw.index(b"Next"), 1),
        DocumentStart(0, raw.index(b"Last"), 2),
    ]


def test_folders_are_searched_recursively_in_sorted_order(tmp_path):
    write(tmp_path / "b.txt", "b1\n\nb2")
    write(tmp_path / "a" / "z.jsonl", json.dumps({"text": "az"}) + "\n\n" + json.dumps({"text": "  "}) + "\n")
    write(tmp_path / "a" / "y.json", json.dumps({"text": "ay\n\nstill ay", "id": 3}))
    write(tmp_path / "notes.md", "ignored in folders")
    write(tmp_path / ".hidden" / "h.txt", "hidden")
    extra = write(tmp_path / "other" / "readme.md", "named explicitly")
    corpus = Corpus([tmp_path, extra])
    assert [p.relative_to(tmp_path).as_posix() for p in corpus.files] == [
        "a/y.json",
        "a/z.jsonl",
        "b.txt",
        "other/readme.md",
    ]
    assert texts(corpus) == ["ay\n\nstill ay", "az", "b1", "b2", "named explicitly"]
    assert [d.start.index for d in corpus.documents()] == [0, 1, 2, 3, 4]


def test_resume_from_any_document_start(tmp_path):
    write(tmp_path / "1.txt", "a\n\nb\nb\n\nc")
    write(tmp_path / "2.jsonl", "".join(json.dumps({"text": t}) + "\n" for t in "def"))
    corpus = Corpus(tmp_path)
    documents = list(corpus.documents())
    for position, document in enumerate(documents):
        assert list(corpus.documents(document.start)) == documents[position:]
    assert list(corpus.documents(DocumentStart(len(corpus.files), 0, 6))) == []


def test_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.txt"))):
        Corpus([tmp_path / "nope.txt"])


def test_empty_corpus_names_its_sources(tmp_path):
    empty = write(tmp_path / "empty.txt", "\n \n\n")
    blank = write(tmp_path / "blank.jsonl", json.dumps({"text": ""}) + "\n")
    with pytest.raises(ValueError, match=f"no text: {re.escape(str(empty))}, {re.escape(str(blank))}"):
        list(Corpus([empty, blank]).documents())


def test_folder_without_text_files(tmp_path):
    write(tmp_path / "data.csv", "a,b")
    with pytest.raises(ValueError, match=f"no .txt, .jsonl, .json files under {re.escape(str(tmp_path))}"):
        Corpus(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"fine\n\nGIF89a\x01\x00", r"binary data \(NUL byte\) at byte offset 13"),
        ("caf\u00e9\n".encode("latin-1"), "not UTF-8 text at byte offset 3"),
    ],
)
def test_binary_and_non_utf8_files(tmp_path, content, message):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}: {message}"):
        list(Corpus(path).documents())


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "invalid JSON at byte offset 15"), ('["text"]', 'not an object with a string "text"')],
)
def test_malformed_json_lines(tmp_path, line, message):
    path = write(tmp_path / "bad.jsonl", '{"text": 1}\n'.replace("1", '"ok"') + line + "\n")
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}: .*{re.escape(message)}"):
        list(Corpus(path).documents())


def test_austen_paragraphs_are_documents(data_dir):
    corpus = Corpus(data_dir / "austen")
    assert [p.name for p in corpus.files][:2] == ["emma.txt", "mansfieldpark.txt"]
    documents = corpus.documents()
    assert [next(documents).text for _ in range(3)] == ["EMMA", "By Jane Austen", "VOLUME I"]
    count = 3 + sum(1 for _ in documents)
    assert 10_000 < count < 20_000


def test_default_corpus_is_cached_english_prose(tmp_path):
    path = default_corpus(tmp_path)
    assert path.parent == tmp_path and path.name.startswith("default_corpus-") and path.suffix == ".jsonl"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left behind
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    modules = [r["source"] for r in records if not r["source"].startswith("pydoc_data.topics:")]
    topics = [r["source"] for r in records[len(modules) :]]
    assert modules == sorted(modules) and topics == sorted(topics)
    assert {"textwrap", "builtins", "collections"} <= set(modules)
    assert not any(m.split(".")[0] in {"antigravity", "this", "tkinter", "idlelib", "test"} for m in modules)
    assert "pydoc_data.topics:if" in topics
    module_chars = sum(len(r["text"]) for r in records[: len(modules)])
    topic_chars = sum(len(r["text"]) for r in records[len(modules) :])
    assert 1_000_000 < module_chars < 3_000_000 and 300_000 < topic_chars < 1_000_000
    words = re.findall(r"[a-z]+", " ".join(r["text"] for r in records).lower())
    assert words.count("the") / len(words) > 0.03  # English prose, not code
    written = path.stat().st_mtime_ns
    assert default_corpus(tmp_path) == path and path.stat().st_mtime_ns == written  # read from the cache
    assert texts(Corpus(path))[0] == records[0]["text"]
