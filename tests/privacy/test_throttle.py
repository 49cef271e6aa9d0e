"""The failed-login throttle: a sliding 15-minute window per user name and per address."""

from __future__ import annotations

import pytest

from belvedere.errors import AuthError, TooManyAttempts
from belvedere.privacy.throttle import LoginThrottle


class Clock:
    """Seconds that the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sixth_attempt_in_the_window_is_refused_until_the_first_failure_ages_out() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        throttle.check("ana", "10.0.0.1")
        throttle.failed("ana", "10.0.0.1")
        clock.now += 60
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check("ana", "10.0.0.2")
    # First failure at t=1000, now t=1300: free again at t=1900.
    assert refused.value.retry_after == 600
    clock.now = 1899.5
    with pytest.raises(TooManyAttempts) as still:
        throttle.check("ana", "10.0.0.2")
    assert still.value.retry_after == 1
    clock.now = 1900.0
    throttle.check("ana", "10.0.0.2")  # four failures left in the window: allowed
    throttle.failed("ana", "10.0.0.2")
    with pytest.raises(TooManyAttempts) as again:
        throttle.check("ana", "10.0.0.3")
    assert again.value.retry_after == 60  # the second failure (t=1060) leaves at t=1960


def test_the_address_is_counted_across_user_names_and_a_success_clears_both() -> None:
    throttle = LoginThrottle(clock=Clock())
    for i in range(5):
        throttle.failed(f"user{i}", "10.0.0.1")
    throttle.check("user9", "10.0.0.2")
    with pytest.raises(TooManyAttempts, match="address"):
        throttle.check("user9", "10.0.0.1")
    throttle.succeeded("user9", "10.0.0.1")
    throttle.check("user9", "10.0.0.1")


def test_attempt_counts_only_authentication_failures() -> None:
    throttle = LoginThrottle(max_failures=1, clock=Clock())
    with pytest.raises(ValueError), throttle.attempt("ana", None):
        raise ValueError("not a failed login")
    throttle.check("ana", None)
    with pytest.raises(AuthError), throttle.attempt("ana", None):
        raise AuthError("wrong password")
    with pytest.raises(TooManyAttempts), throttle.attempt("ana", None):
        pass


def test_memory_per_key_stays_bounded() -> None:
    throttle = LoginThrottle(clock=Clock())
    for _ in range(1000):
        throttle.failed("ana", "10.0.0.1")
    assert {len(times) for times in throttle._failures.values()} == {5}
