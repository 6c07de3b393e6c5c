"""The timing harness: warm-up and repeats happen, order statistics are consistent, threads are pinned and
restored, peak memory follows what is held at once. No absolute times are asserted."""
from __future__ import annotations

import pytest
import torch

from answers.lab.timing import Timing, peak_memory_bytes, time_call, time_rounds, torch_threads

MIB = 2**20


def test_warmup_and_repeats_are_counted():
    calls = []
    t = time_call(lambda: calls.append(1), warmup=3, repeats=5)
    assert len(calls) == 8 and t.repeats == 5 and len(t.samples) == 5
    assert t.min_s <= t.q1_s <= t.median_s <= t.q3_s <= t.max_s and t.iqr_s >= 0
    assert t.min_s == min(t.samples) and t.max_s == max(t.samples)


@pytest.mark.parametrize("repeats", [1, 2, 4, 7])
def test_order_statistics_hold_for_any_repeat_count(repeats):
    t = time_call(lambda: sum(range(1000)), warmup=0, repeats=repeats)
    assert len(t.samples) == repeats and t.min_s <= t.q1_s <= t.median_s <= t.q3_s <= t.max_s
    d = t.to_dict()
    assert d["iqr_s"] == t.iqr_s and Timing(**{k: v for k, v in d.items() if k != "iqr_s"}) == t


def test_min_time_loops_fast_functions():
    calls = []
    t = time_call(lambda: calls.append(1), warmup=0, repeats=2, min_time_s=0.01)
    assert len(calls) > 2 and len(t.samples) == 2


def test_grad_mode_is_left_to_the_caller():
    seen = []
    time_call(lambda: seen.append(torch.is_grad_enabled()), warmup=1, repeats=1)
    with torch.no_grad():
        time_call(lambda: seen.append(torch.is_grad_enabled()), warmup=1, repeats=1)
    assert seen == [True, True, False, False]


def test_threads_are_pinned_and_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == before
    seen = []
    time_call(lambda: seen.append(torch.get_num_threads()), warmup=1, repeats=2, threads=1)
    assert seen == [1, 1, 1] and torch.get_num_threads() == before


def _hold(mib: int):
    return lambda: torch.empty(mib * MIB, dtype=torch.uint8).fill_(1)


def test_peak_memory_sees_an_allocation():
    assert peak_memory_bytes(_hold(4)) >= 4 * MIB
    assert peak_memory_bytes(lambda: None) < MIB


def test_peak_memory_is_monotone_in_size():
    peaks = [peak_memory_bytes(_hold(n)) for n in (1, 4, 16)]
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1]


def test_peak_memory_does_not_sum_what_was_freed():
    def sequential():
        for _ in range(10):
            torch.empty(MIB, dtype=torch.uint8).fill_(1)

    assert MIB <= peak_memory_bytes(sequential) < 2 * MIB


def test_peak_memory_grows_with_the_conv_batch():
    conv = torch.nn.Conv2d(3, 16, 3)
    with torch.inference_mode():
        small, big = (peak_memory_bytes(lambda b=b: conv(torch.randn(b, 3, 32, 32)).relu()) for b in (4, 64))
    assert big > small > 0


def test_rounds_interleave_every_function_and_stop_at_a_planned_look():
    order = []
    looked = []

    def stop(r):
        looked.append(r.n)
        return r.n >= 4

    r = time_rounds({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, stop=stop, looks=(2, 4, 8),
                    warmup=1)
    assert looked == [2, 4] and r.n == 4 and r.looks == (2, 4, 8)
    assert order == ["a", "b"] * 5                       # one warm-up round, then four rounds, each a then b
    assert len(r.wall["a"]) == len(r.cpu["b"]) == 4
    assert time_rounds({"a": lambda: None}, looks=(3, 5)).n == 5    # no stop rule: the cap


def test_round_ratios_pair_each_round_and_cpu_time_counts_work_not_waiting():
    import time as _time
    r = time_rounds({"work": lambda: sum(range(200_000)), "sleep": lambda: _time.sleep(0.02)}, looks=(3,), warmup=0)
    # sleeping takes wall time but no CPU time; summing takes both
    assert all(c < 0.5 * w for c, w in zip(r.cpu["sleep"], r.wall["sleep"]))
    assert r.ratio("work", "sleep", "wall") == [a / b for a, b in zip(r.wall["work"], r.wall["sleep"])]
    assert r.timing("work", "cpu").repeats == 3 and r.threads == 1
    with pytest.raises(ValueError):
        r.seconds("gpu")
    with pytest.raises(ValueError):
        time_rounds({"a": lambda: None}, looks=(4, 2))


def test_a_timing_gives_back_the_random_numbers_its_calls_drew():
    """However many calls a timing makes (a busy machine needs more rounds, a fast one more loops per sample), the
    experiment's next random numbers are those it would have drawn without the timing."""
    torch.manual_seed(0)
    expected = torch.rand(3)
    for stop in (lambda rounds: True, lambda rounds: False):     # decided at the first look, or the cap
        torch.manual_seed(0)
        time_rounds({"draws": lambda: torch.rand(100)}, stop=stop, looks=(2, 5))
        assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(0)
    time_call(lambda: torch.randn(10), warmup=1, repeats=2, min_time_s=0.002)
    assert torch.equal(torch.rand(3), expected)
