"""Group commit: what many threads want written one after another, written together.

Every answered read appends its access-log line, and the lines form one chain: each append reads
the newest line and builds on it, so appends are serialised — one transaction each, under one
lock (DuckDB's write lock, PostgreSQL's advisory lock). With twenty dashboards at once, the lock
was held most of the time and a line cost 65–77 ms of waiting (benchmarks/serving.py), though an
append alone takes 3 ms.

A :class:`Combiner` keeps the chain and the serialisation but not the one-transaction-each:
a caller queues its item, then takes the lock; whoever holds it writes *every* queued item in one
call of ``run`` — in the order they were queued, each built on the one before — and the callers
whose items it wrote find them done when they get the lock in turn. Each caller still returns
only once its own item is committed, so "every answer has its log line" still holds; the chain is
the same as with one transaction per line.

Example:
    >>> done = Combiner(lambda items: [i * 2 for i in items])
    >>> done(21)
    42
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True)
class _Entry(Generic[T, R]):
    item: T
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


class Combiner(Generic[T, R]):
    """Run queued items in batches through ``run``, one batch at a time.

    ``run`` gets the items in arrival order and returns, for each, its result or the exception
    that item alone raised; an exception raised by ``run`` itself fails the whole batch (every
    caller of it gets it: nothing of that batch was committed).
    """

    def __init__(self, run: Callable[[list[T]], list[R | BaseException]]) -> None:
        self._run = run
        self._queue_lock = threading.Lock()
        self._pending: list[_Entry[T, R]] = []
        self._lock = threading.Lock()  # one batch at a time
        self.batches = 0
        """Batches run so far (a figure for tests and benchmarks)."""

    def __call__(self, item: T) -> R:
        entry: _Entry[T, R] = _Entry(item)
        with self._queue_lock:
            self._pending.append(entry)
        with self._lock:
            if not entry.done:  # nobody took it along: write what is queued, ours included
                with self._queue_lock:
                    batch, self._pending = self._pending, []
                self.batches += 1
                try:
                    outcomes = self._run([e.item for e in batch])
                except BaseException as exc:
                    for e in batch:
                        e.error, e.done = exc, True
                else:
                    for e, outcome in zip(batch, outcomes, strict=True):
                        if isinstance(outcome, BaseException):
                            e.error = outcome
                        else:
                            e.result = outcome
                        e.done = True
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]
