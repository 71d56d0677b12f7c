"""Token classification data: words with one tag each, from CoNLL-style columns or JSON Lines.

CoNLL (any suffix but .jsonl/.json): one word per line, whitespace-separated columns, the word
first and the tag last (CoNLL-2003's `word POS chunk NER` reads as word + NER tag), a blank line
between sentences, `-DOCSTART-` lines skipped. JSON Lines: one sentence per line, a list of
words (`tokens`) and a list of tags (`tags`) as long; tags may be strings or integers
(`datasets`' `ner_tags`), an integer tag being named by its decimal string.

Sub-word labels follow HF's `run_ner.py`: a word's tag on its first sub-word, `IGNORE_INDEX`
(-100, no loss) on its other sub-words and on the special tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from electra.common.finetuning.labels import LabelMap
from electra.common.finetuning.tables import column, file_format, read_rows, text_lines
from electra.common.validation import IGNORE_INDEX

DOCSTART = "-DOCSTART-"
_FIELD_SEPARATOR = re.compile(r"[ \t]+")  # spaces and tabs only: a word may hold other Unicode spaces


@dataclass(frozen=True)
class TaggedSentence:
    """One sentence: its words, their tags (None when the file has no tags) and the line of each word."""

    words: tuple[str, ...]
    tags: tuple[str, ...] | None
    lines: tuple[int, ...]


def read_tagged_sentences(path: str | Path, *, words_key: str = "tokens", tags_key: str | None = "tags"
                          ) -> list[TaggedSentence]:
    """Read a token classification file (CoNLL columns, or JSON Lines when the suffix is .jsonl/.json).

    Args:
        words_key, tags_key: JSON Lines keys of the words and the tags (tags_key None: no tags;
            a CoNLL file then holds one column, the words).
    Raises:
        ValueError: a missing or empty file, no sentences, a malformed line (file and line), a
            word or tag that is not a string, words and tags of different lengths.
    """
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        return _json_sentences(path, words_key, tags_key)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    sentences, words, tags, lines = [], [], [], []
    for number, line in enumerate(text_lines(path.read_text(encoding="utf-8-sig")) + [""], start=1):
        fields = _FIELD_SEPARATOR.split(line.strip(" \t\r"))
        fields = fields if fields != [""] else []
        if fields and fields[0] == DOCSTART:
            continue
        if not fields:
            if words:
                sentences.append(TaggedSentence(tuple(words), tuple(tags) if tags_key else None, tuple(lines)))
                words, tags, lines = [], [], []
            continue
        if tags_key is not None and len(fields) < 2:
            raise ValueError(f"{path}:{number}: expected a word and a tag separated by whitespace, got {line!r:.80}")
        words.append(fields[0])
        tags.append(fields[-1])
        lines.append(number)
    if not sentences:
        raise ValueError(f"{path}: the file holds no sentences")
    return sentences


def _json_sentences(path: Path, words_key: str, tags_key: str | None) -> list[TaggedSentence]:
    _, rows = read_rows(path, fmt=file_format(path))
    sentences = []
    for row in rows:
        where = f"{path}:{row.line}"
        words = column(path, row, words_key, None)
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise ValueError(f"{where}: {words_key!r} must be a non-empty list of non-empty strings, got {words!r:.80}")
        tags = None
        if tags_key is not None:
            tags = column(path, row, tags_key, None)
            if not isinstance(tags, list) or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in tags):
                raise ValueError(f"{where}: {tags_key!r} must be a list of strings or integers, got {tags!r:.80}")
            if len(tags) != len(words):
                raise ValueError(f"{where}: {len(words)} words ({words_key!r}) but {len(tags)} tags ({tags_key!r})")
            tags = tuple(str(tag) for tag in tags)
        sentences.append(TaggedSentence(tuple(words), tags, (row.line,) * len(words)))
    return sentences


def tag_map(sentences: list[TaggedSentence], source: str | Path) -> LabelMap:
    """The tag set of training sentences (sorted as `LabelMap.from_labels` sorts names)."""
    tags = [tag for sentence in sentences for tag in (sentence.tags or ())]
    return LabelMap.from_labels(tags, str(source), problem_type="single_label_classification")


def encode_tags(sentences: list[TaggedSentence], label_map: LabelMap, source: str | Path) -> list[list[int]]:
    """Each sentence's tag ids.

    Raises:
        ValueError: a sentence without tags, or a tag the training data does not hold (file, line, tag).
    """
    encoded = []
    for sentence in sentences:
        if sentence.tags is None:
            raise ValueError(f"{source}:{sentence.lines[0]}: the sentence has no tags")
        encoded.append([label_map.encode(tag, f"{source}:{line}") for tag, line in zip(sentence.tags, sentence.lines)])
    return encoded


def align_tags(word_ids: list[int | None], word_tags: list[int]) -> list[int]:
    """Token labels from word labels: the tag on each word's first token, `IGNORE_INDEX` elsewhere.

    Args:
        word_ids: per token, the index of its word (None for special and padding tokens), as
            the tokenizer's `word_ids(row)` gives.
        word_tags: one tag id per word.
    """
    labels, previous = [], None
    for word in word_ids:
        labels.append(IGNORE_INDEX if word is None or word == previous else word_tags[word])
        previous = word
    return labels


def tokenize_tagged_sentences(tokenizer, sentences: list[TaggedSentence], max_length: int,
                              tag_ids: list[list[int]] | None = None):
    """Token ids of pre-split sentences with their aligned labels, cut to `max_length`.

    Args:
        tokenizer: a fast tokenizer or `ElectraTokenizer` (both give `word_ids`).
        tag_ids: `encode_tags`' output, or None for unlabeled sentences.
    Returns:
        (encoding, truncated): the unpadded encoding (input_ids, token_type_ids, attention_mask
        and, with tags, `labels`), and how many sentences lost words to truncation (those
        words get no prediction; `run_ner.py` cuts the same way).
    """
    words = [list(sentence.words) for sentence in sentences]
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    truncated = 0
    labels = []
    for row, sentence in enumerate(sentences):
        word_ids = encoding.word_ids(row)
        kept = max((w for w in word_ids if w is not None), default=-1) + 1
        truncated += kept < len(sentence.words)
        if tag_ids is not None:
            labels.append(align_tags(word_ids, tag_ids[row]))
    if tag_ids is not None:
        encoding["labels"] = labels
    return encoding, truncated


def tag_sequences(predictions: np.ndarray, labels: np.ndarray, label_map: LabelMap) -> tuple[list[list[str]], list[list[str]]]:
    """The gold and predicted tag names at the labeled tokens (labels != IGNORE_INDEX), per row, as run_ner scores them.

    Args:
        predictions: (B, L) predicted tag ids (argmax of the logits).
        labels: (B, L) gold tag ids with `IGNORE_INDEX` at unlabeled tokens.
    Returns:
        (gold, predicted): lists of tag-name lists, ready for `metrics.entity_scores`.
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape or predictions.ndim != 2:
        raise ValueError(f"predictions and labels must both be (B, L), got {predictions.shape} and {labels.shape}")
    names = label_map.names
    gold, predicted = [], []
    for row_predictions, row_labels in zip(predictions, labels):
        keep = row_labels != IGNORE_INDEX
        gold.append([names[i] for i in row_labels[keep]])
        predicted.append([names[i] for i in row_predictions[keep]])
    return gold, predicted
