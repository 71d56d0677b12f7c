"""What `ElectraTokenizer` and `ElectraTokenizerFast` share: everything but splitting text into ids.

The API is that of HF `transformers` 4.57's `BertTokenizer` / `BertTokenizerFast` (ELECTRA uses
BERT's tokenizer). A subclass implements one method, `_encode_texts`, which turns texts into
WordPiece ids (and character offsets) without special tokens; templates, truncation, padding,
tensors, decoding and files are done here, once, for both.
"""

import operator
import warnings
from pathlib import Path

from electra.common.tokenizers import call, encoding, files
from electra.common.tokenizers import padding as padding_rules
from electra.common.tokenizers.encoding import BatchEncoding, Piece

# Spaces HF removes when decoding ("clean_up_tokenization_spaces"), in its order.
_DECODE_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                   (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


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

    # HF's attributes that its data collators read.
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side = "right"
    pad_token_type_id = 0
    # How "longest_first" splits a pair's kept length (HF's slow and fast tokenizers differ).
    _pair_lengths = staticmethod(encoding.longest_first_lengths_fast)
    # Whether `text_pair=""` in a single call means no pair (HF's fast tokenizer) or an empty one.
    _empty_pair_is_none = False

    def __init__(self, vocab_file=None, *, vocab=None, do_lower_case: bool = True, strip_accents=None,
                 tokenize_chinese_chars: bool = True, never_split=None, unk_token: str = "[UNK]",
                 sep_token: str = "[SEP]", pad_token: str = "[PAD]", cls_token: str = "[CLS]",
                 mask_token: str = "[MASK]", additional_special_tokens=None,
                 model_max_length: int = files.NO_MAX_LENGTH, clean_up_tokenization_spaces: bool = True):
        if (vocab_file is None) == (vocab is None):
            raise ValueError("give exactly one of vocab_file and vocab")
        source = f"vocab file '{vocab_file}'" if vocab_file is not None else "vocab"
        self._vocab = files.index_vocab(files.read_vocab_file(vocab_file) if vocab_file is not None else vocab, source)
        self._tokens = list(self._vocab)
        if isinstance(model_max_length, bool) or not isinstance(model_max_length, int) or model_max_length < 1:
            raise ValueError(f"model_max_length must be a positive int, got {model_max_length!r}")
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.model_max_length = model_max_length
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.special_tokens = {"unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token,
                               "cls_token": cls_token, "mask_token": mask_token}
        self.additional_special_tokens = [token for token in dict.fromkeys(additional_special_tokens or ())
                                          if token not in self.special_tokens.values()]
        self.never_split = [token for token in dict.fromkeys(never_split or ())
                            if token not in {*self.special_tokens.values(), *self.additional_special_tokens}]
        for name, token in [*self.special_tokens.items(), *(("additional_special_tokens", token) for token in
                                                            self.additional_special_tokens),
                            *(("never_split", token) for token in self.never_split)]:
            if token not in self._vocab:
                raise ValueError(f"{source} has no {token!r} token ({name})")
        self._specials_changed()

    def _specials_changed(self) -> None:
        """Recompute the special-token attributes after the special tokens change."""
        for name, token in self.special_tokens.items():
            setattr(self, name, token)
        self.all_special_tokens = list(dict.fromkeys([*self.special_tokens.values(), *self.additional_special_tokens]))
        self.all_special_ids = [self._vocab[token] for token in self.all_special_tokens]
        self._special_id_set = frozenset(self.all_special_ids)

    def _vocab_changed(self) -> None:
        """Rebuild what depends on the vocabulary and the whole-kept tokens (a subclass's engine)."""

    # ---- added tokens -------------------------------------------------------------------------
    def _add_to_vocab(self, tokens) -> int:
        """Append the tokens not yet in the vocabulary; returns how many were new.

        Raises:
            ValueError: a token that is not a non-empty str.
        """
        added = 0
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise ValueError(f"an added token must be a non-empty str, got {token!r}")
            if token not in self._vocab:
                self._vocab[token] = len(self._tokens)
                self._tokens.append(token)
                added += 1
        return added

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens kept whole wherever they occur in the text (as written), as HF's `add_tokens`.

        Args:
            new_tokens: a str or a list of str; new ones get the next ids.
            special_tokens: add them as additional special tokens (skipped by `decode(...,
                skip_special_tokens=True)`, marked by `get_special_tokens_mask`).

        Returns:
            How many tokens were new to the vocabulary.
        """
        new_tokens = [new_tokens] if isinstance(new_tokens, str) else list(new_tokens)
        added = self._add_to_vocab(new_tokens)
        kept = set(self.all_special_tokens)
        if special_tokens:
            self.additional_special_tokens += [token for token in dict.fromkeys(new_tokens) if token not in kept]
            self.never_split = [token for token in self.never_split if token not in new_tokens]
            self._specials_changed()
        else:
            self.never_split += [token for token in dict.fromkeys(new_tokens)
                                 if token not in kept and token not in self.never_split]
        self._vocab_changed()
        return added

    def add_special_tokens(self, special_tokens_dict: dict) -> int:
        """Set special tokens, as HF's `add_special_tokens`.

        Args:
            special_tokens_dict: keys "unk_token", "sep_token", "pad_token", "cls_token",
                "mask_token" (a token each) and "additional_special_tokens" (a list, added to
                the existing ones).

        Returns:
            How many tokens were new to the vocabulary.

        Raises:
            ValueError: another key, or a token that is not a non-empty str.
        """
        allowed = [*self.special_tokens, "additional_special_tokens"]
        unknown = sorted(set(special_tokens_dict) - set(allowed))
        if unknown:
            raise ValueError(f"add_special_tokens: unknown keys {unknown}, expected some of {allowed}")
        named = {name: token for name, token in special_tokens_dict.items() if name != "additional_special_tokens"}
        added = self._add_to_vocab(named.values())
        self.special_tokens.update(named)
        self.never_split = [token for token in self.never_split if token not in named.values()]
        self._specials_changed()
        return added + self.add_tokens(special_tokens_dict.get("additional_special_tokens", []), special_tokens=True)

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        """Ids of `additional_special_tokens`."""
        return [self._vocab[token] for token in self.additional_special_tokens]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens the template adds: 2 for a text, 3 for a pair."""
        return 3 if pair else 2

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
                 max_length: int | None = None, stride: int = 0, is_split_into_words: bool = False,
                 pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                 return_tensors: str | None = None, return_token_type_ids: bool | None = None,
                 return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                 return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                 return_length: bool = False) -> BatchEncoding:
        """Encode a text, a pair, or a batch of either, as HF's `BertTokenizerFast.__call__`.

        Args:
            text: a str, or a list of str or of (text, text_pair) pairs; with
                `is_split_into_words`, a list of words or a list of such lists.
            text_pair: the second text (a str, or a list as long as `text`).
            add_special_tokens: add `[CLS]` and `[SEP]`.
            padding: False/"do_not_pad", True/"longest" (longest row), "max_length".
            truncation: False/"do_not_truncate", True/"longest_first", "only_first", "only_second";
                None means "longest_first" when `max_length` is given without padding (as HF).
            max_length: the length truncation and padding="max_length" aim at; defaults to
                `model_max_length` (HF's default, int(1e30), means no truncation or padding).
            stride: tokens each overflowing window repeats from the one before.
            is_split_into_words: the texts are lists of words; `word_ids()` then indexes them.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            padding_side: "right" or "left" (default `self.padding_side`).
            return_tensors: None (lists), "np", "pt", "tf" or "jax".
            return_token_type_ids, return_attention_mask: include these columns (default True).
            return_overflowing_tokens: keep what truncation cuts as more rows (windows of the
                cut text, as HF's fast tokenizer), with `overflow_to_sample_mapping`.
            return_special_tokens_mask: add `special_tokens_mask` (1 for added special tokens and padding).
            return_offsets_mapping: add `offset_mapping`: (start, end) character spans in the
                input text (in each word with `is_split_into_words`), (0, 0) for special and
                padding tokens.
            return_length: add `length`, each row's length before padding.

        Returns:
            A BatchEncoding with the asked columns: lists for one input (lists of lists with
            overflowing rows), lists of lists for a batch, (B, L) tensors when asked.

        Raises:
            ValueError: an unknown strategy, a bad max_length or stride, a truncation that
                cannot reach max_length, rows of different lengths with `return_tensors`.
        """
        batched, rows = call.gather_inputs(text, text_pair, is_split_into_words)
        if self._empty_pair_is_none and not batched and rows[0][1] == "":
            rows = [(rows[0][0], None)]
        padding_side = self.padding_side if padding_side is None else padding_side
        padding_rules.check_padding_options(pad_to_multiple_of, padding_side)
        padding, max_length = self.padding_and_max_length(padding, max_length)
        truncation = encoding.truncation_strategy(truncation, max_length, padding)
        if max_length is None and truncation != "do_not_truncate":
            truncation, max_length = self._default_max_length("truncate", truncation)
        if truncation != "do_not_truncate" and padding != "do_not_pad" and pad_to_multiple_of is not None \
                and max_length % pad_to_multiple_of:
            raise ValueError(f"truncation to max_length={max_length} with padding needs a multiple of "
                             f"pad_to_multiple_of={pad_to_multiple_of}")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
            raise ValueError(f"stride must be a non-negative int, got {stride!r}")

        with_details = return_offsets_mapping or is_split_into_words
        firsts = self._encode_inputs([first for first, _ in rows], with_details, is_split_into_words)
        seconds = iter(self._encode_inputs([second for _, second in rows if second is not None], with_details,
                                           is_split_into_words))
        columns = call.empty_columns(return_special_tokens_mask, return_offsets_mapping, with_details)
        samples = []
        for index, (first, (_, second_text)) in enumerate(zip(firsts, rows)):
            second = next(seconds) if second_text is not None else None
            parts = [(first, second)]
            if truncation != "do_not_truncate":
                n_special = (2 if second is None else 3) if add_special_tokens else 0
                if max_length < n_special:
                    raise ValueError(f"max_length={max_length} is shorter than the {n_special} special tokens of row {index}")
                parts = encoding.truncate(first, second, max_length - n_special, truncation, index, stride=stride,
                                          pair_lengths=self._pair_lengths)
            for part in parts if return_overflowing_tokens else parts[:1]:
                call.append_row(self, columns, *part, add_special_tokens)
                samples.append(index)
        if return_length:
            columns["length"] = [len(row) for row in columns["input_ids"]]
        padding_rules.pad_rows(columns, padding, max_length, self.pad_values(), pad_to_multiple_of=pad_to_multiple_of,
                               padding_side=padding_side)
        if return_overflowing_tokens:
            columns["overflow_to_sample_mapping"] = samples
        for name, wanted in (("token_type_ids", return_token_type_ids), ("attention_mask", return_attention_mask)):
            if wanted is False:
                del columns[name]
        if with_details:
            details = list(zip(columns.pop("word_ids"), columns.pop("sequence_ids")))
        else:
            def details():
                """Word and sequence ids, from the same call with offsets (computed only when asked)."""
                again = self(text, text_pair, add_special_tokens=add_special_tokens, padding=padding,
                             truncation=truncation, max_length=max_length, stride=stride,
                             pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                             return_overflowing_tokens=return_overflowing_tokens, return_offsets_mapping=True)
                return again._details
        ids = columns["input_ids"]
        if return_tensors is not None:
            out = encoding.to_tensors(columns, return_tensors)
        elif batched or return_overflowing_tokens:
            out = columns
        else:
            out = {name: column[0] for name, column in columns.items()}
        return BatchEncoding(out, tokens=lambda row: self.convert_ids_to_tokens(ids[row]), details=details)

    def _encode_inputs(self, texts: list, with_details: bool, is_split_into_words: bool) -> list[Piece]:
        """The Pieces of texts, or of lists of words (each word encoded alone, word ids = positions)."""
        if not is_split_into_words:
            return self._encode_texts(texts, with_details)
        words = iter(self._encode_texts([word for words in texts for word in words], with_details))
        return [encoding.join_words([next(words) for _ in text]) for text in texts]

    def encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        """One text or pair: `self(text, text_pair, **kwargs)` (HF's older name)."""
        if not isinstance(text, str) and not kwargs.get("is_split_into_words"):
            raise TypeError(f"encode_plus takes one text (a str), got {type(text).__name__}; use batch_encode_plus")
        return self(text, text_pair, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs, **kwargs) -> BatchEncoding:
        """A list of texts or of (text, text_pair) pairs: `self(batch, **kwargs)` (HF's older name)."""
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TypeError("batch_encode_plus takes a list of texts or pairs, "
                            f"got {type(batch_text_or_text_pairs).__name__}")
        return self(list(batch_text_or_text_pairs), **kwargs)

    def pad(self, encoded_inputs, padding=True, max_length: int | None = None, pad_to_multiple_of: int | None = None,
            padding_side: str | None = None, return_attention_mask: bool | None = None,
            return_tensors: str | None = None, verbose: bool = True) -> BatchEncoding:
        """Pad encoded rows as HF's `tokenizer.pad` (see `tokenizer_padding.pad`; `verbose` is accepted, unused)."""
        return padding_rules.pad(self, encoded_inputs, padding, max_length, pad_to_multiple_of, padding_side,
                                 return_attention_mask, return_tensors)

    def pad_values(self) -> dict:
        """Column name -> the value that pads it."""
        return {"input_ids": self.pad_token_id, "token_type_ids": 0, "attention_mask": 0, "special_tokens_mask": 1,
                "offset_mapping": (0, 0), "word_ids": None, "sequence_ids": None}

    def padding_and_max_length(self, padding, max_length) -> tuple[str, int | None]:
        """The padding strategy and max_length of a call, with `model_max_length` as HF's default.

        Raises:
            ValueError: an unknown strategy, a max_length that is not a non-negative int.
        """
        padding = encoding.padding_strategy(padding)
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0):
            raise ValueError(f"max_length must be a non-negative int, got {max_length!r}")
        if max_length is None and padding == "max_length":
            padding, max_length = self._default_max_length("pad", padding)
        return padding, max_length

    def _default_max_length(self, action: str, strategy: str) -> tuple[str, int | None]:
        """(strategy, model_max_length); as HF, no truncation or padding (with a warning) when
        the tokenizer has no real maximum (HF's int(1e30) default)."""
        if self.model_max_length > files.LARGE_MAX_LENGTH:
            warnings.warn(f"asked to {action} to max_length, but no max_length is given and model_max_length is "
                          f"HF's 'no limit' default: no {'truncation' if action == 'truncate' else 'padding'}",
                          stacklevel=4)
            return ("do_not_truncate" if action == "truncate" else "do_not_pad"), None
        return strategy, self.model_max_length

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
        return files.tokenizer_json(self._vocab, specials=self.special_tokens,
                                    additional_specials=self.additional_special_tokens, never_split=self.never_split,
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
            "model_max_length": self.model_max_length,
            "never_split": self.never_split or None,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "tokenizer_class": "ElectraTokenizer",
            **self.special_tokens,
        }
        special_map = dict(self.special_tokens)
        if self.additional_special_tokens:
            config["additional_special_tokens"] = special_map["additional_special_tokens"] = self.additional_special_tokens
        paths = [directory / name for name in (files.VOCAB_FILE, files.TOKENIZER_FILE, files.CONFIG_FILE,
                                               files.SPECIAL_TOKENS_FILE)]
        files.write_text_atomic(paths[0], "".join(token + "\n" for token in self._tokens))
        files.write_json_atomic(paths[1], self.tokenizer_json(), sort_keys=False)
        files.write_json_atomic(paths[2], config)
        files.write_json_atomic(paths[3], special_map)
        return tuple(map(str, paths))
