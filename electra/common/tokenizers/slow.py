"""Pure-Python ELECTRA/BERT WordPiece tokenizer (HF `BertTokenizer`: BasicTokenizer + WordpieceTokenizer).

It gives the ids and offsets of `ElectraTokenizerFast` (the Rust `tokenizers` pipeline),
character by character, except where HF's slow tokenizer differs from its fast one and we follow
it (category C characters removed, a truncated pair split as `truncate_sequences`, an empty
`text_pair` kept; docs/tokenizers.md):
1. special tokens (and `never_split` tokens) are split off the raw text, longest first;
2. each other character is normalized on its own (`tokenizer_unicode.normalize_char`: clean,
   space around CJK, strip accents, lowercase) and remembers its position in the input;
3. the normalized text is split on whitespace, and each punctuation character is a word;
4. each word becomes the greedy longest-match WordPiece pieces (`##` continuations), or
   `[UNK]` when a piece is missing or the word is longer than 100 characters.

Speed: text without non-ASCII or control characters takes a regular-expression path (the
normalization is then at most `str.lower`), per-character normalization and per-word
WordPiece results are cached (LRU), and the piece search never tries a substring longer than
the longest vocabulary token.
"""

import functools
import re

from electra.common.tokenizers import encoding
from electra.common.tokenizers import unicode as unicode_rules
from electra.common.tokenizers.base import TokenizerBase
from electra.common.tokenizers.encoding import Piece

_MAX_WORD_CHARS = 100
_CACHE_SIZE = 1 << 17
# ASCII control characters that cleaning removes (tab, newline, carriage return are whitespace).
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# In clean ASCII text a word is a run of letters and digits; every other visible character is punctuation.
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9 \t\n\r]")
_SPACE, _PUNCTUATION, _LETTER = range(3)


class ElectraTokenizer(TokenizerBase):
    """ELECTRA's WordPiece tokenizer in pure Python, HF-compatible (`transformers.ElectraTokenizer`).

    Args:
        vocab_file: a `vocab.txt`; other arguments as `TokenizerBase` (`vocab`, `do_lower_case`,
            `strip_accents`, `tokenize_chinese_chars`, `never_split`, special tokens,
            `model_max_length`, `clean_up_tokenization_spaces`).

    Unlike HF's slow tokenizer, it returns `offset_mapping` too.
    """

    is_fast = False
    _pair_lengths = staticmethod(encoding.longest_first_lengths_slow)

    def __init__(self, vocab_file=None, **kwargs):
        super().__init__(vocab_file, **kwargs)
        strip_accents = self.do_lower_case if self.strip_accents is None else bool(self.strip_accents)
        self._normalize_char = functools.partial(
            unicode_rules.normalize_char, lowercase_text=self.do_lower_case, strip_accents=strip_accents,
            split_cjk=self.tokenize_chinese_chars,
        )
        self._classify_char = functools.lru_cache(maxsize=_CACHE_SIZE)(self._classify_char_uncached)
        self._vocab_changed()

    def _vocab_changed(self) -> None:
        """Rebuild the whole-token pattern and the WordPiece cache."""
        self._wordpiece = functools.lru_cache(maxsize=_CACHE_SIZE)(self._wordpiece_uncached)
        whole_tokens = sorted({*self.all_special_tokens, *self.never_split}, key=len, reverse=True)
        self._whole_tokens = re.compile("|".join(map(re.escape, whole_tokens)))
        self._longest_token = max(map(len, self._vocab))

    def _encode_texts(self, texts: list[str], with_offsets: bool) -> list[Piece]:
        """WordPiece ids (with offsets and word ids when asked) of each text, without template special tokens."""
        return [self._encode_text(text, with_offsets) for text in texts]

    def _encode_text(self, text: str, with_offsets: bool) -> Piece:
        """Split special tokens off `text`, encode the spans between them."""
        ids: list[int] = []
        offsets, words = ([], []) if with_offsets else (None, None)
        start = 0
        for match in self._whole_tokens.finditer(text):
            self._encode_span(text[start:match.start()], start, ids, offsets, words)
            ids.append(self._vocab[match.group()])
            if offsets is not None:
                offsets.append(match.span())
                words.append(words[-1] + 1 if words else 0)
            start = match.end()
        self._encode_span(text[start:] if start else text, start, ids, offsets, words)
        return Piece(ids, offsets, words)

    def _encode_span(self, span: str, base: int, ids: list, offsets: list | None, words: list | None) -> None:
        """Append the ids (and offsets, shifted by `base`, and word ids) of text without special tokens."""
        if span.isascii() and not _ASCII_CONTROL.search(span):
            normalized = span.lower() if self.do_lower_case else span
            if offsets is None:
                for word in _ASCII_WORDS.findall(normalized):
                    ids.extend(self._wordpiece(word)[0])
                return
            found = ((match.group(), [base + i for i in range(*match.span())])
                     for match in _ASCII_WORDS.finditer(normalized))
        else:
            found = self._split_words(span, base)
        for word, positions in found:
            word_ids, spans = self._wordpiece(word)
            ids.extend(word_ids)
            if offsets is not None:
                offsets.extend((positions[begin], positions[end - 1] + 1) for begin, end in spans)
                words.extend([words[-1] + 1 if words else 0] * len(word_ids))

    def _classify_char_uncached(self, char: str) -> tuple:
        """The normalized characters of `char`, each with its class (space, punctuation, letter)."""
        return tuple(
            (c, _SPACE if unicode_rules.is_whitespace(c) else _PUNCTUATION if unicode_rules.is_punctuation(c) else _LETTER)
            for c in self._normalize_char(char)
        )

    def _split_words(self, span: str, base: int) -> list[tuple[str, list[int]]]:
        """Normalize `span` and split it into words, each with the input position of each character."""
        words = []
        chars: list[str] = []
        positions: list[int] = []
        for position, char in enumerate(span, base):
            for normalized, kind in self._classify_char(char):
                if kind == _LETTER:
                    chars.append(normalized)
                    positions.append(position)
                    continue
                if chars:
                    words.append(("".join(chars), positions))
                    chars, positions = [], []
                if kind == _PUNCTUATION:
                    words.append((normalized, [position]))
        if chars:
            words.append(("".join(chars), positions))
        return words

    def _wordpiece_uncached(self, word: str) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
        """Greedy longest-match-first WordPiece of one word.

        Returns:
            (ids, spans): the pieces' ids and their (start, end) character spans in `word`;
            `[UNK]` spanning the word when a piece is missing or the word is too long.
        """
        vocab, length = self._vocab, len(word)
        unknown = (self.unk_token_id,), ((0, length),)
        if length > _MAX_WORD_CHARS:
            return unknown
        ids, spans, start = [], [], 0
        while start < length:
            prefix = "##" if start else ""
            for end in range(min(length, start + self._longest_token), start, -1):
                token_id = vocab.get(prefix + word[start:end])
                if token_id is not None:
                    break
            else:
                return unknown
            ids.append(token_id)
            spans.append((start, end))
            start = end
        return tuple(ids), tuple(spans)
