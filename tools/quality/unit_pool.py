"""A thread pool that runs queued units lowest priority key first.

The benchmarks queue units as they become known (a search's retrains once the search is done). A
plain FIFO pool then runs every search before any retrain, so no seed is complete until nearly
the end, and a run cut short (a session's end) leaves nothing to report. Ordering by (seed, ...)
finishes seeds one after another instead; the total work is the same.
"""
import heapq
import itertools
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, List, Tuple


class PriorityPool:
    """``submit(priority, fn, *args)`` -> Future; a free worker takes the queued unit with the
    smallest ``priority`` (ties: submission order). Each submit adds one heap entry and one
    executor task that pops *some* entry when it runs, so the counts always match."""

    def __init__(self, jobs: int):
        self._executor = ThreadPoolExecutor(jobs)
        self._heap: List[Tuple[Any, int, Future, Callable, tuple]] = []
        self._lock = threading.Lock()
        self._order = itertools.count()

    def submit(self, priority, fn: Callable, *args) -> Future:
        fut: Future = Future()
        with self._lock:
            heapq.heappush(self._heap, (priority, next(self._order), fut, fn, args))
        self._executor.submit(self._run_next)
        return fut

    def _run_next(self):
        with self._lock:
            _, _, fut, fn, args = heapq.heappop(self._heap)
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)

    def shutdown(self):
        """Cancel the queued units and wait for the running ones."""
        with self._lock:
            for _, _, fut, _, _ in self._heap:
                fut.cancel()
        self._executor.shutdown(wait=True)
