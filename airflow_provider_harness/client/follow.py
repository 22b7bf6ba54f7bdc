"""Following one execution to its end, as one state machine with no I/O inside.

Every waiter drives the same :class:`ExecutionFollow`: the worker-side follower of the operators and
sensors (sync) and the trigger (async). The driver reads the status, hands the snapshot - or the error
the read raised - to :meth:`ExecutionFollow.step`, and acts on the decision: :class:`Poll` (log its lines,
wait ``after`` seconds, read again) or :class:`Finished` (``success``, ``failed``, ``timeout`` or
``error``, with the message every path shows). The deadline, the error budget for transient errors, the
stage progress lines and the terminal decision (through :func:`~.statuses.interpret`) live here once.

>>> from airflow_provider_harness.client.executions import ExecutionSnapshot
>>> follow = ExecutionFollow("e1", poll_interval=10, deadline=100.0)
>>> follow.begin(now=0.0)
Poll(after=0.0, lines=(), warning=None)
>>> follow.step(ExecutionSnapshot("e1", "p", "Running"), now=1.0)
Poll(after=10.0, lines=('Execution e1 is Running',), warning=None)
>>> follow.step(ExecutionSnapshot("e1", "p", "Success"), now=12.0).kind
'success'
>>> late = ExecutionFollow("e2", poll_interval=10, deadline=5.0)
>>> late.step(ExecutionSnapshot("e2", "p", "Running"), now=6.0).kind
'timeout'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from airflow_provider_harness.client.errors import HarnessError
from airflow_provider_harness.client.executions import (
    ErrorBudget,
    ExecutionSnapshot,
    StageProgress,
    is_transient,
)

FinishedKind = Literal["success", "failed", "timeout", "error"]


@dataclass(frozen=True)
class Poll:
    """Read the status again after ``after`` seconds; log ``lines`` (info) and ``warning`` first."""

    after: float
    lines: tuple[str, ...] = ()
    warning: str | None = None


@dataclass(frozen=True)
class Finished:
    """Stop following: ``kind`` is the outcome, ``message`` the line every path shows for it."""

    kind: FinishedKind
    message: str
    snapshot: ExecutionSnapshot | None = None
    lines: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.kind == "success"


Decision = Poll | Finished


class ExecutionFollow:
    """The state of following one execution; :meth:`begin`, then :meth:`step` after every status read.

    ``now`` is epoch seconds (the deadline is absolute, so it survives a deferral). Transient errors
    (5xx, 429, network) are tolerated until ``max_consecutive_errors`` in a row or ``error_budget_seconds``
    since the first of them; any other error ends the follow with ``error``.

    Adaptive intervals (only with ``max_interval``): the wait grows with how long the execution has run
    (a tenth of it), from ``poll_interval`` up to ``max_interval``, and shrinks again so that a read
    falls on the expected end (``expected_seconds`` after the start, e.g. the pipeline's typical
    duration); an execution past its expected end is read every ``poll_interval``.
    """

    def __init__(
        self,
        execution_id: str,
        *,
        poll_interval: float,
        deadline: float | None = None,
        success_statuses: Sequence[str] | None = None,
        max_consecutive_errors: int = 10,
        error_budget_seconds: float = 300.0,
        progress: StageProgress | None = None,
        max_interval: float | None = None,
        expected_seconds: float | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.poll_interval = float(poll_interval)
        self.max_interval = float(max_interval) if max_interval is not None else None
        self.expected_seconds = expected_seconds
        self.deadline = deadline
        self.success_statuses = success_statuses
        self.budget = ErrorBudget(max_consecutive_errors, error_budget_seconds)
        self.progress = progress if progress is not None else StageProgress()
        self.snapshot: ExecutionSnapshot | None = None
        self.polls = 0

    def begin(self, now: float, *, wait_first: bool = False) -> Decision:
        """The first decision: read now (or after one interval when the caller has just read it)."""
        return self._next(now, (), None, after=self.poll_interval if wait_first else 0.0)

    def due(self, now: float) -> Finished | None:
        """Call right before a read: ``timeout`` once the deadline has passed, else None (read)."""
        if self.deadline is not None and now >= self.deadline:
            return Finished(
                "timeout",
                f"Harness execution {self.execution_id} did not finish before the deadline",
                self.snapshot,
            )
        return None

    def step(self, result: ExecutionSnapshot | BaseException, now: float) -> Decision:
        """Take one status read (the snapshot, or the exception it raised) and decide what comes next."""
        self.polls += 1
        if isinstance(result, BaseException):
            return self._error(result, now)
        self.budget.record_success()
        self.snapshot = result
        lines = tuple(self.progress.update(result))
        outcome = result.outcome(self.success_statuses)
        if outcome.terminal:
            kind: FinishedKind = "success" if outcome.succeeded else "failed"
            message = f"Harness execution {self.execution_id} ended {outcome.status}"
            return Finished(kind, message, result, lines)
        return self._next(now, lines, None)

    def _error(self, error: BaseException, now: float) -> Decision:
        if is_transient(error) and not self.budget.record_error(now):
            warning = (
                f"Transient error while polling Harness execution {self.execution_id} "
                f"({self.budget.count} in a row), still waiting: {error}"
            )
            return self._next(now, (), warning)
        if isinstance(error, HarnessError):
            message = f"Polling Harness execution {self.execution_id} failed: {error}"
        elif isinstance(error, ValueError):
            message = f"Unexpected answer for execution {self.execution_id}: {error}"
        else:
            raise error
        return Finished("error", message, self.snapshot)

    def interval(self, now: float) -> float:
        """The wait before the next read (see the class docstring for adaptive intervals).

        >>> from airflow_provider_harness.client.executions import ExecutionSnapshot
        >>> follow = ExecutionFollow("e", poll_interval=10, max_interval=60, expected_seconds=900)
        >>> follow.snapshot = ExecutionSnapshot("e", "p", "Running", start_ts=1_000_000)  # started at 1000 s
        >>> follow.interval(1100.0), follow.interval(1500.0), follow.interval(1880.0), follow.interval(1950.0)
        (10.0, 50.0, 20.0, 10.0)
        """
        base = self.poll_interval
        start_ts = self.snapshot.start_ts if self.snapshot is not None else None
        if self.max_interval is None or self.max_interval <= base or not start_ts:
            return base
        started = start_ts / 1000.0
        wait = min(self.max_interval, max(base, (now - started) / 10.0))
        if self.expected_seconds:
            remaining = started + self.expected_seconds - now
            wait = base if remaining <= 0 else min(wait, max(base, remaining))
        return wait

    def _next(
        self, now: float, lines: tuple[str, ...], warning: str | None, after: float | None = None
    ) -> Decision:
        expired = self.due(now)
        if expired is not None:
            return Finished(expired.kind, expired.message, expired.snapshot, lines)
        delay = self.interval(now) if after is None else after
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - now))
        return Poll(delay, lines, warning)


__all__ = ["Decision", "ExecutionFollow", "Finished", "Poll"]
