"""The framework-free half of replaced-token-detection pretraining: `corpus` (documents
from text files, folders, JSON Lines or the embedded standard-library corpus), `packing`
(tokenized documents into fixed-length examples), `masking` (the generator's masked
positions), `batches` (seeded, resumable masked batches), `schedule` (the learning-rate
schedule), `metrics` (the discriminator's scores) and `recipe` (the loss weights, the
Gumbel noise and the step metrics every backend's trainer shares).

The run loop that drives a backend's trainer is `electra.commands.pretrain`."""
