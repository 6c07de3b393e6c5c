"""The timing harness: warm-up and repeats happen, order statistics are consistent, threads are restored,
peak memory grows with what is held at once. No absolute times are asserted."""
from __future__ import annotations

import sys

import pytest
import torch

from answers.lab.timing import peak_memory_bytes, time_call, torch_threads


def test_warmup_and_repeats_are_counted():
    calls = []
    t = time_call(lambda: calls.append(1), warmup=3, repeats=5)
    assert len(calls) == 8 and t.repeats == 5 and len(t.samples) == 5
    assert t.min_s <= t.q1_s <= t.median_s <= t.q3_s <= t.max_s and t.iqr_s >= 0


def test_min_time_loops_fast_functions():
    calls = []
    time_call(lambda: calls.append(1), warmup=0, repeats=2, min_time_s=0.01)
    assert len(calls) > 2


def test_threads_are_pinned_and_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS reset is Linux-only")
def test_peak_memory_follows_what_is_held_at_once():
    mib = 2**20

    def hold(n):
        return lambda: torch.empty(n * mib, dtype=torch.uint8).fill_(1)

    def sequential():
        for _ in range(8):
            torch.empty(16 * mib, dtype=torch.uint8).fill_(1)

    small, big = peak_memory_bytes(hold(16)), peak_memory_bytes(hold(128))
    assert big > small and big >= 100 * mib
    assert peak_memory_bytes(sequential) < 8 * 16 * mib / 2  # freed memory is not summed
