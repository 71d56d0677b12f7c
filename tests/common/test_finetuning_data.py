"""Fine-tuning data readers: CSV/TSV/JSON Lines classification files, label sets, CoNLL and JSON Lines tagging, SQuAD.

Every reader's bad input is an error naming the file and the line (or the question), before
anything is computed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from electra.common.finetuning.classification import encode_labels, read_text_examples
from electra.common.finetuning.labels import LabelMap
from electra.common.finetuning.squad import answer_texts, read_squad
from electra.common.finetuning.tables import read_rows
from electra.common.finetuning.tagging import align_tags, encode_tags, read_tagged_sentences, tag_map, tag_sequences
from electra.common.validation import IGNORE_INDEX


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- tables -----------------------------------------------------------------------------------------
def test_glue_tsv_reads_as_is(tmp_path):
    # SST-2 / MRPC style: header, tabs, quotes that are plain characters (no quoting in GLUE's TSVs).
    path = write(tmp_path, "train.tsv", 'sentence\tlabel\nit \'s a "charming" and often affecting journey . \t1\n"unflinchingly bleak\t0\n')
    columns, rows = read_rows(path)
    assert columns == ["sentence", "label"]
    assert [(r.line, r.values) for r in rows] == [(2, {"sentence": 'it \'s a "charming" and often affecting journey . ', "label": "1"}),
                                                  (3, {"sentence": '"unflinchingly bleak', "label": "0"})]


def test_headerless_tsv_has_positional_columns(tmp_path):
    # CoLA's train.tsv: source, label, original label, sentence; no header row.
    path = write(tmp_path, "in_domain_train.tsv", "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n")
    examples = read_text_examples(path, header=False, text_column="3", label_column="1")
    assert [(e.text, e.label, e.line) for e in examples] == [("Our friends won't buy this analysis.", "1", 1), ("They drank the pub.", "0", 2)]
    with pytest.raises(ValueError, match=r"no column 'sentence'; the columns are '0', '1', '2', '3'$"):
        read_text_examples(path, header=False, text_column="sentence")


def test_csv_quoting_multiline_fields_and_line_numbers(tmp_path):
    # U+0085 and U+2028 are text (Rotten Tomatoes has them), not line breaks as str.splitlines would take them.
    path = write(tmp_path, "d.csv", 'text,label\n"a, quoted ""x""",pos\n\n"two\nlines",neg\nlast\x85 one\u2028,pos\n')
    examples = read_text_examples(path)
    assert [(e.text, e.label, e.line) for e in examples] == [('a, quoted "x"', "pos", 2), ("two\nlines", "neg", 4),
                                                             ("last\x85 one\u2028", "pos", 6)]
    path = write(tmp_path, "d.jsonl", '{"text": "a\u2028b", "label": 1}\n{"text": "c", "label": 0}\n')
    assert [(e.text, e.line) for e in read_text_examples(path)] == [("a\u2028b", 1), ("c", 2)]


