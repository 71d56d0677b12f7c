"""The framework-free half of fine-tuning (`electra finetune`): data, labels, features, decoding, metrics.

`tables` (CSV, TSV and JSON Lines rows with line numbers), `labels` (`LabelMap`: the label set
of a training file, HF's `problem_type`), `classification` (texts and labels), `tagging`
(CoNLL / JSON Lines words and tags, labels on first sub-words), `squad` (SQuAD v1.1/v2.0 and
run_qa's windowed features), `answers` (n-best span decoding) and `metrics` (as scikit-learn,
SciPy, seqeval and the official SQuAD scripts compute them), `recipe` (ELECTRA's fine-tuning
defaults and layer-wise learning-rate multipliers). NumPy and the standard library
only; the tokenizer is the one handed in.
"""
