"""Tokenizer files as HF `transformers` 4.57 reads and writes them for BERT/ELECTRA.

A tokenizer folder holds `vocab.txt` (one token per line, the line number is the id),
`tokenizer_config.json` (options and special tokens), `special_tokens_map.json` and
`tokenizer.json` (the `tokenizers` library's pipeline: BertNormalizer, BertPreTokenizer,
WordPiece model, TemplateProcessing, WordPiece decoder). Reading checks the content and
raises ValueError naming the file and the problem; writing is atomic
(`electra.common.files.atomic_open`: a temporary file in the same folder, then `os.replace`).
"""

import json
from pathlib import Path

from electra.common.files import atomic_open

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
TOKENIZER_FILE = "tokenizer.json"
# Special-token attributes and BERT's tokens, in HF's order (it fixes the order of `all_special_ids`).
DEFAULT_SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                          "cls_token": "[CLS]", "mask_token": "[MASK]"}
# HF's `model_max_length` when there is no limit (int(1e30)), and the value above which HF
# treats a model_max_length as no limit (int(1e20)).
NO_MAX_LENGTH = 1000000000000000019884624838656
LARGE_MAX_LENGTH = 100000000000000000000
# tokenizer_config.json keys passed to the tokenizer constructor unchanged, with the JSON types allowed.
_OPTION_TYPES = {"do_lower_case": (bool,), "strip_accents": (bool, type(None)), "tokenize_chinese_chars": (bool,),
                 "clean_up_tokenization_spaces": (bool,)}


_JSON_NAMES = {bool: "true/false", type(None): "null"}


def read_vocab_file(path) -> list[str]:
    """Read a `vocab.txt`: one token per line, ids in line order.

    Args:
        path: the file.

    Returns:
        The tokens in id order (a final newline ends the last line, it adds no token).

    Raises:
        ValueError: the file cannot be read, is not UTF-8, is empty or has an empty line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"vocab file '{path}' is not valid UTF-8 ({error})") from error
    except OSError as error:
        raise ValueError(f"cannot read vocab file '{path}': {error.strerror or error}") from error
    tokens = text.split("\n")
    if tokens[-1] == "":
        tokens.pop()
    tokens = [token[:-1] if token.endswith("\r") else token for token in tokens]
    if not tokens:
        raise ValueError(f"vocab file '{path}' is empty")
    if "" in tokens:
        raise ValueError(f"vocab file '{path}' has an empty token on line {tokens.index('') + 1}")
    return tokens


def index_vocab(tokens, source: str) -> dict[str, int]:
    """Map each token to its id (its position), refusing duplicates.

    Args:
        tokens: the tokens in id order.
        source: where they come from, for error messages (a file name).

    Returns:
        token -> id.

    Raises:
        ValueError: no tokens, an empty token, or a token listed twice.
    """
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or not token:
            raise ValueError(f"{source}: token {index} is {token!r}, expected a non-empty str")
        if token in vocab:
            raise ValueError(f"{source}: duplicate token {token!r} at ids {vocab[token]} and {index}")
        vocab[token] = index
    if not vocab:
        raise ValueError(f"{source} is empty")
    return vocab


def read_json(path: Path) -> dict:
    """Read a JSON object from `path`, or raise ValueError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read '{path}': {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' must hold a JSON object, found {type(data).__name__}")
    return data


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8, "\\n" line ends) to `path` atomically (`electra.common.files`)."""
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as stream:
        stream.write(text)


def write_json_atomic(path: Path, data: dict, sort_keys: bool = True) -> None:
    """Write `data` as indented UTF-8 JSON (HF sorts the keys of its config files)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n")


def _token_content(value, source: Path, key: str) -> str:
    """A special token given as a str or as HF's AddedToken dict `{"content": ...}`."""
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{source}': {key} must be a token string, found {value!r}")
    return value


def _vocab_from_tokenizer_json(path: Path) -> list[str]:
    """The WordPiece vocabulary inside a `tokenizer.json`, in id order."""
    model = read_json(path).get("model")
    if not isinstance(model, dict) or model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ValueError(f"'{path}' does not hold a WordPiece model with a vocab")
    vocab = model["vocab"]
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"'{path}': vocab ids are not 0..{len(vocab) - 1}")
    return sorted(vocab, key=vocab.__getitem__)


