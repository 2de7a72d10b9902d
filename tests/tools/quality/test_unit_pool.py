"""tools.quality.unit_pool: queued units run smallest priority first, whatever their submission order;
errors reach the caller; shutdown cancels what has not started."""
import threading

import pytest

from tools.quality.unit_pool import PriorityPool


def test_lowest_priority_key_runs_first_and_ties_keep_submission_order():
    pool, order, gate = PriorityPool(1), [], threading.Event()
    first = pool.submit((0, 0), gate.wait, 10)            # occupies the only worker while the rest queue
    futs = [pool.submit(p, order.append, name) for p, name in
            [((3, 0), "search 3"), ((1, 1), "retrain 1a"), ((2, 0), "search 2"), ((1, 1), "retrain 1b")]]
    gate.set()
    for f in [first] + futs:
        f.result(timeout=10)
    pool.shutdown()
    assert order == ["retrain 1a", "retrain 1b", "search 2", "search 3"]


def test_an_error_is_raised_by_its_future_and_shutdown_cancels_queued_units():
    pool, gate, ran = PriorityPool(1), threading.Event(), []
    blocker = pool.submit(0, gate.wait, 10)
    bad = pool.submit(1, lambda: 1 / 0)
    queued = pool.submit(2, ran.append, "late")
    gate.set()
    with pytest.raises(ZeroDivisionError):
        bad.result(timeout=10)
    queued.result(timeout=10)
    assert blocker.done() and ran == ["late"]

    pool, gate, started = PriorityPool(1), threading.Event(), threading.Event()
    running = pool.submit(0, lambda: (started.set(), gate.wait(10)))
    never = pool.submit(1, ran.append, "never")
    assert started.wait(10)
    threading.Timer(0.2, gate.set).start()
    pool.shutdown()                                    # waits for the running unit, cancels the queued one
    assert running.done() and never.cancelled() and ran == ["late"]
