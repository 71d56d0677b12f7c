"""Weights in files: `names` (the canonical HF PyTorch keys and shapes of each
architecture), `layouts` (canonical <-> HF Flax and HF TF layouts, pure NumPy), `google` (Google's TF1
checkpoints),
`formats` (HF's four weight file formats), `checkpoint` (reading and writing them, sharded or not,
strict key matching), `loading` (the one `from_pretrained` path of the backends) and
`random` (seeded canonical weights, for tests and benchmarks)."""
