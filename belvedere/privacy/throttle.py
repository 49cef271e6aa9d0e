"""Failed-login throttling: at most 5 failures per user name and per client address in 15 min.

A sixth attempt within the window is refused with :class:`~belvedere.errors.TooManyAttempts`
(HTTP 429 with ``Retry-After``) *before* the password is checked, so guessing stops there; a
successful login clears the user name's and the address's failures.

The failures are kept in memory, in the process that serves the API, not in the store: the
embedded DuckDB store is held by that one process anyway, so the memory is the store's
equivalent; it writes nothing to the store on every bad guess (a flood of guesses would
otherwise grow a table of user names and addresses, which is personal data to retain and
purge); and a restart clearing the counters only gives a guesser five more tries. A
multi-process deployment (several API workers, PostgreSQL) would need a shared counter
(PostgreSQL or Redis) behind the same three methods.

Example:
    >>> throttle = LoginThrottle(max_failures=2, window=60.0, clock=lambda: 0.0)
    >>> for _ in range(2):
    ...     throttle.failed("ana", "10.0.0.1")
    >>> throttle.check("ana", "10.0.0.9")
    Traceback (most recent call last):
    belvedere.errors.TooManyAttempts: too many failed logins for this user name; try again in 60 s
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from belvedere.errors import AuthError, TooManyAttempts

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60.0
_MAX_KEYS = 100_000  # above this many tracked names/addresses, forget the expired ones


class LoginThrottle:
    """Counts failed logins per user name and per client address over a sliding window.

    Args:
        max_failures: failures allowed per key within ``window``; the next attempt is refused.
        window: seconds a failure counts for.
        clock: monotonic seconds (a parameter so that tests can move time).
    """

    def __init__(self, *, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        # User names are truncated: a key is a counter, not a copy of whatever was typed.
        keys = [("user name", username[:128])]
        if address:
            keys.append(("address", address))
        return keys

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, username: str, address: str | None) -> None:
        """:class:`TooManyAttempts` if the user name or the address is blocked."""
        now = self.clock()
        with self._lock:
            for key in self._keys(username, address):
                times = self._recent(key, now)
                if len(times) >= self.max_failures:
                    # Unblocked when the oldest of the counted failures leaves the window.
                    wait = times[0] + self.window - now
                    raise TooManyAttempts(f"too many failed logins for this {key[0]}",
                                          retry_after=max(1, math.ceil(wait)))

    def failed(self, username: str, address: str | None) -> None:
        """Count one failed login."""
        now = self.clock()
        with self._lock:
            if len(self._failures) > _MAX_KEYS:
                for key in list(self._failures):
                    if not self._recent(key, now):
                        del self._failures[key]
            for key in self._keys(username, address):
                # Only the newest max_failures times matter: memory per key stays bounded.
                times = self._failures.setdefault(key, deque(maxlen=self.max_failures))
                times.append(now)

    def succeeded(self, username: str, address: str | None) -> None:
        """Forget the failures of the user name and the address."""
        with self._lock:
            for key in self._keys(username, address):
                self._failures.pop(key, None)

    @contextmanager
    def attempt(self, username: str, address: str | None) -> Iterator[None]:
        """Wrap one login: refused when blocked, counted when the body raises
        :class:`~belvedere.errors.AuthError`, cleared when it succeeds."""
        self.check(username, address)
        try:
            yield
        except AuthError:
            self.failed(username, address)
            raise
        self.succeeded(username, address)
