"""Retries and bounded waits of the dynamic providers, with a fake clock: pure and fast."""

from __future__ import annotations

import pytest

from cloud.retry import CloudError, RetryPolicy, WaitTimeout, call, is_retryable, wait_for


class ApiError(Exception):
    def __init__(self, code, status_code=400, message="nope", request_id="req-1"):
        super().__init__(message)
        self.code, self.status_code, self.message, self.request_id = code, status_code, message, request_id


class RetryError(Exception):  # what darabonba raises when no HTTP answer came back
    pass


def failing(*errors, result="ok"):
    pending = list(errors)

    def fn():
        if pending:
            raise pending.pop(0)
        return result
    return fn


@pytest.mark.parametrize("error, retryable", [
    (ApiError("Throttling.User"), True), (ApiError("ServiceUnavailable", 503), True),
    (ApiError("IncorrectEipStatus"), True), (ApiError("Conflict.Lock"), True),
    (ApiError("InternalError", 500), True), (RetryError("reset"), True), (ConnectionResetError(), True),
    (ApiError("InvalidParameter.Port"), False), (ApiError("Forbidden.RAM", 403), False), (ValueError("x"), False),
])
def test_what_is_worth_another_try(error, retryable):
    assert is_retryable(error) is retryable


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    sleeps = []
    policy = RetryPolicy(attempts=6, base=0.5, cap=2.0, deadline=100)
    result = call(failing(*[ApiError("Throttling")] * 5), what="x", policy=policy, sleep=sleeps.append, rng=lambda: 1.0)
    assert result == "ok"
    assert sleeps == [0.5, 1.0, 2.0, 2.0, 2.0]
    jittered = []
    call(failing(ApiError("Throttling")), what="x", policy=policy, sleep=jittered.append, rng=lambda: 0.25)
    assert jittered == [0.125]


def test_gives_up_after_the_last_attempt_with_the_code_and_request_id():
    sleeps = []
    with pytest.raises(CloudError) as caught:
        call(failing(*[ApiError("Throttling.User", request_id="req-9")] * 9), what="ENS AddBackendServers",
             policy=RetryPolicy(attempts=3, base=0.01), sleep=sleeps.append, rng=lambda: 1.0)
    assert len(sleeps) == 2
    assert caught.value.code == "Throttling.User" and caught.value.attempts == 3
    assert str(caught.value) == "ENS AddBackendServers failed after 3 attempts: Throttling.User: nope (RequestId req-9)"


def test_a_permanent_error_is_not_retried():
    sleeps = []
    with pytest.raises(CloudError) as caught:
        call(failing(ApiError("InvalidParameter.Port")), what="x", sleep=sleeps.append)
    assert sleeps == [] and caught.value.attempts == 1


def test_no_retry_starts_past_the_deadline():
    sleeps = []
    with pytest.raises(CloudError):
        call(failing(*[ApiError("Throttling")] * 9), what="x", policy=RetryPolicy(attempts=9, base=4, cap=8, deadline=5),
             sleep=sleeps.append, rng=lambda: 1.0)
    assert sleeps == [4]  # the next wait (8 s) would cross the 5 s deadline


def test_wait_for_polls_until_ready():
    states = iter(["Creating", "Creating", "Active"])
    sleeps = []
    assert wait_for(lambda: next(states), lambda s: s == "Active", what="ELB", interval=0.5, sleep=sleeps.append) == "Active"
    assert sleeps == [0.5, 0.5]


def test_wait_for_is_bounded_and_names_the_last_state():
    with pytest.raises(WaitTimeout, match=r"ELB lb-1 to become Active: still 'Creating' after 0.05 s"):
        wait_for(lambda: "Creating", lambda s: s == "Active", what="ELB lb-1 to become Active", timeout=0.05,
                 interval=0.01)
