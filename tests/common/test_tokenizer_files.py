"""Tokenizer folders both ways with HF 4.57, WordPiece training, and bad files.

A folder HF writes is read by `from_pretrained` with its options; a folder `save_pretrained`
writes is read by HF's `AutoTokenizer`, `ElectraTokenizer(Fast)` and `BertTokenizer`; every
bad file gives a ValueError naming the file and the problem.
"""

from __future__ import annotations

import json
import os

import pytest
import transformers

from electra.common.tokenizers.fast import ElectraTokenizerFast, train_wordpiece
from electra.common.tokenizers.slow import ElectraTokenizer

TOKENIZERS = (ElectraTokenizer, ElectraTokenizerFast)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "Cat", "é", "e",
         "[unused0]", ",", "!", "un", "##able", "##s", "naïve", "naive"]
TEXTS = ["The cat sat on the mat, unable!", "Cat naïve é [MASK] cats", "[unused0] the"]


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(token + "\n" for token in VOCAB), encoding="utf-8")
    return path


def encodings(tokenizer, with_offsets=True) -> dict:
    extras = dict(return_offsets_mapping=True) if with_offsets else {}
    out = dict(tokenizer(TEXTS, TEXTS[::-1], padding=True, return_special_tokens_mask=True, **extras))
    if with_offsets:
        out["offset_mapping"] = [[tuple(pair) for pair in row] for row in out["offset_mapping"]]
    return out


# ---- HF-written folders -------------------------------------------------------------------------
@pytest.mark.parametrize("hf_class", ["BertTokenizer", "BertTokenizerFast", "ElectraTokenizer", "ElectraTokenizerFast"])
@pytest.mark.parametrize("cls", TOKENIZERS)
def test_reads_folders_hf_writes(tmp_path, vocab_file, hf_class, cls):
    options = dict(do_lower_case=False, strip_accents=True, model_max_length=24,
                   additional_special_tokens=["[unused0]"])
    hf = getattr(transformers, hf_class)(str(vocab_file), **options)
    hf.save_pretrained(tmp_path / "hf")
    ours = cls.from_pretrained(tmp_path / "hf")
    assert (ours.do_lower_case, ours.strip_accents, ours.model_max_length) == (False, True, 24)
    assert (ours.additional_special_tokens, ours.never_split) == (["[unused0]"], [])
    assert ours.vocab_size == len(VOCAB) and ours.get_vocab() == hf.get_vocab()
    assert encodings(ours, with_offsets=False) == encodings(hf, with_offsets=False)
    if hf_class.endswith("Fast"):
        assert encodings(ours) == encodings(hf)
    assert ours("the cat " * 20, truncation=True)["input_ids"] == hf("the cat " * 20, truncation=True)["input_ids"]


def test_reads_a_folder_with_only_tokenizer_json(tmp_path, vocab_file):
    hf = transformers.BertTokenizerFast(str(vocab_file))
    hf.save_pretrained(tmp_path / "hf", legacy_format=False)
    assert not (tmp_path / "hf" / "vocab.txt").exists()
    for cls in TOKENIZERS:
        assert encodings(cls.from_pretrained(tmp_path / "hf")) == encodings(hf)


# ---- folders we write -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", TOKENIZERS)
@pytest.mark.parametrize("options", [dict(), dict(do_lower_case=False, strip_accents=False, model_max_length=16),
                                     dict(tokenize_chinese_chars=False, never_split=["[unused0]"])], ids=str)
def test_hf_reads_folders_we_write(tmp_path, vocab_file, cls, options):
    ours = cls(vocab_file=vocab_file, **options)
    written = ours.save_pretrained(tmp_path / "ours")
    assert sorted(os.path.basename(path) for path in written) == [
        "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    assert not [p for p in (tmp_path / "ours").iterdir() if p.name.startswith(".")]  # no temporary files left
    auto = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert type(auto).__name__ == "ElectraTokenizerFast"
    for hf in (auto, transformers.BertTokenizer.from_pretrained(tmp_path / "ours"),
               transformers.ElectraTokenizer.from_pretrained(tmp_path / "ours")):
        assert hf.do_lower_case == ours.do_lower_case
        assert hf.model_max_length == options.get("model_max_length", int(1e30))
        assert hf.get_vocab() == ours.get_vocab()
        assert encodings(hf, with_offsets=False) == encodings(ours, with_offsets=False)
    assert encodings(auto) == encodings(ours)
    again = cls.from_pretrained(tmp_path / "ours")
    assert encodings(again) == encodings(ours)
    assert (again.do_lower_case, again.strip_accents, again.tokenize_chinese_chars, again.never_split,
            again.model_max_length) == (ours.do_lower_case, ours.strip_accents, ours.tokenize_chinese_chars,
                                        ours.never_split, ours.model_max_length)


def test_from_pretrained_overrides(tmp_path, vocab_file):
    ElectraTokenizerFast(vocab_file=vocab_file).save_pretrained(tmp_path)
    assert ElectraTokenizer.from_pretrained(tmp_path, do_lower_case=False).tokenize("Cat") == ["Cat"]
    assert ElectraTokenizer.from_pretrained(tmp_path).tokenize("Cat") == ["cat"]


# ---- train_wordpiece --------------------------------------------------------------------------------
def test_train_wordpiece_round_trips(tmp_path):
    corpus = tmp_path / "corpus.txt"
    words = ["walking", "talking", "walked", "talked", "running", "jumping", "the", "a", "dog", "cat", "naïve"]
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(9)) + "." for i in range(300)]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab_path = train_wordpiece([corpus], 120, out_dir=tmp_path / "trained")
    assert vocab_path == tmp_path / "trained" / "vocab.txt"
    tokens = vocab_path.read_text(encoding="utf-8").split("\n")[:-1]
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 40 < len(tokens) <= 120 and len(set(tokens)) == len(tokens)
    assert any(token.startswith("##") for token in tokens) and "naïve" not in tokens  # lowercased, accents stripped
    for cls in TOKENIZERS:
        tokenizer = cls.from_pretrained(tmp_path / "trained")
        assert tokenizer.get_vocab() == {token: index for index, token in enumerate(tokens)}
        ids = tokenizer.encode_batch_ids(lines[:50])
        assert tokenizer.unk_token_id not in {i for row in ids for i in row}
        assert tokenizer.batch_decode(ids) == [line.replace("naïve", "naive").replace(" .", ".") for line in lines[:50]]
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path / "trained")
    assert hf(lines[:50])["input_ids"] == ElectraTokenizerFast(vocab_file=vocab_path)(lines[:50])["input_ids"]


