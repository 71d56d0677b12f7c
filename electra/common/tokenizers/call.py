"""The tokenizer's `__call__` inputs and outputs: checking what was passed, building the rows.

HF 4.57's `BertTokenizerFast.__call__` takes a text, a pair, a batch of either, or pre-split
words (`is_split_into_words=True`); each input row becomes one or more output rows (more when
truncation keeps the overflowing tokens), with `[CLS] A [SEP] (B [SEP])` templates.
"""

from electra.common.tokenizers.encoding import Piece


def _is_words(value) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(word, str) for word in value)


def gather_inputs(text, text_pair, is_split_into_words: bool) -> tuple[bool, list]:
    """Validate `__call__`'s inputs.

    Returns:
        (batched, rows): rows are (first, second-or-None), each a str, or a list of words
        with `is_split_into_words`.

    Raises:
        TypeError: inputs that are not str, lists of str or lists of (str, str) pairs.
        ValueError: `text` and `text_pair` lists of different lengths, a pair of the wrong size,
            `is_split_into_words` without lists of words.
    """
    if is_split_into_words:
        batched = isinstance(text, (list, tuple)) and bool(text) and not isinstance(text[0], str)
        texts, pairs = (text, text_pair) if batched else ([text], None if text_pair is None else [text_pair])
        if not isinstance(texts, (list, tuple)) or not all(_is_words(item) for item in texts):
            raise ValueError(f"is_split_into_words=True needs text as a list of words (str) or a list of such lists, "
                             f"got {text!r:.80}")
        if pairs is not None and (not isinstance(pairs, (list, tuple)) or len(pairs) != len(texts)
                                  or not all(_is_words(item) for item in pairs)):
            raise ValueError(f"is_split_into_words=True needs text_pair shaped as text, got {text_pair!r:.80}")
        return batched, list(zip(texts, pairs if pairs is not None else [None] * len(texts)))
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


def empty_columns(return_special_tokens_mask: bool, return_offsets_mapping: bool, with_details: bool) -> dict:
    """The output columns to fill, in HF's order, with the internal word and sequence id columns."""
    columns = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    if return_special_tokens_mask:
        columns["special_tokens_mask"] = []
    if return_offsets_mapping:
        columns["offset_mapping"] = []
    if with_details:
        columns["word_ids"], columns["sequence_ids"] = [], []
    return columns


def append_row(tokenizer, columns: dict, first: Piece, second: Piece | None, add_special_tokens: bool) -> None:
    """Append one encoded row (a text or a pair) to every column."""
    ids_b = None if second is None else second.ids
    if add_special_tokens:
        columns["input_ids"].append(tokenizer.build_inputs_with_special_tokens(first.ids, ids_b))
        columns["token_type_ids"].append(tokenizer.create_token_type_ids_from_sequences(first.ids, ids_b))
    else:
        columns["input_ids"].append(first.ids + (ids_b or []))
        columns["token_type_ids"].append([0] * len(first) + [1] * len(ids_b or []))
    length = len(columns["input_ids"][-1])
    columns["attention_mask"].append([1] * length)
    if "special_tokens_mask" in columns:
        special = tokenizer.get_special_tokens_mask(first.ids, ids_b) if add_special_tokens else [0] * length
        columns["special_tokens_mask"].append(special)
    edge = [None] if add_special_tokens else []
    parts = [(first, 0)] if second is None else [(first, 0), (second, 1)]
    for name, values in (("offset_mapping", lambda piece, _: piece.offsets), ("word_ids", lambda piece, _: piece.words),
                         ("sequence_ids", lambda piece, sequence: [sequence] * len(piece))):
        if name in columns:
            row = list(edge)
            for piece, sequence in parts:
                row += values(piece, sequence) + edge
            columns[name].append([(0, 0) if v is None else v for v in row] if name == "offset_mapping" else row)
