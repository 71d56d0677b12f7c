"""Fine-tuning features against HF: token-classification labels (run_ner.py's alignment), SQuAD
windows and answer positions (run_qa.py's prepare_*_features) on `transformers.ElectraTokenizerFast`
with the same vocabulary, and n-best decoding (utils_qa.py's postprocess_qa_predictions).

The HF side is written here as those scripts do it, step by step, and run on HF's tokenizer;
ours runs `electra.common.finetuning` on our `ElectraTokenizerFast`.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

from electra.common.finetuning.answers import decode_answers
from electra.common.finetuning.classification import TextExample, tokenize_text_examples
from electra.common.finetuning.labels import LabelMap
from electra.common.finetuning.squad import QAFeatures, SquadAnswer, SquadExample, qa_features
from electra.common.finetuning.tagging import TaggedSentence, encode_tags, tokenize_tagged_sentences
from electra.common.tokenizers.fast import ElectraTokenizerFast

transformers = pytest.importorskip("transformers")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "sat", "on", "mat", "in", "paris", "france", "is", "where", "who", "what", "capital", "of", "city",
         "river", "seine", "flows", "through", "north", "##s", "##ed", "##ing", "play", "walk", ",", ".", "?", "'"]
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
VOCAB = list(dict.fromkeys(SPECIALS + WORDS + list(LETTERS) + ["##" + c for c in LETTERS]))
CONTEXT = ("The river Seine flows through Paris, the capital of France. The cat sat on the mat in Paris. "
           "Walking cats played in the north of the city, where the Seine flows.")


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("".join(token + "\n" for token in VOCAB), encoding="utf-8")
    return ElectraTokenizerFast(vocab_file=path), transformers.ElectraTokenizerFast(str(path))


# ---- token classification: run_ner.py's tokenize_and_align_labels --------------------------------------
def hf_align(tokenizer, words, tags, max_length):
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    labels = []
    for row, row_tags in enumerate(tags):
        previous, row_labels = None, []
        for word in encoding.word_ids(batch_index=row):
            row_labels.append(-100 if word is None or word == previous else row_tags[word])
            previous = word
        labels.append(row_labels)
    return encoding["input_ids"], labels


def test_tagging_labels_equal_run_ner(tokenizers):
    ours, hf = tokenizers
    sentences = [TaggedSentence(("Walking", "cats", "played", "in", "Paris"), ("O", "B-ANI", "O", "O", "B-LOC"), (1,) * 5),
                 TaggedSentence(("The", "Seine", "flows", "through", "France", "xyzzy"), ("O", "B-LOC", "O", "O", "B-LOC", "O"), (2,) * 6),
                 TaggedSentence(("played", "walked", "cats", "sat", "on", "the", "mat"), ("O",) * 7, (3,) * 7)]
    labels = LabelMap("single_label_classification", ("B-ANI", "B-LOC", "O"))
    tag_ids = encode_tags(sentences, labels, "t")
    for max_length in (64, 7):
        encoding, truncated = tokenize_tagged_sentences(ours, sentences, max_length, tag_ids)
        expected_ids, expected_labels = hf_align(hf, [list(s.words) for s in sentences], tag_ids, max_length)
        assert encoding["input_ids"] == expected_ids
        assert encoding["labels"] == expected_labels
        assert truncated == (0 if max_length == 64 else 3)
    encoding, _ = tokenize_tagged_sentences(ours, sentences, 64, tag_ids)
    # "Walking" -> walk ##i ##n ##g (first piece labeled), "cats" -> cat ##s, "xyzzy" -> x ##y ##z ##z ##y.
    assert ours.convert_ids_to_tokens(encoding["input_ids"][0])[:4] == ["[CLS]", "walk", "##ing", "cat"]
    assert encoding["labels"][0][:6] == [-100, 2, -100, 0, -100, 2]


def test_classification_tokens_equal_hf_truncation(tokenizers):
    ours, hf = tokenizers
    examples = [TextExample("the cat sat on the mat", "where is paris", None, 1), TextExample("walking", "cats played in paris .", None, 2)]
    encoding, truncated = tokenize_text_examples(ours, examples, 8)
    expected = hf([e.text for e in examples], [e.text_pair for e in examples], truncation=True, max_length=8)
    assert (encoding["input_ids"], encoding["token_type_ids"], truncated) == (expected["input_ids"], expected["token_type_ids"], 2)
    assert tokenize_text_examples(ours, examples, 64)[1] == 0


# ---- question answering: run_qa.py's prepare_train_features / prepare_validation_features --------------------
def squad_examples():
    def example(qid, question, answer=None, context=CONTEXT):
        answers = () if answer is None else (SquadAnswer(answer, context.index(answer)),)
        return SquadExample(qid, question, context, answers)

    return [example("q1", "  What flows through Paris?", "The river Seine"),   # leading spaces, answer at the very start
            example("q2", "Where did the cat sit?", "on the mat"),
            example("q3", "Who played?", "Walking cats"),                    # answer inside word pieces
            example("q4", "What is the capital of France?"),                 # unanswerable
            example("q5", "Where?", "north of the city"),
            example("q6", "What flows?", "Seine flows.", CONTEXT[-30:]),      # answer runs to the end of the context
            example("q7", "What is it?", "France", "Paris is in France"),     # one window, answer at the last context token
            SquadExample("q8", "Who?", CONTEXT, (SquadAnswer("in", CONTEXT.index("in Paris.")),))]  # last of a window of 24


def hf_features(tokenizer, examples, max_length, stride):
    """run_qa.py's two feature functions (pad_on_right, padding to max_length), on HF's tokenizer."""
    encoding = tokenizer([e.question.lstrip() for e in examples], [e.context for e in examples], truncation="only_second",
                         max_length=max_length, stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                         padding="max_length")
    starts, ends, offsets = [], [], []
    for i, row_offsets in enumerate(encoding["offset_mapping"]):
        input_ids = encoding["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id)
        sequence_ids = encoding.sequence_ids(i)
        answers = examples[encoding["overflow_to_sample_mapping"][i]].answers
        if not answers:
            starts.append(cls_index), ends.append(cls_index)
        else:
            start_char = answers[0].start
            end_char = start_char + len(answers[0].text)
            token_start_index = 0
            while sequence_ids[token_start_index] != 1:
                token_start_index += 1
            token_end_index = len(input_ids) - 1
            while sequence_ids[token_end_index] != 1:
                token_end_index -= 1
            if not (row_offsets[token_start_index][0] <= start_char and row_offsets[token_end_index][1] >= end_char):
                starts.append(cls_index), ends.append(cls_index)
            else:
                while token_start_index < len(row_offsets) and row_offsets[token_start_index][0] <= start_char:
                    token_start_index += 1
                starts.append(token_start_index - 1)
                while row_offsets[token_end_index][1] >= end_char:
                    token_end_index -= 1
                ends.append(token_end_index + 1)
        offsets.append([o if sequence_ids[k] == 1 else None for k, o in enumerate(row_offsets)])
    return encoding, starts, ends, offsets


@pytest.mark.parametrize("max_length, stride", [(32, 8), (24, 4), (128, 16)])
def test_qa_features_equal_run_qa(tokenizers, max_length, stride):
    ours, hf = tokenizers
    examples = squad_examples()
    features = qa_features(ours, examples, max_length=max_length, doc_stride=stride)
    encoding, starts, ends, offsets = hf_features(hf, examples, max_length, stride)
    assert features.input_ids.tolist() == encoding["input_ids"]
    assert features.token_type_ids.tolist() == encoding["token_type_ids"]
    assert features.attention_mask.tolist() == encoding["attention_mask"]
    assert features.example_index.tolist() == encoding["overflow_to_sample_mapping"]
    assert features.offsets.tolist() == [[list(o) if o is not None else [-1, -1] for o in row] for row in offsets]
    quirks = 0
    for row, example_index in enumerate(features.example_index.tolist()):
        example, start, end = examples[example_index], features.start_positions[row], features.end_positions[row]
        context_rows = np.flatnonzero(features.offsets[row, :, 0] >= 0)
        if starts[row] > context_rows[-1]:
            # run_qa's start search walks past the window's last context token ([SEP], padding: offsets
            # (0, 0)) when the answer starts there; ours stops at that token.
            quirks += 1
            assert start == context_rows[-1] and starts[row] == max_length - 1 and end == ends[row]
        else:
            assert (start, end) == (starts[row], ends[row])
        if start:
            answer = example.answers[0]
            assert example.context[features.offsets[row, start, 0]:features.offsets[row, end, 1]] == answer.text
    assert quirks == {32: 1, 24: 2, 128: 1}[max_length]
    assert len(features) == {32: 16, 24: 23, 128: 8}[max_length]


def test_qa_features_refuse_a_question_that_leaves_no_room(tokenizers):
    ours, _ = tokenizers
    long_question = SquadExample("long", "where " * 20 + "?", CONTEXT, ())
    with pytest.raises(ValueError, match=r"question 'long': its 21 tokens leave 7 context tokens per window of max_length=31, "
                                         r"which must be more than doc_stride=8"):
        qa_features(ours, [long_question], max_length=31, doc_stride=8)
    # The same question fits when the context needs only one window.
    short = SquadExample("long", long_question.question, "paris", ())
    assert len(qa_features(ours, [short], max_length=31, doc_stride=8)) == 1


# ---- n-best decoding: utils_qa.py's postprocess_qa_predictions --------------------------------------------
def hf_postprocess(examples, features: QAFeatures, start_logits, end_logits, with_negatives, n_best_size, max_answer_length,
                   threshold):
    per_example = collections.defaultdict(list)
    for i, example_index in enumerate(features.example_index.tolist()):
        per_example[example_index].append(i)
    answers, diffs, no_span = {}, {}, set()
    for example_index, example in enumerate(examples):
        min_null, prelim = None, []
        for feature_index in per_example[example_index]:
            starts, ends = start_logits[feature_index], end_logits[feature_index]
            offsets = [tuple(o) if o[0] >= 0 else None for o in features.offsets[feature_index].tolist()]
            null_score = starts[0] + ends[0]
            if min_null is None or min_null["score"] > null_score:
                min_null = {"offsets": (0, 0), "score": null_score, "start_logit": starts[0], "end_logit": ends[0]}
            for s in np.argsort(starts)[-1:-n_best_size - 1:-1].tolist():
                for e in np.argsort(ends)[-1:-n_best_size - 1:-1].tolist():
                    if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                        continue
                    prelim.append({"offsets": (offsets[s][0], offsets[e][1]), "score": starts[s] + ends[e],
                                   "start_logit": starts[s], "end_logit": ends[e]})
        if with_negatives:
            prelim.append(min_null)
        predictions = sorted(prelim, key=lambda x: x["score"], reverse=True)[:n_best_size]
        if with_negatives and not any(p["offsets"] == (0, 0) for p in predictions):
            predictions.append(min_null)
        for p in predictions:
            p["text"] = example.context[p["offsets"][0]:p["offsets"][1]]
        if len(predictions) == 0 or (len(predictions) == 1 and predictions[0]["text"] == ""):
            no_span.add(example.id)
            predictions.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
        scores = np.array([p["score"] for p in predictions])
        probabilities = np.exp(scores - np.max(scores))
        probabilities /= probabilities.sum()
        if not with_negatives:
            answers[example.id] = (predictions[0]["text"], probabilities[0])
        else:
            i = 0
            while predictions[i]["text"] == "":
                i += 1
            best = predictions[i]
            diffs[example.id] = float(min_null["score"] - best["start_logit"] - best["end_logit"])
            if diffs[example.id] > threshold:
                answers[example.id] = ("", probabilities[predictions.index(min_null)])
            else:
                answers[example.id] = (best["text"], probabilities[i])
    return answers, diffs, no_span


@pytest.mark.parametrize("with_negatives, n_best_size, max_answer_length, threshold",
                         [(False, 20, 30, 0.0), (True, 20, 30, 0.0), (True, 5, 3, 1.5), (True, 3, 30, -2.0), (False, 2, 2, 0.0)])
def test_decoding_equals_postprocess_qa_predictions(tokenizers, with_negatives, n_best_size, max_answer_length, threshold):
    ours, _ = tokenizers
    examples = squad_examples()
    features = qa_features(ours, examples, max_length=32, doc_stride=8)
    rng = np.random.default_rng(n_best_size * 100 + max_answer_length)
    compared = empty = 0
    for _ in range(20):
        start_logits, end_logits = rng.normal(size=(2,) + features.input_ids.shape).astype(np.float32)
        expected, diffs, no_span = hf_postprocess(examples, features, start_logits, end_logits, with_negatives, n_best_size,
                                         max_answer_length, threshold)
        answers = decode_answers(examples, features, start_logits, end_logits, with_negatives=with_negatives,
                                 n_best_size=n_best_size, max_answer_length=max_answer_length, null_score_diff_threshold=threshold)
        for answer in answers:
            text, probability = expected[answer.id]
            if answer.id in no_span:  # no window offers a span: HF scores a stand-in text "empty"; ours answers nothing
                empty += 1
                assert (answer.text, answer.start, answer.end, answer.null_score_diff) == ("", -1, -1, None)
                continue
            compared += 1
            assert answer.text == text and answer.probability == pytest.approx(float(probability), rel=1e-6)
            if answer.text:
                assert examples[[e.id for e in examples].index(answer.id)].context[answer.start:answer.end] == text
            assert answer.null_score_diff == (diffs[answer.id] if with_negatives else None)
    # Seeded logits: how many answers were compared, and how many examples had no span in the n-best.
    assert (compared, empty) == {20: (158, 2), 5: (125, 35), 3: (126, 34), 2: (38, 122)}[n_best_size]


def test_decoding_hand_made_case():
    context = "aa bb cc dd"
    example = SquadExample("q", "?", context, ())
    offsets = np.full((1, 6, 2), -1, dtype=np.int64)
    offsets[0, 2:6] = [[0, 2], [3, 5], [6, 8], [9, 11]]  # [CLS] ? [SEP]... tokens 2..5 are the context words
    features = QAFeatures(*(np.zeros((1, 6), np.int64),) * 3, np.zeros(1, np.int64), offsets, np.zeros(1), np.zeros(1))
    start = np.array([[1.0, 9.0, 2.0, 0.5, 0.0, 3.0]], np.float32)   # 9.0 is a question token: never a start
    end = np.array([[1.0, 0.0, 0.0, 1.0, 0.2, 4.0]], np.float32)
    best = decode_answers([example], features, start, end)[0]
    # Candidates: (5, 5) 7.0, (2, 5) 6.0, (2, 3) 3.0, ... -> "dd"; softmax over all 10 candidate pairs.
    scores = np.array([start[0, s] + end[0, e] for s in range(2, 6) for e in range(s, 6)])
    assert (best.text, best.start, best.end) == ("dd", 9, 11)
    assert best.probability == pytest.approx(np.exp(7.0) / np.exp(scores).sum(), rel=1e-6)
    assert decode_answers([example], features, start, end, max_answer_length=1)[0].text == "dd"
    start[0, 5] = -5.0
    # Best (2, 5) 6.0 is 4 tokens long; within 2 tokens (4, 5) 4.0 beats (2, 3) 3.0.
    assert decode_answers([example], features, start, end, max_answer_length=2)[0].text == "cc dd"
    # v2.0: null = start[0] + end[0] = 2.0; best span (2, 5) 6.0: diff -4.0 -> answered unless the threshold is below -4.
    answered = decode_answers([example], features, start, end, with_negatives=True)[0]
    assert (answered.text, answered.null_score_diff) == ("aa bb cc dd", -4.0)
    refused = decode_answers([example], features, start, end, with_negatives=True, null_score_diff_threshold=-4.5)[0]
    assert (refused.text, refused.start, refused.end, refused.null_score_diff) == ("", -1, -1, -4.0)
    with pytest.raises(ValueError, match=r"start_logits and end_logits must be \(F, L\) = \(1, 6\), got \(1, 5\) and \(1, 6\)"):
        decode_answers([example], features, start[:, :5], end)
    with pytest.raises(ValueError, match=r"the features index example 0 but 0 examples were given"):
        decode_answers([], features, start, end)
    with pytest.raises(ValueError, match=r"n_best_size must be a positive int, got 0"):
        decode_answers([example], features, start, end, n_best_size=0)
