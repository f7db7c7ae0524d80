"""Work of concurrent callers done together (the search server's model calls and products)."""

from __future__ import annotations

import threading

import pytest

from scribeflow.core.batching import Batcher


def run_together(n, call):
    """``call(i)`` on ``n`` threads released at once; their results (or exceptions), in order."""
    results = [None] * n
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        try:
            results[i] = call(i)
        except Exception as exc:  # noqa: BLE001 - returned for the test to check
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_callers_waiting_together_share_calls_and_get_their_own_results():
    release = threading.Event()
    calls = []

    def answer(items):
        calls.append(list(items))
        release.wait(5)  # the first call holds the worker while the others queue up
        return [item * 10 for item in items]

    batcher = Batcher(answer, name="test-batcher", max_batch=8)
    threading.Timer(0.3, release.set).start()
    results = run_together(12, batcher.submit)
    assert results == [i * 10 for i in range(12)]
    assert sorted(x for call in calls for x in call) == list(range(12))
    assert len(calls) < 12 and max(len(c) for c in calls) <= 8, calls
    assert batcher.to_dict() == {"requests": 12, "batches": len(calls)}


def test_an_item_refused_fails_its_caller_alone():
    batcher = Batcher(lambda items: [ValueError(f"bad {i}") if i % 2 else i for i in items],
                      name="test-refusals")
    results = run_together(6, batcher.submit)
    for i, result in enumerate(results):
        if i % 2:
            assert isinstance(result, ValueError) and str(result) == f"bad {i}"
        else:
            assert result == i


def test_a_failed_call_fails_every_caller_of_its_batch_and_the_worker_goes_on():
    def answer(items):
        if 3 in items:
            raise RuntimeError("out of memory")
        return items

    batcher = Batcher(answer, name="test-failures")
    with pytest.raises(RuntimeError, match="out of memory"):
        batcher.submit(3)
    assert batcher.submit(4) == 4


def test_a_wrong_number_of_results_is_an_error_not_a_misdelivery():
    batcher = Batcher(lambda items: [1, 2], name="test-miscount")
    with pytest.raises(RuntimeError, match="2 results for 1 requests"):
        batcher.submit("x")
