"""The load-aware thread choice (engine/threads.py): as many threads as the cores other
processes leave free, never more than torch's setting, and the caller's setting restored."""
import os

import pytest
import torch


@pytest.mark.parametrize("others,expected", [(64, 1), (0, min(2, len(os.sched_getaffinity(0))))])
def test_threads_follow_the_load_and_the_setting_is_restored(dei, monkeypatch, restore_threads,
                                                             others, expected):
    from deep_ei_fast.engine import threads
    monkeypatch.setattr(threads, "ADAPTIVE", True)
    monkeypatch.setattr(threads, "_runnable_elsewhere", lambda: others)
    torch.set_num_threads(2)
    with threads.load_aware_threads() as chosen:
        chosen.update()
        assert torch.get_num_threads() == expected
    assert torch.get_num_threads() == 2


def test_free_cores_within_the_affinity_mask(dei):
    from deep_ei_fast.engine import threads
    assert 1 <= threads.free_cores() <= len(os.sched_getaffinity(0))
    assert threads._runnable_here() >= 1  # this thread is running while it reads