def read_pretrained(directory) -> dict:
    """Constructor arguments for a tokenizer saved in `directory` (by us or by HF).

    The vocabulary comes from `vocab.txt`, or from `tokenizer.json` when there is no
    `vocab.txt`. Options and special tokens come from `tokenizer_config.json`, overridden by
    `special_tokens_map.json` as HF does. `additional_special_tokens` stay special; other
    added tokens (HF's `added_tokens_decoder`) become `never_split` tokens, and those HF keeps
    outside `vocab.txt` (ids after it) are appended to the vocabulary.

    Args:
        directory: the folder.

    Returns:
        Keyword arguments for `ElectraTokenizer` / `ElectraTokenizerFast`.

    Raises:
        ValueError: the folder or its vocabulary is missing, a file is unreadable, or an
            option is not supported (`do_basic_tokenize=False`).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"tokenizer directory '{directory}' does not exist")
    config_path, special_path = directory / CONFIG_FILE, directory / SPECIAL_TOKENS_FILE
    config = read_json(config_path) if config_path.is_file() else {}
    special = read_json(special_path) if special_path.is_file() else {}
    if config.get("do_basic_tokenize", True) is not True:
        raise ValueError(f"'{config_path}': do_basic_tokenize=False is not supported")

    kwargs = {}
    for key, types in _OPTION_TYPES.items():
        if key in config:
            if not isinstance(config[key], types):
                raise ValueError(f"'{config_path}': {key} must be {' or '.join(_JSON_NAMES[t] for t in types)}, "
                                 f"found {config[key]!r}")
            kwargs[key] = config[key]
    max_length = config.get("model_max_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, float))
                                   or max_length < 1):
        raise ValueError(f"'{config_path}': model_max_length must be a positive number, found {max_length!r}")
    if max_length is not None and max_length < NO_MAX_LENGTH:
        kwargs["model_max_length"] = int(max_length)
    for name in DEFAULT_SPECIAL_TOKENS:
        for source, values in ((config_path, config), (special_path, special)):
            if values.get(name) is not None:
                kwargs[name] = _token_content(values[name], source, name)

    never_split = config.get("never_split") or []
    if not isinstance(never_split, list):
        raise ValueError(f"'{config_path}': never_split must be a list of tokens, found {never_split!r}")
    never_split = [_token_content(token, config_path, "never_split") for token in never_split]
    additional = []
    for source, values in ((config_path, config), (special_path, special)):
        additional += [_token_content(v, source, "additional_special_tokens") for v in values.get("additional_special_tokens", [])]
    specials = {kwargs.get(name, default) for name, default in DEFAULT_SPECIAL_TOKENS.items()}
    added = {}
    for key, entry in config.get("added_tokens_decoder", {}).items():
        if not isinstance(key, str) or not key.isdigit():
            raise ValueError(f"'{config_path}': added_tokens_decoder keys must be token ids, found {key!r}")
        added[int(key)] = _token_content(entry, config_path, "added_tokens_decoder")
    never_split += added.values()
    additional = [token for token in dict.fromkeys(additional) if token not in specials]
    never_split = [token for token in dict.fromkeys(never_split) if token not in specials and token not in additional]
    if additional:
        kwargs["additional_special_tokens"] = additional
    if never_split:
        kwargs["never_split"] = never_split

    if (directory / VOCAB_FILE).is_file():
        kwargs["vocab_file"] = directory / VOCAB_FILE
        tokens = read_vocab_file(directory / VOCAB_FILE)
    elif (directory / TOKENIZER_FILE).is_file():
        kwargs["vocab"] = tokens = _vocab_from_tokenizer_json(directory / TOKENIZER_FILE)
    else:
        raise ValueError(f"tokenizer directory '{directory}' has neither {VOCAB_FILE} nor {TOKENIZER_FILE}")
    beyond = _tokens_beyond_vocab(added, tokens, config_path)
    if beyond:
        kwargs.pop("vocab_file", None)
        kwargs["vocab"] = tokens + beyond
    return kwargs


def _tokens_beyond_vocab(added: dict[int, str], tokens: list[str], config_path: Path) -> list[str]:
    """The added tokens HF keeps outside `vocab.txt` (ids from its length on), in id order.

    Raises:
        ValueError: an added token whose id names another vocabulary token, or ids with a gap.
    """
    for token_id, token in added.items():
        if token_id < len(tokens) and tokens[token_id] != token:
            raise ValueError(f"'{config_path}': added token {token!r} has id {token_id}, which the vocabulary "
                             f"gives to {tokens[token_id]!r}")
    beyond = sorted(token_id for token_id in added if token_id >= len(tokens))
    if beyond != list(range(len(tokens), len(tokens) + len(beyond))):
        raise ValueError(f"'{config_path}': added token ids {beyond} do not follow the {len(tokens)} vocabulary tokens")
    return [added[token_id] for token_id in beyond]


def _added_token(token_id: int, content: str, special: bool) -> dict:
    """One entry of `added_tokens` in HF's format: matched whole, on the raw text."""
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": special}


def tokenizer_json(vocab: dict[str, int], *, specials: dict[str, str], additional_specials, never_split,
                   lowercase: bool, strip_accents, tokenize_chinese_chars: bool) -> dict:
    """The `tokenizer.json` content of a BERT WordPiece pipeline (the format of `tokenizers` 0.22).

    Args:
        vocab: token -> id.
        specials: special-token attribute name (e.g. "cls_token") -> token.
        additional_specials: more special tokens, kept whole wherever they occur.
        never_split: tokens kept whole wherever they occur (non-special added tokens).
        lowercase, strip_accents, tokenize_chinese_chars: the BertNormalizer options.

    Returns:
        A JSON-serialisable dict that `tokenizers.Tokenizer.from_str` and HF read.
    """
    added = [_added_token(vocab[token], token, True) for token in dict.fromkeys([*specials.values(), *additional_specials])]
    added += [_added_token(vocab[token], token, False) for token in never_split]
    cls, sep = specials["cls_token"], specials["sep_token"]

    def special(token, type_id):
        return {"SpecialToken": {"id": token, "type_id": type_id}}

    def sequence(name, type_id):
        return {"Sequence": {"id": name, "type_id": type_id}}

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": sorted(added, key=lambda entry: entry["id"]),
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": tokenize_chinese_chars,
                       "strip_accents": strip_accents, "lowercase": lowercase},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special(cls, 0), sequence("A", 0), special(sep, 0)],
            "pair": [special(cls, 0), sequence("A", 0), special(sep, 0), sequence("B", 1), special(sep, 1)],
            "special_tokens": {token: {"id": token, "ids": [vocab[token]], "tokens": [token]} for token in (cls, sep)},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": specials["unk_token"], "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }
