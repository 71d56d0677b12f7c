"""What `ElectraTokenizer` and `ElectraTokenizerFast` share: everything but splitting text into ids.

The API is that of HF `transformers` 4.57's `BertTokenizer` / `BertTokenizerFast` (ELECTRA uses
BERT's tokenizer). A subclass implements one method, `_encode_texts`, which turns texts into
WordPiece ids (and character offsets) without special tokens; templates, truncation, padding,
tensors, decoding and files are done here, once, for both.
"""

import operator
from pathlib import Path

from electra.common import tokenizer_encoding as encoding
from electra.common import tokenizer_files as files
from electra.common.tokenizer_encoding import BatchEncoding, Piece

# Spaces HF removes when decoding ("clean_up_tokenization_spaces"), in its order.
_DECODE_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                   (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def _gather_inputs(text, text_pair) -> tuple[bool, list]:
    """Validate `__call__`'s inputs.

    Returns:
        (batched, rows): rows are (first, second-or-None) str pairs.

    Raises:
        TypeError: inputs that are not str, lists of str or lists of (str, str) pairs.
        ValueError: `text` and `text_pair` lists of different lengths, a pair of the wrong size.
    """
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise TypeError(f"text_pair must be a str when text is a str, got {type(text_pair).__name__}")
        return False, [(text, text_pair)]
    if not isinstance(text, (list, tuple)):
        raise TypeError(f"text must be a str, a list of str or a list of (str, str) pairs, got {type(text).__name__}")
    if text_pair is not None:
        if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
            raise ValueError(f"text_pair must be a list as long as text ({len(text)} items), got {text_pair!r:.80}")
        rows = list(zip(text, text_pair))
    else:
        rows = []
        for index, item in enumerate(text):
            if isinstance(item, (list, tuple)) and len(item) != 2:
                raise ValueError(f"text[{index}] must be a str or a (text, text_pair) pair, got {len(item)} items")
            rows.append((item, None) if not isinstance(item, (list, tuple)) else tuple(item))
    for index, (first, second) in enumerate(rows):
        if not isinstance(first, str) or not (second is None or isinstance(second, str)):
            raise TypeError(f"batch item {index} must be str or a pair of str, got {(first, second)!r:.80}")
    return True, rows


class TokenizerBase:
    """A BERT WordPiece tokenizer with HF's API; subclasses implement `_encode_texts`.

    Args:
        vocab_file: a `vocab.txt` (one token per line). Give it or `vocab`.
        vocab: the tokens in id order, instead of a file.
        do_lower_case: lowercase the text.
        strip_accents: remove accents (NFD, drop nonspacing marks); None follows `do_lower_case`.
        tokenize_chinese_chars: make each CJK ideograph a word of its own.
        never_split: tokens (in the vocabulary) kept whole wherever they occur in the text, as
            the special tokens are. HF's slow tokenizer keeps them only as whole
            whitespace-separated words; its fast one ignores them.
        unk_token, sep_token, pad_token, cls_token, mask_token: the special tokens (in the vocabulary).
        model_max_length: the length truncation and padding="max_length" use when `max_length`
            is not given (None: no default, they then need `max_length`).
        clean_up_tokenization_spaces: `decode` removes spaces before punctuation, as HF.

    Raises:
        ValueError: an unreadable, non-UTF-8, empty or duplicated vocabulary, or a special or
            never_split token missing from it (the message names the file).
    """

    def __init__(self, vocab_file=None, *, vocab=None, do_lower_case: bool = True, strip_accents=None,
                 tokenize_chinese_chars: bool = True, never_split=None, unk_token: str = "[UNK]",
                 sep_token: str = "[SEP]", pad_token: str = "[PAD]", cls_token: str = "[CLS]",
                 mask_token: str = "[MASK]", model_max_length: int | None = None,
                 clean_up_tokenization_spaces: bool = True):
        if (vocab_file is None) == (vocab is None):
            raise ValueError("give exactly one of vocab_file and vocab")
        source = f"vocab file '{vocab_file}'" if vocab_file is not None else "vocab"
        self._vocab = files.index_vocab(files.read_vocab_file(vocab_file) if vocab_file is not None else vocab, source)
        self._tokens = list(self._vocab)
        if model_max_length is not None and (not isinstance(model_max_length, int) or model_max_length < 1):
            raise ValueError(f"model_max_length must be a positive int or None, got {model_max_length!r}")
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.model_max_length = model_max_length
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.special_tokens = {"unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token,
                               "cls_token": cls_token, "mask_token": mask_token}
        self.never_split = [token for token in dict.fromkeys(never_split or ()) if token not in self.special_tokens.values()]
        for name, token in [*self.special_tokens.items(), *(("never_split", token) for token in self.never_split)]:
            if token not in self._vocab:
                raise ValueError(f"{source} has no {token!r} token ({name})")
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        self.all_special_tokens = list(dict.fromkeys(self.special_tokens.values()))
        self.all_special_ids = [self._vocab[token] for token in self.all_special_tokens]
        self._special_id_set = frozenset(self.all_special_ids)

    # ---- what a subclass implements -------------------------------------------------------
    def _encode_texts(self, texts: list[str], with_offsets: bool) -> list[Piece]:
        """WordPiece ids of each text, without special tokens (offsets only when asked)."""
        raise NotImplementedError

    # ---- vocabulary -----------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return len(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
                f"strip_accents={self.strip_accents}, tokenize_chinese_chars={self.tokenize_chinese_chars})")

    unk_token_id = property(lambda self: self._vocab[self.unk_token], doc="Id of the unknown token.")
    sep_token_id = property(lambda self: self._vocab[self.sep_token], doc="Id of the separator token.")
    pad_token_id = property(lambda self: self._vocab[self.pad_token], doc="Id of the padding token.")
    cls_token_id = property(lambda self: self._vocab[self.cls_token], doc="Id of the classifier token.")
    mask_token_id = property(lambda self: self._vocab[self.mask_token], doc="Id of the mask token.")

    def get_vocab(self) -> dict[str, int]:
        """A copy of the token -> id mapping."""
        return dict(self._vocab)

    def convert_tokens_to_ids(self, tokens):
        """Id of a token (or list of ids of a list of tokens); unknown tokens give `unk_token_id`."""
        if isinstance(tokens, str):
            return self._vocab.get(tokens, self.unk_token_id)
        return [self._vocab.get(token, self.unk_token_id) for token in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """Token of an id (or list of tokens of a list of ids).

        Raises:
            ValueError: an id outside the vocabulary.
        """
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        if not isinstance(ids, (list, tuple)):
            return self.convert_ids_to_tokens([ids])[0]
        ids = [operator.index(index) for index in ids]
        if ids and (min(ids) < 0 or max(ids) >= len(self._tokens)):
            bad = min(ids) if min(ids) < 0 else max(ids)
            raise ValueError(f"token id {bad} is not in the vocabulary (ids 0..{len(self._tokens) - 1})")
        if skip_special_tokens:
            ids = [index for index in ids if index not in self._special_id_set]
        return [self._tokens[index] for index in ids]

    # ---- text -> tokens -------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of `text`, without special tokens."""
        return self.convert_ids_to_tokens(self.encode_batch_ids([text])[0])

    def encode_batch_ids(self, texts) -> list[list[int]]:
        """Ids of many texts without special tokens: the fast path for tokenizing a corpus."""
        texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}")
        return [piece.ids for piece in self._encode_texts(texts, False)]

    def encode(self, text, text_pair=None, **kwargs) -> list[int]:
        """`self(text, text_pair, **kwargs)["input_ids"]`."""
        return self(text, text_pair, **kwargs)["input_ids"]

    # ---- templates --------------------------------------------------------------------------
    def build_inputs_with_special_tokens(self, token_ids_0: list, token_ids_1: list | None = None) -> list:
        """`[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`."""
        ids = [self.cls_token_id, *token_ids_0, self.sep_token_id]
        return ids if token_ids_1 is None else [*ids, *token_ids_1, self.sep_token_id]

    def create_token_type_ids_from_sequences(self, token_ids_0: list, token_ids_1: list | None = None) -> list:
        """Token types of the template: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`."""
        types = [0] * (len(token_ids_0) + 2)
        return types if token_ids_1 is None else types + [1] * (len(token_ids_1) + 1)

    def get_special_tokens_mask(self, token_ids_0: list, token_ids_1: list | None = None,
                                already_has_special_tokens: bool = False) -> list:
        """1 where the template puts a special token, else 0.

        With `already_has_special_tokens`, `token_ids_0` already holds them: 1 for every special id.
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("already_has_special_tokens=True takes one sequence with its special tokens")
            return [int(index in self._special_id_set) for index in token_ids_0]
        mask = [1, *[0] * len(token_ids_0), 1]
        return mask if token_ids_1 is None else [*mask, *[0] * len(token_ids_1), 1]

    # ---- __call__ ---------------------------------------------------------------------------
    def __call__(self, text, text_pair=None, *, add_special_tokens: bool = True, padding=False, truncation=None,
                 max_length: int | None = None, return_offsets_mapping: bool = False,
                 return_special_tokens_mask: bool = False, return_tensors: str | None = None) -> BatchEncoding:
        """Encode a text, a pair, or a batch of either, as HF's `BertTokenizerFast.__call__`.

        Args:
            text: a str, or a list of str or of (text, text_pair) pairs.
            text_pair: the second text (a str, or a list as long as `text`).
            add_special_tokens: add `[CLS]` and `[SEP]`.
            padding: False/"do_not_pad", True/"longest" (longest row), "max_length".
            truncation: False/"do_not_truncate", True/"longest_first", "only_first", "only_second";
                None means "longest_first" when `max_length` is given without padding (as HF).
            max_length: the length truncation and padding="max_length" aim at; defaults to
                `model_max_length`.
            return_offsets_mapping: add `offset_mapping`: (start, end) character spans in the
                input text, (0, 0) for special and padding tokens.
            return_special_tokens_mask: add `special_tokens_mask` (1 for added special tokens and padding).
            return_tensors: None (lists), "np", "pt", "tf" or "jax".

        Returns:
            A BatchEncoding with `input_ids`, `token_type_ids`, `attention_mask` (and the asked
            extras): lists for one input, lists of lists for a batch, (B, L) tensors when asked.

        Raises:
            ValueError: an unknown strategy, a missing max_length, a truncation that cannot reach
                max_length, rows of different lengths with `return_tensors`.
        """
        batched, rows = _gather_inputs(text, text_pair)
        padding = encoding.padding_strategy(padding)
        truncation = encoding.truncation_strategy(truncation, max_length, padding)
        if max_length is None and (truncation != "do_not_truncate" or padding == "max_length"):
            max_length = self.model_max_length
            if max_length is None:
                raise ValueError(f"truncation={truncation!r} and padding={padding!r} need max_length "
                                 "(this tokenizer has no model_max_length)")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 0):
            raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")

        firsts = self._encode_texts([first for first, _ in rows], return_offsets_mapping)
        seconds = iter(self._encode_texts([second for _, second in rows if second is not None], return_offsets_mapping))
        columns = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
        if return_special_tokens_mask:
            columns["special_tokens_mask"] = []
        if return_offsets_mapping:
            columns["offset_mapping"] = []
        for index, (first, (_, second_text)) in enumerate(zip(firsts, rows)):
            second = next(seconds) if second_text is not None else None
            if truncation != "do_not_truncate":
                n_special = (2 if second is None else 3) if add_special_tokens else 0
                if max_length < n_special:
                    raise ValueError(f"max_length={max_length} is shorter than the {n_special} special tokens of row {index}")
                first, second = encoding.truncate(first, second, max_length - n_special, truncation, index)
            self._append_row(columns, first, second, add_special_tokens)
        encoding.pad_rows(columns, padding, max_length, {"input_ids": self.pad_token_id, "token_type_ids": 0,
                                                         "attention_mask": 0, "special_tokens_mask": 1,
                                                         "offset_mapping": (0, 0)})
        if return_tensors is not None:
            return BatchEncoding(encoding.to_tensors(columns, return_tensors))
        return BatchEncoding({name: column if batched else column[0] for name, column in columns.items()})

    def _append_row(self, columns: dict, first: Piece, second: Piece | None, add_special_tokens: bool) -> None:
        """Append one encoded row (a text or a pair) to every column."""
        ids_b = None if second is None else second.ids
        if add_special_tokens:
            columns["input_ids"].append(self.build_inputs_with_special_tokens(first.ids, ids_b))
            columns["token_type_ids"].append(self.create_token_type_ids_from_sequences(first.ids, ids_b))
        else:
            columns["input_ids"].append(first.ids + (ids_b or []))
            columns["token_type_ids"].append([0] * len(first) + [1] * len(ids_b or []))
        length = len(columns["input_ids"][-1])
        columns["attention_mask"].append([1] * length)
        if "special_tokens_mask" in columns:
            special = self.get_special_tokens_mask(first.ids, ids_b) if add_special_tokens else [0] * length
            columns["special_tokens_mask"].append(special)
        if "offset_mapping" in columns:
            edge = [(0, 0)] if add_special_tokens else []
            offsets = edge + first.offsets + edge
            if second is not None:
                offsets += second.offsets + edge
            columns["offset_mapping"].append(offsets)

    # ---- ids -> text ------------------------------------------------------------------------
    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None) -> str:
        """The text of one sequence of ids: pieces joined, `##` continuations glued on, as HF.

        Args:
            token_ids: an int, a list of ints, or a 1-D array/tensor.
            skip_special_tokens: leave out special tokens.
            clean_up_tokenization_spaces: remove spaces before punctuation (default: the tokenizer's setting).
        """
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        text = " ".join(tokens).replace(" ##", "").strip()
        if self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces:
            for old, new in _DECODE_CLEANUP:
                text = text.replace(old, new)
        return text

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None) -> list[str]:
        """`decode` of each sequence (a list of lists, or a 2-D array/tensor)."""
        sequences = sequences.tolist() if hasattr(sequences, "tolist") else sequences
        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in sequences]

    # ---- files ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory, **overrides):
        """Load a tokenizer folder written by `save_pretrained` or by HF (`vocab.txt`, configs, `tokenizer.json`).

        Args:
            directory: the folder.
            **overrides: constructor arguments that replace what the files say.

        Raises:
            ValueError: a missing folder or vocabulary, an unreadable or invalid file.
        """
        return cls(**{**files.read_pretrained(directory), **overrides})

    def tokenizer_json(self) -> dict:
        """This tokenizer as the `tokenizers` library's `tokenizer.json` content."""
        return files.tokenizer_json(self._vocab, specials=self.special_tokens, never_split=self.never_split,
                                    lowercase=self.do_lower_case, strip_accents=self.strip_accents,
                                    tokenize_chinese_chars=self.tokenize_chinese_chars)

    def save_pretrained(self, directory) -> tuple[str, ...]:
        """Write `vocab.txt`, `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json`.

        HF 4.57 reads the folder with `AutoTokenizer`, `ElectraTokenizer(Fast)` or `BertTokenizer(Fast)`.

        Returns:
            The written paths.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        added = {str(self._vocab[token]): {"content": token, "lstrip": False, "normalized": False, "rstrip": False,
                                           "single_word": False, "special": token not in self.never_split}
                 for token in [*self.all_special_tokens, *self.never_split]}
        config = {
            "added_tokens_decoder": dict(sorted(added.items(), key=lambda item: int(item[0]))),
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "do_basic_tokenize": True,
            "do_lower_case": self.do_lower_case,
            "extra_special_tokens": {},
            "model_max_length": self.model_max_length or files.NO_MAX_LENGTH,
            "never_split": self.never_split or None,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "tokenizer_class": "ElectraTokenizer",
            **self.special_tokens,
        }
        paths = [directory / name for name in (files.VOCAB_FILE, files.TOKENIZER_FILE, files.CONFIG_FILE,
                                               files.SPECIAL_TOKENS_FILE)]
        files.write_text_atomic(paths[0], "".join(token + "\n" for token in self._tokens))
        files.write_json_atomic(paths[1], self.tokenizer_json(), sort_keys=False)
        files.write_json_atomic(paths[2], config)
        files.write_json_atomic(paths[3], dict(self.special_tokens))
        return tuple(map(str, paths))
