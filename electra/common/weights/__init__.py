"""Weights in files: `names` (the canonical HF PyTorch keys and shapes of each
architecture), `layouts` (canonical <-> HF Flax, HF TF and Google TF1 layouts, pure NumPy),
`checkpoint` (reading and writing every supported file format, strict key matching) and
`random` (seeded canonical weights, for tests and benchmarks)."""
