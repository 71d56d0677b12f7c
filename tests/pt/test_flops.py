"""`electra.common.pretraining.flops` against the matmuls PyTorch actually runs.

`torch.utils.flop_counter.FlopCounterMode` counts every matmul of a forward (and of its
backward, at twice the forward's) but not CPU scaled-dot-product attention, so the count of
the module is compared with torch's count plus the attention products (QK^T and PV: 4 x B x
L^2 x H per layer, x 3 in a training step).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from conftest import masked_batch, tiny_config  # noqa: E402
from electra.common.config import generator_config  # noqa: E402
from electra.common.pretraining.flops import encoder_flops, mlm_step_flops, rtd_step_flops  # noqa: E402
from electra.common.pretraining.masking import most_predictions  # noqa: E402
from electra.pt import ElectraModel  # noqa: E402
from electra.pt.trainer import ElectraPretrainer, MaskedLMPretrainer  # noqa: E402

B, L = 3, 12


def attention_flops(config) -> int:
    return 4 * B * L * L * config.hidden_size * config.num_hidden_layers


def counted(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def config(**changes):
    return tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **changes)


@pytest.mark.parametrize("embedding_size", [24, 32])  # with and without embeddings_project
def test_encoder_forward(embedding_size):
    c = config(embedding_size=embedding_size)
    model = ElectraModel(c).eval()
    ids = torch.randint(5, c.vocab_size, (B, L))
    assert encoder_flops(c, B, L) == counted(lambda: model(ids)) + attention_flops(c)


def test_training_steps():
    disc = config()
    gen = generator_config(disc, 0.5)
    batch = {k: torch.from_numpy(v) for k, v in masked_batch(disc.vocab_size, B, L).items()}
    # The heads run at B x K prediction slots; with K the most chosen positions of a row (no
    # rounding up) the count is the formula's at B x K predictions.
    K = most_predictions(batch["mlm_labels"].numpy())
    predictions = B * K
    noise = torch.zeros(B, L, disc.vocab_size)

    mlm = MaskedLMPretrainer(disc, seed=0)
    torch_mlm = counted(lambda: mlm(**batch, max_predictions=K).loss.backward())
    assert mlm_step_flops(disc, B, L, predictions) == torch_mlm + 3 * attention_flops(disc)

    rtd = ElectraPretrainer(disc, gen, seed=0)
    torch_rtd = counted(lambda: rtd(**batch, gumbel_noise=noise, max_predictions=K).loss.backward())
    # Both encoders' attention products are what torch does not count.
    expected = torch_rtd + 3 * (attention_flops(disc) + attention_flops(gen))
    assert rtd_step_flops(disc, gen, B, L, predictions) == expected
