"""ELECTRA/BERT WordPiece tokenizer on the Rust `tokenizers` library, and WordPiece vocabulary training.

`ElectraTokenizerFast` matches HF's `BertTokenizerFast` / `ElectraTokenizerFast`: its pipeline
is the `tokenizer.json` HF writes (BertNormalizer, BertPreTokenizer, WordPiece model,
TemplateProcessing, WordPiece decoder), built by `tokenizer_files.tokenizer_json` so that the
file we save and the pipeline we run are one description. Rust turns texts into ids and offsets
(in parallel, for batches); templates, truncation and padding are the shared Python code of
`TokenizerBase`, so that this tokenizer and the pure-Python `ElectraTokenizer` agree exactly.
"""

import json
from pathlib import Path

from tokenizers import Tokenizer, trainers

from electra.common.tokenizers.base import TokenizerBase
from electra.common.tokenizers.encoding import Piece
from electra.common.tokenizers.files import VOCAB_FILE

# Special tokens of a trained vocabulary, in id order: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
TRAINED_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class ElectraTokenizerFast(TokenizerBase):
    """ELECTRA's WordPiece tokenizer on the `tokenizers` library (`transformers.ElectraTokenizerFast`).

    Args:
        vocab_file: a `vocab.txt`; other arguments as `TokenizerBase` (`vocab`, `do_lower_case`,
            `strip_accents`, `tokenize_chinese_chars`, `never_split`, special tokens,
            `model_max_length`, `clean_up_tokenization_spaces`).
    """

    is_fast = True
    _empty_pair_is_none = True

    def __init__(self, vocab_file=None, **kwargs):
        super().__init__(vocab_file, **kwargs)
        self._vocab_changed()

    def _vocab_changed(self) -> None:
        """Rebuild the Rust pipeline from this tokenizer's `tokenizer.json`."""
        self.backend_tokenizer = Tokenizer.from_str(json.dumps(self.tokenizer_json()))

    def _encode_texts(self, texts: list[str], with_offsets: bool) -> list[Piece]:
        """WordPiece ids (with offsets and word ids when asked) of each text, without template special tokens."""
        if not texts:
            return []
        if with_offsets:
            encodings = self.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
            return [Piece(e.ids, e.offsets, e.word_ids) for e in encodings]
        return [Piece(e.ids, None) for e in self.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def train_wordpiece(files, vocab_size: int, *, out_dir, min_frequency: int = 2, lowercase: bool = True,
                    strip_accents=None, tokenize_chinese_chars: bool = True, limit_alphabet: int = 1000) -> Path:
    """Train a WordPiece vocabulary on text files with the `tokenizers` trainer (as BERT's was made).

    The text is normalized and split exactly as the tokenizers built from the result will do.
    The special tokens come first: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4 (BERT's released
    vocabulary has [PAD]=0 and [UNK]..[MASK]=100..103 after 99 unused slots; a trained one has
    no unused slots).

    Args:
        files: a path or a list of paths of UTF-8 text files.
        vocab_size: the vocabulary size to reach (fewer when the corpus has fewer distinct pieces).
        lowercase, strip_accents, tokenize_chinese_chars: the tokenizer options (strip_accents
            None follows lowercase).
        out_dir: the folder to write the tokenizer into (`save_pretrained`: vocab.txt,
            tokenizer.json, tokenizer_config.json, special_tokens_map.json).
        min_frequency: how often a merged piece must occur.
        limit_alphabet: the most distinct single characters kept.

    Returns:
        The path of the written `vocab.txt` (tokens in id order).

    Raises:
        ValueError: no files, a missing file, or a vocab_size smaller than the special tokens.
    """
    paths = [Path(files)] if isinstance(files, (str, Path)) else [Path(path) for path in files]
    if not paths:
        raise ValueError("train_wordpiece needs at least one text file")
    for path in paths:
        if not path.is_file():
            raise ValueError(f"training file '{path}' does not exist")
    if not isinstance(vocab_size, int) or vocab_size <= len(TRAINED_SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an int above {len(TRAINED_SPECIAL_TOKENS)}, got {vocab_size!r}")
    options = dict(do_lower_case=lowercase, strip_accents=strip_accents, tokenize_chinese_chars=tokenize_chinese_chars)
    specials = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), TRAINED_SPECIAL_TOKENS))
    pipeline = ElectraTokenizerFast(vocab=TRAINED_SPECIAL_TOKENS, **options, **specials).backend_tokenizer
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                        special_tokens=list(TRAINED_SPECIAL_TOKENS), limit_alphabet=limit_alphabet,
                                        continuing_subword_prefix="##")
    pipeline.train([str(path) for path in paths], trainer)
    vocab = pipeline.get_vocab(with_added_tokens=False)
    tokens = sorted(vocab, key=vocab.__getitem__)
    ElectraTokenizerFast(vocab=tokens, **options, **specials).save_pretrained(out_dir)
    return Path(out_dir) / VOCAB_FILE