def test_train_wordpiece_bad_arguments(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("some text\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least one text file"):
        train_wordpiece([], 100, out_dir=tmp_path / "out")
    with pytest.raises(ValueError, match="training file '.*missing.txt' does not exist"):
        train_wordpiece([corpus, tmp_path / "missing.txt"], 100, out_dir=tmp_path / "out")
    with pytest.raises(ValueError, match="vocab_size must be an int above 5, got 5"):
        train_wordpiece(corpus, 5, out_dir=tmp_path / "out")


# ---- bad files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", TOKENIZERS)
def test_bad_vocab_files(tmp_path, cls):
    path = tmp_path / "vocab.txt"
    with pytest.raises(ValueError, match=r"cannot read vocab file '.*vocab.txt'.*No such file"):
        cls(vocab_file=path)
    with pytest.raises(ValueError, match=r"cannot read vocab file '.*': Is a directory"):
        cls(vocab_file=tmp_path)
    path.write_bytes(b"[PAD]\n[UNK]\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"vocab file '.*vocab.txt' is not valid UTF-8"):
        cls(vocab_file=path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab file '.*vocab.txt' is empty"):
        cls(vocab_file=path)
    path.write_text("[PAD]\n[CLS]\n[SEP]\n[MASK]\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab file '.*vocab.txt' has no '\[UNK\]' token \(unk_token\)"):
        cls(vocab_file=path)
    path.write_text("[PAD]\n[UNK]\n\n[CLS]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab file '.*vocab.txt' has an empty token on line 3"):
        cls(vocab_file=path)
    path.write_text("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nthe\r\n", encoding="utf-8")
    assert cls(vocab_file=path).tokenize("The") == ["the"]  # Windows line ends are fine


@pytest.mark.parametrize("cls", TOKENIZERS)
def test_bad_tokenizer_folders(tmp_path, vocab_file, cls):
    with pytest.raises(ValueError, match=r"tokenizer directory '.*nowhere' does not exist"):
        cls.from_pretrained(tmp_path / "nowhere")
    folder = tmp_path / "tok"
    folder.mkdir()
    with pytest.raises(ValueError, match="has neither vocab.txt nor tokenizer.json"):
        cls.from_pretrained(folder)
    cls(vocab_file=vocab_file).save_pretrained(folder)
    config = folder / "tokenizer_config.json"
    good = json.loads(config.read_text())
    cases = [
        ("{not json", r"cannot read '.*tokenizer_config.json': Expecting property name"),
        ("[1, 2]", r"'.*tokenizer_config.json' must hold a JSON object, found list"),
        (json.dumps({**good, "unk_token": 5}), r"'.*tokenizer_config.json': unk_token must be a token string, found 5"),
        (json.dumps({**good, "do_basic_tokenize": False}), r"'.*tokenizer_config.json': do_basic_tokenize=False"),
        (json.dumps({**good, "do_lower_case": "yes"}),
         r"'.*tokenizer_config.json': do_lower_case must be true/false, found 'yes'"),
        (json.dumps({**good, "strip_accents": 1}),
         r"'.*tokenizer_config.json': strip_accents must be true/false or null, found 1"),
        (json.dumps({**good, "model_max_length": "512"}),
         r"'.*tokenizer_config.json': model_max_length must be a positive number, found '512'"),
        (json.dumps({**good, "never_split": "[MASK]"}), r"'.*tokenizer_config.json': never_split must be a list"),
    ]
    for text, message in cases:
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            cls.from_pretrained(folder)
    config.write_text(json.dumps(good), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps({"cls_token": "<s>"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab file '.*vocab.txt' has no '<s>' token \(cls_token\)"):
        cls.from_pretrained(folder)
    (folder / "special_tokens_map.json").write_bytes(b"\xff")
    with pytest.raises(ValueError, match=r"cannot read '.*special_tokens_map.json'"):
        cls.from_pretrained(folder)
    (folder / "special_tokens_map.json").unlink()
    (folder / "vocab.txt").unlink()
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {}}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"'.*tokenizer.json' does not hold a WordPiece model"):
        cls.from_pretrained(folder)
