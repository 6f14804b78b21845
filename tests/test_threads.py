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


def test_nested_blocks_choose_up_to_the_callers_setting(dei, monkeypatch, restore_threads):
    """An inner block (the engine's, inside a public call) may use more threads again when the
    load falls, up to the caller's setting; only the outermost block restores it."""
    from deep_ei_fast.engine import threads
    monkeypatch.setattr(threads, "ADAPTIVE", True)
    load = {"others": 64}
    monkeypatch.setattr(threads, "_runnable_elsewhere", lambda: load["others"])
    torch.set_num_threads(2)
    with threads.load_aware_threads() as outer:
        outer.update()
        assert torch.get_num_threads() == 1
        load["others"] = 0
        with threads.load_aware_threads() as inner:
            inner.update()
            assert torch.get_num_threads() == min(2, len(os.sched_getaffinity(0)))
        load["others"] = 64
        with threads.load_aware_threads() as inner:
            inner.update()
        assert torch.get_num_threads() == 1  # the inner block's exit left the outer's choice
    assert torch.get_num_threads() == 2


def test_a_public_call_estimates_with_the_load_aware_count(dei, monkeypatch, restore_threads):
    """The estimate phase (entropy sums over the tables, outside the sample passes) runs with
    the load-aware count too: on a busy machine its many small parallel regions were what made
    vector_and_pairwise_ei's default slower than one thread."""
    import inspect

    from deep_ei_fast.engine import threads
    from deep_ei_fast.estimators import plugin
    monkeypatch.setattr(threads, "ADAPTIVE", True)
    monkeypatch.setattr(threads, "_runnable_elsewhere", lambda: 64)
    seen = []
    chunk_sum = plugin.EntropySum._chunk_sum

    def recording(self, counts):
        seen.append(torch.get_num_threads())
        return chunk_sum(self, counts)

    monkeypatch.setattr(plugin.EntropySum, "_chunk_sum", recording)
    torch.set_num_threads(2)
    layer = torch.nn.Linear(3, 2)
    top = dei.topology_of(torch.nn.Sequential(layer, torch.nn.Sigmoid()), input=torch.zeros(1, 3))
    dei.vector_and_pairwise_ei(layer, top, samples=2000, in_bins=4, out_bins=4, seed=0, progress=False)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2
    assert "estimator" in inspect.signature(dei.vector_and_pairwise_ei).parameters  # wraps keeps it