@pytest.mark.parametrize("name, text, message", [
    ("e.csv", "", r"e.csv: the file is empty"),
    ("e.csv", "text,label\n", r"e.csv: the file has a header row but no data rows"),
    ("e.csv", 'text,label\nok,1\n"open quote,1\n', r"e.csv:3: malformed CSV row"),
    ("e.csv", "text,label\nok,1\ntoo,many,fields\n", r"e.csv:3: the row has 3 fields, the header has 2 \(text, label\)"),
    ("e.tsv", "text\ttext\nok\tok\n", r"e.tsv:1: the header names column\(s\) 'text' more than once"),
    ("e.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": \n', r"e.jsonl:2: not valid JSON"),
    ("e.jsonl", '{"text": "a", "label": 1}\n[1, 2]\n', r"e.jsonl:2: expected a JSON object per line, got list"),
    ("e.txt", "text\n", r"cannot tell the format from the suffix '.txt'"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message):
        read_text_examples(write(tmp_path, name, text))


def test_missing_columns_list_the_columns_found(tmp_path):
    path = write(tmp_path, "d.csv", "sentence,label\nok,1\n")
    with pytest.raises(ValueError, match=r"d.csv: no column 'text'; the columns are 'sentence', 'label'; a file without a header row"):
        read_text_examples(path)
    path = write(tmp_path, "d.jsonl", '{"text": "a", "label": 1}\n{"sentence": "b", "label": 0}\n')
    with pytest.raises(ValueError, match=r"d.jsonl:2: no key 'text'; this line has 'sentence', 'label'"):
        read_text_examples(path)
    with pytest.raises(ValueError, match=r"d.jsonl:1: no key 'premise'"):
        read_text_examples(path, text_pair_column="premise")
    with pytest.raises(ValueError, match=r"no such file"):
        read_text_examples(tmp_path / "absent.csv")


def test_text_types_and_bad_label_types(tmp_path):
    assert [e.text for e in read_text_examples(write(tmp_path, "d.csv", "text,label\na,1\n,0\n"))] == ["a", ""]
    with pytest.raises(ValueError, match=r"d.jsonl:2: column 'text' must be a string, got None"):
        read_text_examples(write(tmp_path, "d.jsonl", '{"text": "a", "label": 1}\n{"text": null, "label": 1}\n'))
    with pytest.raises(ValueError, match=r"d.jsonl:1: a label must be a string, a number or a list, got True"):
        read_text_examples(write(tmp_path, "d.jsonl", '{"text": "a", "label": true}\n'))
    with pytest.raises(ValueError, match=r"d.jsonl:1: a label list must hold strings or integers"):
        read_text_examples(write(tmp_path, "d.jsonl", '{"text": "a", "label": [1.5]}\n'))


# ---- label sets -------------------------------------------------------------------------------------
def test_string_labels_sorted_and_unseen_validation_label_named(tmp_path):
    train = read_text_examples(write(tmp_path, "train.csv", "text,label\na,rotten\nb,fresh\nc,rotten\n"))
    labels = LabelMap.from_labels([e.label for e in train], "train.csv")
    assert (labels.problem_type, labels.id2label, labels.label2id) == ("single_label_classification", {0: "fresh", 1: "rotten"},
                                                                        {"fresh": 0, "rotten": 1})
    assert encode_labels(train, labels, "train.csv").tolist() == [1, 0, 1]
    assert encode_labels(train, labels, "train.csv").dtype == np.int64
    valid_path = write(tmp_path, "valid.csv", "text,label\nx,fresh\ny,stale\n")
    with pytest.raises(ValueError, match=r"valid.csv:3: label 'stale' is not one of the 2 labels of the training data \('fresh', 'rotten'\)"):
        encode_labels(read_text_examples(valid_path), labels, valid_path)


def test_integer_labels_sort_as_integers_and_json_ints_equal_strings(tmp_path):
    train = read_text_examples(write(tmp_path, "t.jsonl", "".join(json.dumps({"text": "t", "label": v}) + "\n" for v in (10, 2, 1, 2))))
    labels = LabelMap.from_labels([e.label for e in train], "t.jsonl")
    assert labels.names == ("1", "2", "10")
    assert encode_labels(train, labels, "t").tolist() == [2, 1, 0, 1]
    assert labels.encode("10", "x") == 2  # a CSV cell and a JSON int name the same label


def test_regression_labels(tmp_path):
    # STS-B: float scores; "5.000" is a number but not an integer, so the task is regression.
    train = read_text_examples(write(tmp_path, "sts.tsv", "s1\ts2\tscore\na\tb\t5.000\nc\td\t0.5\ne\tf\t3\n"),
                               text_column="s1", text_pair_column="s2", label_column="score")
    labels = LabelMap.from_labels([e.label for e in train], "sts.tsv")
    assert (labels.problem_type, labels.num_labels) == ("regression", 1)
    targets = encode_labels(train, labels, "sts.tsv")
    assert targets.dtype == np.float32 and targets.tolist() == [5.0, 0.5, 3.0]
    assert [e.text_pair for e in train] == ["b", "d", "f"]
    with pytest.raises(ValueError, match=r"v.tsv:7: label 'nan' is not a finite number \(the task is regression\)"):
        labels.encode("nan", "v.tsv:7")
    with pytest.raises(ValueError, match=r"label 'high' is not a finite number"):
        labels.encode("high", "v.tsv:2")


def test_multi_label_from_json_lists_and_csv_separator(tmp_path):
    train = read_text_examples(write(tmp_path, "m.jsonl", '{"text": "a", "label": ["sport", "art"]}\n{"text": "b", "label": []}\n'
                                                          '{"text": "c", "label": ["news"]}\n'))
    labels = LabelMap.from_labels([e.label for e in train], "m.jsonl")
    assert (labels.problem_type, labels.names) == ("multi_label_classification", ("art", "news", "sport"))
    targets = encode_labels(train, labels, "m.jsonl")
    assert targets.dtype == np.float32 and targets.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    csv_rows = read_text_examples(write(tmp_path, "m.csv", "text,label\na,sport|art\nb,\nc,news\n"))
    assert [e.label for e in csv_rows] == [("sport", "art"), "", "news"]
    assert encode_labels(csv_rows, labels, "m.csv").tolist() == targets.tolist()
    with pytest.raises(ValueError, match=r"m.csv:9: label list \['art', 'art'\] repeats a label"):
        labels.encode(("art", "art"), "m.csv:9")
    with pytest.raises(ValueError, match=r"x:1: label 'film' is not one of the 3 labels"):
        labels.encode(("art", "film"), "x:1")


def test_single_label_refuses_lists_and_missing_labels(tmp_path):
    labels = LabelMap("single_label_classification", ("a", "b"))
    with pytest.raises(ValueError, match=r"f:2: expected one label, got \('a', 'b'\)"):
        labels.encode(("a", "b"), "f:2")
    with pytest.raises(ValueError, match=r"f:3: expected one label, got ''"):
        labels.encode("", "f:3")
    unlabeled = read_text_examples(write(tmp_path, "test.tsv", "index\tsentence\n0\thi\n"), text_column="sentence", label_column=None)
    assert unlabeled[0].label is None
    with pytest.raises(ValueError, match=r"test.tsv:2: the example has no label"):
        encode_labels(unlabeled, labels, "test.tsv")


def test_label_map_round_trips_through_a_config():
    from electra.common.config import ElectraConfig

    labels = LabelMap("single_label_classification", ("neg", "pos"))
    config = ElectraConfig(**labels.config_fields())
    restored = LabelMap.from_config(ElectraConfig.from_dict(config.to_dict()))
    assert restored == labels and config.label2id == {"neg": 0, "pos": 1}


# ---- token classification ----------------------------------------------------------------------------
CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_conll_columns_docstart_and_lines(tmp_path):
    sentences = read_tagged_sentences(write(tmp_path, "train.txt", CONLL))
    assert [(s.words, s.tags, s.lines) for s in sentences] == [
        (("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"), (3, 4, 5)),
        (("Peter", "Blackburn"), ("B-PER", "I-PER"), (7, 8))]
    tags = tag_map(sentences, "train.txt")
    assert tags.names == ("B-MISC", "B-ORG", "B-PER", "I-PER", "O")
    assert encode_tags(sentences, tags, "train.txt") == [[1, 4, 0], [2, 3]]
    valid = read_tagged_sentences(write(tmp_path, "valid.txt", "Paris B-LOC\n"))
    with pytest.raises(ValueError, match=r"valid.txt:1: label 'B-LOC' is not one of the 5 labels"):
        encode_tags(valid, tags, "valid.txt")


def test_tagging_json_lines_with_integer_tags(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"tokens": ["EU", "rejects"], "tags": [3, 0]}\n{"tokens": ["x"], "tags": [11]}\n')
    sentences = read_tagged_sentences(path)
    assert [(s.words, s.tags, s.lines) for s in sentences] == [(("EU", "rejects"), ("3", "0"), (1, 1)), (("x",), ("11",), (2,))]
    assert tag_map(sentences, path).names == ("0", "3", "11")


@pytest.mark.parametrize("name, text, message", [
    ("b.txt", "EU B-ORG\nrejects\n", r"b.txt:2: expected a word and a tag separated by whitespace"),
    ("b.txt", "-DOCSTART- O\n\n\n", r"b.txt: the file holds no sentences"),
    ("b.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n', r"b.jsonl:1: 2 words \('tokens'\) but 1 tags \('tags'\)"),
    ("b.jsonl", '{"tokens": [], "tags": []}\n', r"b.jsonl:1: 'tokens' must be a non-empty list of non-empty strings"),
    ("b.jsonl", '{"words": ["a"], "tags": ["O"]}\n', r"b.jsonl:1: no key 'tokens'; this line has 'words', 'tags'"),
    ("b.jsonl", '{"tokens": ["a"], "tags": [null]}\n', r"b.jsonl:1: 'tags' must be a list of strings or integers"),
])
def test_bad_tagging_files(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message):
        read_tagged_sentences(write(tmp_path, name, text))


def test_align_tags_first_subword_only():
    # [CLS] EU re ##jects Ger ##man [SEP] [PAD]
    assert align_tags([None, 0, 1, 1, 2, 2, None, None], [1, 4, 0]) == [IGNORE_INDEX, 1, 4, IGNORE_INDEX, 0, IGNORE_INDEX,
                                                                           IGNORE_INDEX, IGNORE_INDEX]


def test_tag_sequences_keep_labeled_tokens():
    labels = LabelMap("single_label_classification", ("B-PER", "I-PER", "O"))
    gold, predicted = tag_sequences(np.array([[2, 0, 1, 1, 2], [0, 0, 2, 2, 2]]),
                                    np.array([[-100, 0, -100, 1, -100], [-100, 2, -100, -100, -100]]), labels)
    assert gold == [["B-PER", "I-PER"], ["O"]] and predicted == [["B-PER", "I-PER"], ["B-PER"]]


# ---- SQuAD ----------------------------------------------------------------------------------------
def squad_file(tmp_path, qas, context="The cat sat on the mat in Paris.", version="v2.0"):
    document = {"version": version, "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}
    return write(tmp_path, "squad.json", json.dumps(document, indent=1))


def test_read_squad_v2_and_v1(tmp_path):
    data = read_squad(squad_file(tmp_path, [
        {"id": "q1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 26}, {"text": "in Paris", "answer_start": 23}]},
        {"id": "q2", "question": "Who?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"text": "cat", "answer_start": 4}]}]))
    assert data.with_negatives
    assert [(e.id, e.question, [(a.text, a.start) for a in e.answers], e.is_impossible, e.title) for e in data.examples] == [
        ("q1", "Where?", [("Paris", 26), ("in Paris", 23)], False, "T"), ("q2", "Who?", [], True, "T")]
    assert answer_texts(data.examples) == {"q1": ["Paris", "in Paris"], "q2": []}
    v1 = read_squad(squad_file(tmp_path, [{"id": "q1", "question": "Where?", "answers": [{"text": "mat", "answer_start": 19}]}],
                               version="1.1"))
    assert not v1.with_negatives


@pytest.mark.parametrize("qas, message", [
    ([{"id": "q1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 25}]}],
     r"question 'q1': answer 'Paris' at answer_start 25 does not match the context there \(' Pari'\)"),
    ([{"id": "q1", "question": "W?", "answers": [{"text": "cat", "answer_start": 4}]},
      {"id": "q1", "question": "W?", "answers": [{"text": "cat", "answer_start": 4}]}], r"question id 'q1' appears twice"),
    ([{"id": "q1", "question": "W?", "answers": []}], r"question 'q1': no answers and not marked is_impossible"),
    ([{"id": "q1", "answers": []}], r"data\[0\].paragraphs\[0\].qas\[0\]: missing 'question'"),
    ([{"id": "q1", "question": "W?", "answers": [{"text": "cat", "answer_start": "4"}]}], r"'answer_start' must be int, got str"),
])
def test_bad_squad_files(tmp_path, qas, message):
    with pytest.raises(ValueError, match=message):
        read_squad(squad_file(tmp_path, qas))


def test_squad_json_errors(tmp_path):
    with pytest.raises(ValueError, match=r"s.json:2: not valid JSON"):
        read_squad(write(tmp_path, "s.json", '{"data":\n [,]}'))
    with pytest.raises(ValueError, match=r"s.json: missing 'data'"):
        read_squad(write(tmp_path, "s.json", '{"version": "1.1"}'))
    with pytest.raises(ValueError, match=r"s.json: the file is empty"):
        read_squad(write(tmp_path, "s.json", "\n"))


def test_finetuning_loads_no_framework():
    from tests.common.test_imports import modules_after

    code = "import electra.common.finetuning." + ", electra.common.finetuning.".join(
        ("tables", "labels", "classification", "tagging", "squad", "answers", "metrics"))
    assert modules_after(code) == []
