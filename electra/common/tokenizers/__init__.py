"""The two WordPiece tokenizers behind one API: `slow.ElectraTokenizer` (pure Python) and
`fast.ElectraTokenizerFast` (the `tokenizers` library), sharing `base.TokenizerBase` (HF's
call, encode, decode, pad and save API), `call` (the inputs of a call), `encoding`
(`BatchEncoding` and truncation), `padding` (HF's `pad`), `files` (vocab and config files)
and `unicode` (the character tables of BERT's basic tokenizer)."""
