"""Weights in files: `names` (the canonical HF PyTorch keys and shapes of each
architecture), `layouts` (canonical <-> HF Flax and HF TF layouts, pure NumPy), `google` (Google's TF1
checkpoints),
`checkpoint` (reading and writing every supported file format, strict key matching) and
`random` (seeded canonical weights, for tests and benchmarks)."""
