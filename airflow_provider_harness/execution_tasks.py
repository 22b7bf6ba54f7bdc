"""What every task that follows a Harness execution shares, on the Airflow side: the operators of
:mod:`.operators.executions`, :mod:`.operators.webhooks` and :mod:`.operators.iacm`, and the sensors.

* :class:`HarnessExecutionError` - the one exception such a task fails with.
* :class:`HarnessExecutionLink` - the "Harness execution" button (XCom ``execution_url`` of the attempt).
* :class:`ExecutionFollower` - the worker-side driver of the follow machine
  (:class:`~airflow_provider_harness.client.follow.ExecutionFollow`), failure report and abort.
* argument checks (``seconds``, ``positive_seconds``, ``success_status_list``) and ``validate_event``,
  the strict check of a trigger event.

Import is cheap (DAG parse time): the client loads inside methods.

>>> positive_seconds(90, "poll_interval")
90.0
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_harness.airflow_compat import AirflowException, BaseOperatorLink

if TYPE_CHECKING:
    from airflow_provider_harness.client.executions import (
        AbortOutcome,
        ExecutionSnapshot,
        FailureSummary,
        StageProgress,
    )
    from airflow_provider_harness.client.transport import HarnessClient

#: XCom keys pushed before waiting (the return value is the execution id too).
XCOM_EXECUTION_ID = "execution_id"
XCOM_EXECUTION_URL = "execution_url"


class HarnessExecutionError(AirflowException):
    """A Harness execution ended without success, timed out, or could not be followed."""


class HarnessExecutionLink(BaseOperatorLink):
    """Opens the Harness execution of this task attempt (XCom ``execution_url`` of that attempt)."""

    name = "Harness execution"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        known = getattr(operator, "_execution_url", None)
        if isinstance(known, str) and known:
            return known
        if hasattr(operator, "_execution_url") and getattr(operator, "_execution_id", None) is None:
            return ""  # this attempt followed no execution: nothing to link, and no XCom lookup to log
        url = XCom.get_value(ti_key=ti_key, key=XCOM_EXECUTION_URL)
        return url if isinstance(url, str) else ""


def seconds(value: float | timedelta | None, field: str) -> float | None:
    """A duration option as seconds; ``ValueError`` naming ``field`` when negative or not a number."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    else:
        raise ValueError(f"{field}: expected seconds or a timedelta, got {value!r}")
    if result < 0:
        raise ValueError(f"{field}: must not be negative, got {value!r}")
    return result


def positive_seconds(value: float | timedelta, field: str) -> float:
    result = seconds(value, field)
    if result is None or result <= 0:
        raise ValueError(f"{field}: must be a positive number of seconds, got {value!r}")
    return result


def success_status_list(value: Sequence[str] | None) -> list[str] | None:
    """Validate ``success_statuses`` (terminal statuses only) and return a JSON-safe list."""
    from airflow_provider_harness.client.statuses import validate_success_statuses

    if value is None:
        return None
    return sorted(validate_success_statuses(value))


def validate_event(event: Any, expected_execution_id: str | None) -> dict[str, Any]:
    """Check a trigger event strictly; raise :class:`HarnessExecutionError` naming what is wrong."""
    from airflow_provider_harness.triggers.execution_event import InvalidTriggerEvent, check_event

    try:
        return check_event(event, expected_execution_id)
    except InvalidTriggerEvent as exc:
        raise HarnessExecutionError(str(exc)) from None


class ExecutionFollower:
    """Worker-side waiting on one execution: the sync poll loop, failure reporting and abort.

    Shared by the operators and the sensor so every path reads status through
    :func:`~airflow_provider_harness.client.executions.get_execution_status` and logs the same lines.
    """

    def __init__(
        self,
        log: Any,
        client: HarnessClient,
        scope: Mapping[str, str],
        execution_id: str,
        progress: StageProgress | None = None,
    ) -> None:
        from airflow_provider_harness.client.executions import StageProgress

        self.log = log
        self.client = client
        self.scope = scope
        self.execution_id = execution_id
        self.progress = progress if progress is not None else StageProgress()

    def status(self) -> ExecutionSnapshot:
        from airflow_provider_harness.client.executions import get_execution_status

        snapshot = get_execution_status(self.client, self.scope, self.execution_id)
        for line in self.progress.update(snapshot):
            self.log.info("%s", line)
        return snapshot

    def poll_until_done(
        self,
        *,
        poll_interval: float,
        deadline: float | None,
        success_statuses: Sequence[str] | None,
        max_consecutive_errors: int = 10,
        error_budget_seconds: float = 300.0,
        wait_first: bool = False,
        max_interval: float | None = None,
        expected_seconds: float | None = None,
    ) -> ExecutionSnapshot | None:
        """Poll until terminal (return the snapshot) or the deadline passes (return None), driving the one
        follow machine (:class:`~airflow_provider_harness.client.follow.ExecutionFollow`).

        ``wait_first``: the caller has just read the status, so sleep one interval before the first poll.
        """
        from airflow_provider_harness.client.follow import ExecutionFollow, Finished

        follow = ExecutionFollow(
            self.execution_id,
            poll_interval=poll_interval,
            deadline=deadline,
            success_statuses=success_statuses,
            max_consecutive_errors=max_consecutive_errors,
            error_budget_seconds=error_budget_seconds,
            progress=self.progress,
            max_interval=max_interval,
            expected_seconds=expected_seconds,
        )
        decision = follow.begin(time.time(), wait_first=wait_first)
        while not isinstance(decision, Finished):
            self._log_lines(decision.lines, decision.warning)
            time.sleep(decision.after)
            decision = follow.due(time.time()) or follow.step(self._read(), time.time())
        self._log_lines(decision.lines, None)
        if decision.kind == "timeout":
            return None
        if decision.kind == "error":
            raise HarnessExecutionError(decision.message) from None
        return decision.snapshot

    def _read(self) -> ExecutionSnapshot | Exception:
        """One status read; the error it raised is returned for the follow machine to judge."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import get_execution_status

        try:
            return get_execution_status(self.client, self.scope, self.execution_id)
        except (HarnessError, ValueError) as exc:
            return exc

    def _log_lines(self, lines: Sequence[str], warning: str | None) -> None:
        if warning:
            self.log.warning("%s", warning)
        for line in lines:
            self.log.info("%s", line)

    def failure(self, status: str, log_lines: int) -> FailureSummary:
        """The failing stage/step, Harness's message and the step's log tail; logged as a few lines."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import FailureSummary, failure_summary

        try:
            summary = failure_summary(self.client, self.scope, self.execution_id, log_lines=log_lines)
        except (HarnessError, ValueError) as exc:
            self.log.warning("Could not read the failure details of execution %s: %s", self.execution_id, exc)
            summary = FailureSummary(self.execution_id, status)
        for line in summary.lines():
            self.log.error("%s", line)
        return summary

    def abort(self, reason: str) -> AbortOutcome:
        """Send ``AbortAll`` (best effort) and log what became of the execution."""
        from airflow_provider_harness.client.executions import abort_execution

        outcome = abort_execution(self.client, self.scope, self.execution_id)
        if outcome.aborted:
            self.log.info("%s because %s", outcome.describe(), reason)
        else:
            self.log.warning("%s (%s)", outcome.describe(), reason)
        return outcome


__all__ = [
    "XCOM_EXECUTION_ID",
    "XCOM_EXECUTION_URL",
    "ExecutionFollower",
    "HarnessExecutionError",
    "HarnessExecutionLink",
    "positive_seconds",
    "seconds",
    "success_status_list",
    "validate_event",
]
