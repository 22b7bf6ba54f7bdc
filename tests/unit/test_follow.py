"""The one follow machine (client/follow.py), row by row: what every waiter does with each status read."""

from __future__ import annotations

import pytest

from airflow_provider_harness.client.errors import (
    HarnessInvalidRequestError,
    HarnessNotFoundError,
    HarnessRateLimitError,
    HarnessServerError,
    HarnessTransportError,
)
from airflow_provider_harness.client.executions import ExecutionSnapshot, StageSnapshot
from airflow_provider_harness.client.follow import ExecutionFollow, Finished, Poll


def snap(status: str, *stages: tuple[str, str]) -> ExecutionSnapshot:
    return ExecutionSnapshot(
        "e1",
        "p",
        status,
        stages=tuple(StageSnapshot(s, s.title(), st) for s, st in stages),
        start_ts=0,
        end_ts=5000,
    )


def follow(**options: object) -> ExecutionFollow:
    values: dict[str, object] = {"poll_interval": 10.0, "deadline": None}
    values.update(options)
    return ExecutionFollow("e1", **values)  # type: ignore[arg-type]


def test_begin_reads_now_or_after_one_interval_and_respects_the_deadline() -> None:
    assert follow().begin(0.0) == Poll(0.0)
    assert follow().begin(0.0, wait_first=True) == Poll(10.0)
    assert follow(deadline=4.0).begin(0.0, wait_first=True) == Poll(4.0)
    late = follow(deadline=4.0).begin(5.0)
    assert isinstance(late, Finished) and late.kind == "timeout"
    assert late.message == "Harness execution e1 did not finish before the deadline"


def test_running_polls_again_with_new_progress_lines_only() -> None:
    machine = follow()
    first = machine.step(snap("Running", ("build", "Running")), 1.0)
    assert first == Poll(10.0, ("Execution e1 is Running", 'Stage 1/1 "Build" Running'))
    assert machine.step(snap("Running", ("build", "Running")), 11.0) == Poll(10.0)
    assert machine.polls == 2


def test_the_wait_never_runs_past_the_deadline() -> None:
    machine = follow(deadline=15.0)
    assert machine.step(snap("Running"), 12.0).after == pytest.approx(3.0)  # type: ignore[union-attr]
    ended = machine.step(snap("Running"), 15.0)
    assert isinstance(ended, Finished) and ended.kind == "timeout" and ended.snapshot == snap("Running")


@pytest.mark.parametrize(
    ("status", "success_statuses", "kind"),
    [
        ("Success", None, "success"),
        ("IgnoreFailed", None, "success"),
        ("Failed", None, "failed"),
        ("Aborted", None, "failed"),
        ("Expired", None, "failed"),
        ("ApprovalRejected", None, "failed"),
        ("Failed", ["Success", "Failed"], "success"),
        ("IgnoreFailed", ["Success"], "failed"),
    ],
)
def test_terminal_statuses_finish_through_the_one_interpretation(
    status: str, success_statuses: list[str] | None, kind: str
) -> None:
    ended = follow(success_statuses=success_statuses).step(snap(status), 1.0)
    assert isinstance(ended, Finished)
    assert (ended.kind, ended.message) == (kind, f"Harness execution e1 ended {status}")
    assert ended.lines == (f"Execution e1 is {status} in 5s",)


@pytest.mark.parametrize(
    "error",
    [
        HarnessServerError("boom", http_status=503),
        HarnessRateLimitError("slow down", http_status=429),
        HarnessTransportError("reset"),
    ],
    ids=["5xx", "429", "network"],
)
def test_transient_errors_are_tolerated_until_the_budget_is_spent(error: Exception) -> None:
    machine = follow(max_consecutive_errors=3)
    first = machine.step(error, 1.0)
    assert isinstance(first, Poll) and first.after == 10.0
    assert first.warning and "(1 in a row), still waiting" in first.warning
    assert isinstance(machine.step(error, 2.0), Poll)
    spent = machine.step(error, 3.0)
    assert isinstance(spent, Finished) and spent.kind == "error"
    assert spent.message.startswith("Polling Harness execution e1 failed: ")


def test_a_success_resets_the_budget_and_seconds_also_spend_it() -> None:
    machine = follow(max_consecutive_errors=2, error_budget_seconds=100.0)
    error = HarnessServerError("boom", http_status=500)
    assert isinstance(machine.step(error, 0.0), Poll)
    assert isinstance(machine.step(snap("Running"), 1.0), Poll)
    assert isinstance(machine.step(error, 2.0), Poll)  # counting starts again
    by_time = follow(max_consecutive_errors=100, error_budget_seconds=30.0)
    assert isinstance(by_time.step(error, 0.0), Poll)
    assert isinstance(by_time.step(error, 31.0), Finished)


def test_other_errors_end_at_once_and_foreign_exceptions_are_not_swallowed() -> None:
    for error in (HarnessNotFoundError("gone", http_status=404), HarnessInvalidRequestError("no")):
        ended = follow().step(error, 1.0)
        assert isinstance(ended, Finished) and ended.kind == "error"
    odd = follow().step(ValueError("not JSON"), 1.0)
    assert isinstance(odd, Finished) and odd.message == "Unexpected answer for execution e1: not JSON"
    with pytest.raises(KeyError):
        follow().step(KeyError("bug"), 1.0)


def test_due_says_timeout_only_once_the_deadline_passed() -> None:
    machine = follow(deadline=10.0)
    assert machine.due(9.9) is None
    due = machine.due(10.0)
    assert due is not None and due.kind == "timeout"


@pytest.mark.parametrize(
    ("now", "expected", "wait"),
    [
        (1_005.0, None, 10.0),  # young run: the base interval
        (1_300.0, None, 30.0),  # a tenth of the run time
        (5_000.0, None, 60.0),  # never more than max_interval
        (1_600.0, 650.0, 50.0),  # the expected end (1650) is 50 s away: aim the read at it
        (1_645.0, 650.0, 10.0),  # 5 s away: never below the base interval
        (1_700.0, 650.0, 10.0),  # overdue: check every base interval
    ],
)
def test_adaptive_intervals(now: float, expected: float | None, wait: float) -> None:
    machine = follow(max_interval=60.0, expected_seconds=expected)
    machine.snapshot = ExecutionSnapshot("e1", "p", "Running", start_ts=1_000_000)
    assert machine.interval(now) == pytest.approx(wait)
    decision = machine.step(ExecutionSnapshot("e1", "p", "Running", start_ts=1_000_000), now)
    assert isinstance(decision, Poll) and decision.after == pytest.approx(wait)


def test_without_max_interval_the_wait_is_always_the_poll_interval() -> None:
    machine = follow()
    machine.snapshot = ExecutionSnapshot("e1", "p", "Running", start_ts=1_000_000)
    assert machine.interval(99_999.0) == 10.0
