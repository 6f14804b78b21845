"""engine/histogram_choice.py: which pair-histogram kernel a layer gets, and the batch limits
(a pure rule: tested on every machine, with or without a GPU)."""
import torch

from deep_ei_fast.engine import histogram_choice as hk


def test_histogram_kernel_rule():
    # one-hot work grows with the padded table, the atomic kernel's does not
    assert hk.onehot_cost_ratio(9, 9, 1024, 1024) < hk.onehot_cost_ratio(65, 65, 1024, 1024)
    assert hk.onehot_cost_ratio(65, 65, 1024, 1024) > 10
    assert hk.choose(65, 65, 1024, 1024) == "pair_histogram_accumulate_"
    # small layers fill less of each 128-wide tile: one-hot costs more per pair
    assert hk.onehot_cost_ratio(9, 9, 3, 3) > hk.onehot_cost_ratio(9, 9, 1024, 1024)
    for rows, cols, a, b in [(9, 9, 25, 6), (65, 65, 256, 256), (301, 17, 4, 4)]:
        assert hk.choose(rows, cols, a, b) in ("pair_histogram_accumulate_",
                                                "pair_histogram_onehot_accumulate_")
    assert hk.batch_limits(torch.device("cpu")) == (65536, 64 * 2**20)
    assert hk.batch_limits("cuda")[0] >= hk.batch_limits("cpu")[0]
