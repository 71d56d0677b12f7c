"""Sentence splitting and packing of documents into fixed-length pretraining examples.

Follows `ExampleBuilder` of google-research/electra (`build_pretraining_dataset.py`):
sentences of one document are gathered until they reach a target length, then split into
segments A and B near the middle, `[CLS] A [SEP] B [SEP]` with token types 0 and 1. 10%
of examples keep everything in A (`[CLS] A [SEP]`), 5% aim for a random target length in
[5, L] instead of L. Examples never cross a document boundary. Two differences:
- tokens that do not fit (the overflow of the last sentence, or the rest of a sentence
  longer than L) start the next example of the same document instead of being dropped;
  the original drops them, about half a sentence per example.
- the short-target draw is made before each example rather than after the previous one
  (same distribution; the original's first example always aims for L).
- once B has begun, every later sentence goes to B; the original lets a short later
  sentence jump back into A, which reorders the text.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

TokenizeBatch = Callable[[list[str]], list[list[int]]]  # texts -> token ids without special tokens
SINGLE_SEGMENT_PROB = 0.1
SHORT_TARGET_PROB = 0.05
MIN_TARGET_LENGTH = 5  # the original's `random.randint(5, max_length)`

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# End punctuation, closing quotes or brackets, then whitespace and a capital, digit or opening quote.
_SENTENCE_END = re.compile(r"""[.!?]+["'\u201d\u2019)\]]*(?=\s+["'\u201c\u2018(\[]*[A-Z0-9])""")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "rev", "col", "gen", "capt", "vs"})
_ABBREVIATIONS |= {"e.g", "i.e", "cf", "viz", "fig"}


def split_sentences(text: str) -> list[str]:
    """Splits text into sentences by rule, with whitespace runs (line breaks too) collapsed.

    A sentence ends at a blank line, or at `.`, `!` or `?` (plus closing quotes or
    brackets) followed by whitespace and a capital letter, a digit or an opening quote;
    except after a common title or abbreviation (`Mr.`, `e.g.`) or a single capital
    (an initial, `J. Smith`).

    Args:
        text: a document.

    Returns:
        The non-empty sentences in order.
    """
    sentences = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        start = 0
        for match in _SENTENCE_END.finditer(paragraph):
            words = paragraph[start : match.end()].split()
            if words and _ends_with_abbreviation(words[-1]):
                continue
            sentences.append(" ".join(words))
            start = match.end()
        sentences.append(" ".join(paragraph[start:].split()))
    return [sentence for sentence in sentences if sentence]


def _ends_with_abbreviation(word: str) -> bool:
    """Whether a word ending in "." is a title, an abbreviation or an initial, not a sentence end."""
    stem = word.lstrip("\"'(\u201c\u2018[")
    if not stem.endswith(".") or stem.endswith(".."):
        return False
    stem = stem[:-1]
    return stem.lower() in _ABBREVIATIONS or (len(stem) == 1 and stem.isupper())


def pack_document(
    sentences: Sequence[Sequence[int]], rng: np.random.Generator, max_seq_length: int
) -> list[tuple[list[int], list[int]]]:
    """Packs one tokenized document into (segment A, segment B) pairs, without special tokens.

    Args:
        sentences: token ids per sentence, in document order.
        rng: source of the segment and target-length choices.
        max_seq_length: L; each pair satisfies `len(A) + len(B) + 3 <= L` (B may be empty,
            then `len(A) + 2 <= L`).

    Returns:
        The pairs in order. Concatenated, they give back every token of the document.
    """
    if max_seq_length < MIN_TARGET_LENGTH:
        raise ValueError(f"max_seq_length must be >= {MIN_TARGET_LENGTH}, got {max_seq_length}")
    queue = deque(list(sentence) for sentence in sentences if len(sentence))
    pairs: list[tuple[list[int], list[int]]] = []
    gathered: list[list[int]] = []
    gathered_length = 0
    target_length = _draw_target_length(rng, max_seq_length)
    while queue:
        sentence = queue.popleft()
        gathered.append(sentence)
        gathered_length += len(sentence)
        if gathered_length >= target_length or not queue:
            segment_a, segment_b, overflow = _split_segments(gathered, target_length, max_seq_length, rng)
            pairs.append((segment_a, segment_b))
            if overflow:
                queue.appendleft(overflow)
            gathered, gathered_length = [], 0
            target_length = _draw_target_length(rng, max_seq_length)
    return pairs


def _draw_target_length(rng: np.random.Generator, max_seq_length: int) -> int:
    """L, or with probability 5% a uniform length in [5, L]."""
    if rng.random() < SHORT_TARGET_PROB:
        return int(rng.integers(MIN_TARGET_LENGTH, max_seq_length + 1))
    return max_seq_length


def _split_segments(
    sentences: list[list[int]], target_length: int, max_seq_length: int, rng: np.random.Generator
) -> tuple[list[int], list[int], list[int]]:
    """`ExampleBuilder._create_example`: (A, B, overflow) where A + B + overflow = the sentences."""
    first_target: float
    if rng.random() < SINGLE_SEGMENT_PROB:
        first_target = math.inf  # A takes everything (cut at L - 2, the rest overflows)
    else:
        first_target = (target_length - 3) // 2  # -3 for [CLS] A [SEP] B [SEP]
    segment_a: list[int] = []
    segment_b: list[int] = []
    for sentence in sentences:
        # A takes the sentence if A is empty or, while B is empty, if it fits under the
        # first target or (50%) if it is the first sentence to overshoot that target.
        if not segment_a or (
            not segment_b
            and (
                len(segment_a) + len(sentence) < first_target
                or (len(segment_a) < first_target and rng.random() < 0.5)
            )
        ):
            segment_a += sentence
        else:
            segment_b += sentence
    if len(segment_a) > max_seq_length - 2:
        return segment_a[: max_seq_length - 2], [], segment_a[max_seq_length - 2 :] + segment_b
    room_b = max(0, max_seq_length - len(segment_a) - 3)
    return segment_a, segment_b[:room_b], segment_b[room_b:]


def encode_examples(
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    max_seq_length: int,
    *,
    cls_id: int,
    sep_id: int,
    pad_id: int,
) -> dict[str, np.ndarray]:
    """Lays out (A, B) pairs as `[CLS] A [SEP] B [SEP]` (or `[CLS] A [SEP]` where B is empty), padded.

    Args:
        pairs: N pairs from `pack_document`.
        max_seq_length: L.
        cls_id, sep_id, pad_id: the special token ids.

    Returns:
        "input_ids", "token_type_ids" (0 on [CLS] A [SEP], 1 on B [SEP], 0 on padding) and
        "attention_mask" (1 on tokens, 0 on padding), each (N, L) int32.
    """
    input_ids = np.full((len(pairs), max_seq_length), pad_id, dtype=np.int32)
    token_type_ids = np.zeros((len(pairs), max_seq_length), dtype=np.int32)
    attention_mask = np.zeros((len(pairs), max_seq_length), dtype=np.int32)
    for row, (segment_a, segment_b) in enumerate(pairs):
        tokens = [cls_id, *segment_a, sep_id]
        length_a = len(tokens)
        if len(segment_b):
            tokens += [*segment_b, sep_id]
        if len(tokens) > max_seq_length:
            raise ValueError(f"example {row} has {len(tokens)} tokens with specials, more than L={max_seq_length}")
        input_ids[row, : len(tokens)] = tokens
        token_type_ids[row, length_a : len(tokens)] = 1
        attention_mask[row, : len(tokens)] = 1
    return {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}


def tokenize_documents(documents: Sequence[str], tokenize_batch: TokenizeBatch) -> list[list[list[int]]]:
    """Splits documents into sentences and tokenizes all sentences in one call.

    Args:
        documents: D document texts.
        tokenize_batch: texts -> token ids without special tokens (for example
            `ElectraTokenizerFast.encode_batch_ids`).

    Returns:
        Per document, the token ids of each of its sentences, in order (what `pack_document`
        takes, and what `shards` stores).
    """
    sentences_per_document = [split_sentences(document) for document in documents]
    sentences = [sentence for document in sentences_per_document for sentence in document]
    token_ids = tokenize_batch(sentences)
    if len(token_ids) != len(sentences):
        raise ValueError(f"tokenize_batch returned {len(token_ids)} results for {len(sentences)} texts")
    tokenized = []
    end = 0
    for document in sentences_per_document:
        start, end = end, end + len(document)
        tokenized.append(list(token_ids[start:end]))
    return tokenized


def pack_examples(
    tokenized_documents: Sequence[Sequence[Sequence[int]]],
    rng: np.random.Generator,
    *,
    max_seq_length: int,
    cls_id: int,
    sep_id: int,
    pad_id: int,
) -> dict[str, np.ndarray]:
    """Packs tokenized documents (`tokenize_documents`) one after the other into examples.

    Args:
        tokenized_documents: per document, the token ids of each sentence.
        rng: source of the packing choices.
        max_seq_length, cls_id, sep_id, pad_id: as `encode_examples`.

    Returns:
        As `encode_examples`, the examples of all documents in document order, (N, L) each.
    """
    pairs = []
    for sentences in tokenized_documents:
        pairs += pack_document(sentences, rng, max_seq_length)
    return encode_examples(pairs, max_seq_length, cls_id=cls_id, sep_id=sep_id, pad_id=pad_id)


def build_examples(
    documents: Sequence[str],
    tokenize_batch: TokenizeBatch,
    rng: np.random.Generator,
    *,
    max_seq_length: int,
    cls_id: int,
    sep_id: int,
    pad_id: int,
) -> dict[str, np.ndarray]:
    """Splits documents into sentences, tokenizes them in one call and packs each document.

    Args:
        documents: D document texts.
        tokenize_batch: as `tokenize_documents`.
        rng: source of the packing choices.
        max_seq_length, cls_id, sep_id, pad_id: as `encode_examples`.

    Returns:
        As `encode_examples`, the examples of all documents in document order, (N, L) each.
    """
    return pack_examples(
        tokenize_documents(documents, tokenize_batch), rng, max_seq_length=max_seq_length, cls_id=cls_id, sep_id=sep_id,
        pad_id=pad_id,
    )
