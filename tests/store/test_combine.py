"""Group commit: queued items are run together, in arrival order, each caller getting its own
outcome once its batch is done."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from belvedere.store.combine import Combiner


def test_callers_arriving_while_a_batch_runs_go_together_in_the_next() -> None:
    seen: list[list[int]] = []
    first_running, release = threading.Event(), threading.Event()

    def run(items: list[int]) -> list[int | BaseException]:
        seen.append(list(items))
        if len(seen) == 1:
            first_running.set()
            release.wait(10)
        return [i * 10 for i in items]

    combine: Combiner[int, int] = Combiner(run)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(combine, 0)
        assert first_running.wait(10)
        rest = [pool.submit(combine, i) for i in range(1, 8)]
        while len(combine._pending) < 7:  # all queued behind the running batch
            time.sleep(0.01)
        release.set()
        results = [first.result(10)] + [f.result(10) for f in rest]
    assert results == [i * 10 for i in range(8)]
    assert seen[0] == [0] and sorted(seen[1]) == list(range(1, 8)) and len(seen) == 2
    assert combine.batches == 2


def test_an_item_that_fails_fails_alone_and_a_failed_batch_fails_all() -> None:
    def run(items: list[int]) -> list[int | BaseException]:
        if -1 in items:
            raise RuntimeError("the transaction failed")
        return [ValueError(f"bad {i}") if i == 3 else i for i in items]

    combine: Combiner[int, int] = Combiner(run)
    assert combine(2) == 2
    with pytest.raises(ValueError, match="bad 3"):
        combine(3)
    with pytest.raises(RuntimeError, match="transaction failed"):
        combine(-1)
    assert combine(4) == 4
