"""Run, retry and interrupt Harness pipeline executions from Airflow.

* :class:`HarnessRunPipelineOperator` - start a pipeline (or reattach to the run this task already
  started), wait for it on the worker or in the triggerer, abort it when the task is killed.
* :class:`HarnessRetryExecutionOperator` - Harness's "retry failed stages" (or all stages) of an execution.
* :class:`HarnessInterruptExecutionOperator` - abort (``AbortAll``) or another interrupt type.
* :class:`HarnessExecutionLink` - the "Harness execution" button of each attempt.

Module import is cheap (DAG parse time): httpx, YAML and the client transport load inside methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_harness.airflow_compat import (
    BaseOperator,
    default_deferrable,
)
from airflow_provider_harness.client.statuses import interpret
from airflow_provider_harness.connection_fields import DEFAULT_CONN_ID
from airflow_provider_harness.execution_tasks import (
    XCOM_EXECUTION_ID,
    XCOM_EXECUTION_URL,
    ExecutionFollower,
    HarnessExecutionError,
    HarnessExecutionLink,
    positive_seconds,
    seconds,
    success_status_list,
    validate_event,
)
from airflow_provider_harness.hooks.harness import HarnessTaskMixin

if TYPE_CHECKING:
    from airflow_provider_harness.client.executions import (
        ExecutionSnapshot,
        StartedExecution,
    )

#: Task state store key (Airflow 3.3+) holding the execution this task instance follows.
STATE_KEY = "harness_execution"
RETRY_STRATEGIES = ("rerun", "failed_stages")
#: How far before our own execute call an execution found by its marker may have started (clock skew).
MARKER_CLOCK_SKEW_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class Attempt:
    """Which try this is, in Airflow's terms: the first, a retry, or the first try after a clear.

    Airflow sets ``max_tries = try_number + retries`` when a task instance is cleared, so the first try
    of the current round is ``max_tries - retries + 1`` (the same arithmetic Airflow uses for reschedule
    dates). Without ``max_tries`` (a stripped-down context) every later try counts as a retry.

    >>> Attempt(try_number=4, round_start=4).kind, Attempt(try_number=2, round_start=1).kind
    ('after_clear', 'retry')
    """

    try_number: int
    round_start: int = 1

    @classmethod
    def of(cls, context: Mapping[str, Any], retries: int | None) -> Attempt:
        ti = context["ti"]
        try_number = int(ti.try_number)
        max_tries = getattr(ti, "max_tries", None)
        if not isinstance(max_tries, int) or isinstance(max_tries, bool):
            return cls(try_number)
        start = max_tries - int(retries or 0) + 1
        return cls(try_number, min(max(start, 1), try_number))

    @property
    def kind(self) -> Literal["first", "retry", "after_clear"]:
        if self.try_number <= 1:
            return "first"
        return "after_clear" if self.try_number == self.round_start else "retry"


#: What the run operator does on a try, from the kind of try and the task's last execution.
Step = Literal["start", "reattach", "adopt", "retry_failed_stages", "abort_then_start"]


def next_step(
    kind: Literal["first", "retry", "after_clear"],
    previous_status: str | None,
    *,
    retry_strategy: str,
    cancel_on_kill: bool,
    success_statuses: Sequence[str] | None = None,
) -> Step:
    """The decision table of docs/executions.md ("Run, retry, clear") as one function.

    ``previous_status`` is the status of the execution an earlier try of this task instance started
    (None when there is none): for a retry, one of this round's tries; after a clear, the last one.

    >>> next_step("retry", "Running", retry_strategy="rerun", cancel_on_kill=True)
    'reattach'
    >>> next_step("after_clear", "Success", retry_strategy="rerun", cancel_on_kill=True)
    'start'
    """
    if kind == "first" or previous_status is None:
        return "start"
    outcome = interpret(previous_status, success_statuses)
    if not outcome.terminal:
        if kind == "retry":
            return "reattach"
        return "abort_then_start" if cancel_on_kill else "start"
    if outcome.succeeded:
        return "adopt" if kind == "retry" else "start"
    return "retry_failed_stages" if retry_strategy == "failed_stages" else "start"


class _ExecutionMemory:
    """Where this task instance remembers its execution across tries: Airflow 3.3's task state store.

    Absent (Airflow < 3.3, or no state store in the context) -> the Harness-side marker is used alone.
    """

    def __init__(self, context: Mapping[str, Any], log: Any) -> None:
        self.store = context.get("task_state_store")
        self.log = log

    @property
    def available(self) -> bool:
        return self.store is not None

    def load(self) -> dict[str, Any] | None:
        if self.store is None:
            return None
        try:
            value = self.store.get(STATE_KEY)
        except Exception as exc:
            self.log.warning("Could not read the task state store: %s", exc)
            return None
        return (
            dict(value) if isinstance(value, Mapping) and isinstance(value.get("execution_id"), str) else None
        )

    def save(self, record: dict[str, Any]) -> None:
        if self.store is None:
            return
        try:
            self.store.set(STATE_KEY, record)
        except Exception as exc:
            self.log.warning(
                "Could not save execution %s in the task state store: %s", record.get("execution_id"), exc
            )


# ---------------------------------------------------------------------------------------------------
# Base: start-or-reattach, then wait (sync or deferred)
# ---------------------------------------------------------------------------------------------------


class _HarnessExecutionOperator(HarnessTaskMixin, BaseOperator):
    """Shared options and the waiting half of the run and retry operators."""

    operator_extra_links = (HarnessExecutionLink(),)
    ui_color = "#e8f4fd"
    #: Seconds between searches for an execution whose start call ended ambiguously (plan creation lag).
    marker_search_delays: tuple[float, ...] = (2.0, 4.0, 8.0)

    def __init__(
        self,
        *,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = 10.0,
        timeout: float | timedelta | None = None,
        cancel_on_kill: bool = True,
        success_statuses: Sequence[str] | None = None,
        log_tail_lines: int = 30,
        notes: str | None = None,
        module: str | None = None,
        max_poll_interval: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_poll_interval = max_poll_interval
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.success_statuses = success_statuses
        self.log_tail_lines = log_tail_lines
        self.notes = notes
        self.module = module
        self._execution_id: str | None = None
        self._execution_url: str | None = None
        self._done = False

    # ---- plumbing --------------------------------------------------------------------------------

    def _follower(self, execution_id: str) -> ExecutionFollower:
        return ExecutionFollower(self.log, self.client, self.scope, execution_id)

    def _validate_common(self) -> None:
        self.validate_scope_ids()
        if not isinstance(self.harness_conn_id, str) or not self.harness_conn_id:
            raise ValueError("harness_conn_id: give the id of a Harness connection")
        positive_seconds(self.poll_interval, "poll_interval")
        if self.max_poll_interval is not None and positive_seconds(
            self.max_poll_interval, "max_poll_interval"
        ) < positive_seconds(self.poll_interval, "poll_interval"):
            raise ValueError("max_poll_interval: must be at least poll_interval (the shortest wait)")
        seconds(self.timeout, "timeout")
        success_status_list(self.success_statuses)
        if not isinstance(self.log_tail_lines, int) or self.log_tail_lines < 0:
            raise ValueError(
                f"log_tail_lines: must be 0 or a positive whole number, got {self.log_tail_lines!r}"
            )
        if self.notes is not None and not isinstance(self.notes, str):
            raise ValueError(f"notes: expected text, got {type(self.notes).__name__}")
        if self.module is not None and (not isinstance(self.module, str) or not self.module.isidentifier()):
            raise ValueError(
                f"module: expected a Harness module name such as 'cd' or 'ci', got {self.module!r}"
            )

    def _marker(self, context: Mapping[str, Any]) -> str:
        from airflow_provider_harness.client.executions import execution_marker

        ti = context["ti"]
        return execution_marker(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))

    def _deadline(self, started_at: float) -> float | None:
        """Absolute deadline (epoch seconds): ``timeout`` and ``execution_timeout``, whichever is sooner.

        Airflow does not apply ``execution_timeout`` to a deferred wait, so it is carried here too.
        """
        limits = [seconds(self.timeout, "timeout"), seconds(self.execution_timeout, "execution_timeout")]
        finite = [limit for limit in limits if limit is not None]
        return started_at + min(finite) if finite else None

    def _url(self, pipeline_id: str, execution_id: str, module: str | None) -> str:
        from airflow_provider_harness.client.executions import execution_url

        return execution_url(
            self.hook.config,
            org_id=self.scope["orgIdentifier"],
            project_id=self.scope["projectIdentifier"],
            pipeline_id=pipeline_id,
            execution_id=execution_id,
            module=self.module or module,
        )

    def _announce(
        self, context: Mapping[str, Any], pipeline_id: str, execution_id: str, how: str, module: str | None
    ) -> str:
        url = self._url(pipeline_id, execution_id, module)
        self._execution_id = execution_id
        self._execution_url = url
        ti = context["ti"]
        ti.xcom_push(key=XCOM_EXECUTION_ID, value=execution_id)
        ti.xcom_push(key=XCOM_EXECUTION_URL, value=url)
        self.log.info(
            "%s Harness execution %s of pipeline %s (try %s): %s",
            how,
            execution_id,
            pipeline_id,
            ti.try_number,
            url,
        )
        return url

    def _remember(
        self, memory: _ExecutionMemory, pipeline_id: str, execution_id: str, try_number: int
    ) -> None:
        memory.save(
            {
                "execution_id": execution_id,
                "pipeline_id": pipeline_id,
                "org_id": self.scope["orgIdentifier"],
                "project_id": self.scope["projectIdentifier"],
                "try_number": try_number,
            }
        )

    def _previous_execution(
        self, context: Mapping[str, Any], memory: _ExecutionMemory, pipeline_id: str, attempt: Attempt
    ) -> ExecutionSnapshot | None:
        """The execution an earlier try of this task instance started, whatever its status.

        For a retry, only this round's tries count (a clear starts a new round); after a clear, the
        task's last execution. The task state store (3.3+) answers first; otherwise (or when the worker
        died before writing it) the marker search does, over finished executions too. A search that
        cannot be completed fails the try rather than risk starting a second execution.
        """
        from airflow_provider_harness.client.errors import HarnessError, HarnessNotFoundError
        from airflow_provider_harness.client.executions import find_marked_execution, get_execution_status

        min_try = attempt.round_start if attempt.kind == "retry" else None
        record = memory.load()
        if record and (
            record.get("pipeline_id") == pipeline_id
            and record.get("org_id") == self.scope["orgIdentifier"]
            and record.get("project_id") == self.scope["projectIdentifier"]
            and (min_try is None or int(record.get("try_number") or 0) >= min_try)
        ):
            try:
                return get_execution_status(self.client, self.scope, record["execution_id"])
            except HarnessNotFoundError:
                self.log.info(
                    "Execution %s from an earlier try no longer exists in Harness", record["execution_id"]
                )
        marker = self._marker(context)
        try:
            found = find_marked_execution(
                self.client,
                self.scope,
                pipeline_id,
                marker,
                min_try=min_try,
                started_after_ms=_run_created_ms(context),
            )
        except (HarnessError, ValueError) as exc:
            raise HarnessExecutionError(
                f"Could not check whether an earlier try of this task already started an execution of "
                f"{pipeline_id} ({exc}); not starting one, to avoid a duplicate. The next try checks again"
            ) from None
        if found is not None:
            self.log.info("Found execution %s of an earlier try by its marker %r", found.execution_id, marker)
        return found

    def _settled(self, snapshot: ExecutionSnapshot, limit: float = 120.0) -> ExecutionSnapshot:
        """Wait (bounded) while an execution is being aborted (``Discontinuing``) so it can be judged."""
        follower = self._follower(snapshot.execution_id)
        end = time.time() + limit
        interval = min(positive_seconds(self.poll_interval, "poll_interval"), 5.0)
        while snapshot.status == "Discontinuing" and time.time() < end:
            time.sleep(interval)
            snapshot = follower.status()
        return snapshot

    def _earlier_execution(
        self, context: Mapping[str, Any], memory: _ExecutionMemory, pipeline_id: str, attempt: Attempt
    ) -> tuple[ExecutionSnapshot | None, Step]:
        """Find the earlier try's execution (if this is not the first try) and decide the next step."""
        if attempt.kind == "first":
            return None, "start"
        previous = self._previous_execution(context, memory, pipeline_id, attempt)
        if previous is not None and previous.status == "Discontinuing":
            previous = self._settled(previous)
        step = next_step(
            attempt.kind,
            previous.status if previous is not None else None,
            retry_strategy=getattr(self, "retry_strategy", "rerun"),
            cancel_on_kill=self.cancel_on_kill,
            success_statuses=self.success_statuses,
        )
        if previous is not None and attempt.kind == "after_clear":
            self.log.info(
                "Try %s follows a clear of this task: the task's last execution, %s, is %s",
                attempt.try_number,
                previous.execution_id,
                previous.status,
            )
        if step == "abort_then_start" and previous is not None:
            from airflow_provider_harness.client.errors import HarnessError

            follower = self._follower(previous.execution_id)
            follower.abort("the task was cleared while it ran")
            try:
                self._settled(follower.status())
            except HarnessError as exc:
                self.log.warning(
                    "Could not read execution %s after the abort: %s", previous.execution_id, exc
                )
        return previous, step

    def _follow_earlier(
        self,
        context: Mapping[str, Any],
        pipeline_id: str,
        previous: ExecutionSnapshot | None,
        step: Step,
        started_at: float,
        remember: Callable[[str], None],
    ) -> str | None:
        """Reattach to or adopt the earlier try's execution (the result of this try), or log how it ended
        and return None: this try starts (or retries) one. ``remember`` records the followed execution."""
        if previous is None:
            return None
        if step not in ("reattach", "adopt"):
            self.log.info(
                "Earlier try's execution %s ended %s: %s",
                previous.execution_id,
                previous.status,
                self._url(pipeline_id, previous.execution_id, previous.module),
            )
            return None
        remember(previous.execution_id)
        if step == "adopt":
            # The earlier try lost track of an execution that then succeeded: starting the pipeline
            # again would duplicate the deployment.
            self._announce(
                context, pipeline_id, previous.execution_id, "Adopted the successful", previous.module
            )
            self._done = True
            return previous.execution_id
        self._announce(context, pipeline_id, previous.execution_id, "Reattached to running", previous.module)
        return self._wait(context, pipeline_id, previous.execution_id, started_at)

    def _start_guarded(
        self, context: Mapping[str, Any], pipeline_id: str, call: Any, exclude: set[str]
    ) -> Any:
        """Send a call that starts an execution; on an ambiguous failure find it by marker, never resend."""
        from airflow_provider_harness.client.errors import HarnessServerError, HarnessTransportError
        from airflow_provider_harness.client.executions import find_marked_execution

        sent_at_ms = int(time.time() * 1000)
        try:
            return self.client.send(call)
        except (HarnessServerError, HarnessTransportError) as exc:
            ambiguous = exc.request_sent if isinstance(exc, HarnessTransportError) else exc.maybe_applied
            if not ambiguous:
                raise
            marker = self._marker(context)
            self.log.warning(
                "Harness may have started the execution (%s); looking for it by marker %r", exc, marker
            )
            for delay in (0.0, *self.marker_search_delays):
                time.sleep(delay)
                try:
                    found = find_marked_execution(
                        self.client,
                        self.scope,
                        pipeline_id,
                        marker,
                        started_after_ms=sent_at_ms - MARKER_CLOCK_SKEW_MS,
                        min_try=context["ti"].try_number,
                    )
                except Exception as search_error:
                    self.log.warning("Searching for the execution failed: %s", search_error)
                    found = None
                if found is not None and found.execution_id not in exclude:
                    self.log.info("The execution was started after all: %s", found.execution_id)
                    return found
            raise HarnessExecutionError(
                f"{exc}. No execution carrying marker {marker!r} was found, and the request was not sent "
                "again to avoid a duplicate run; an Airflow retry will look for it again before starting one"
            ) from None

    # ---- waiting ---------------------------------------------------------------------------------

    def _wait(
        self, context: Mapping[str, Any], pipeline_id: str, execution_id: str, started_at: float
    ) -> str:
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import is_transient

        self._execution_id = execution_id
        if not self.wait_for_completion:
            self._done = True
            return execution_id
        follower = self._follower(execution_id)
        deadline = self._deadline(started_at)
        success = success_status_list(self.success_statuses)
        snapshot: ExecutionSnapshot | None = None
        try:
            snapshot = follower.status()
        except HarnessError as exc:
            if not is_transient(exc):
                raise HarnessExecutionError(
                    f"Reading Harness execution {execution_id} failed: {exc}"
                ) from None
            self.log.warning("Transient error reading execution %s, will keep polling: %s", execution_id, exc)
        if snapshot is not None and snapshot.outcome(success).terminal:
            return self._finish(follower, snapshot, success)
        if self.deferrable:
            from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

            self.defer(
                trigger=HarnessExecutionTrigger(
                    execution_id=execution_id,
                    harness_conn_id=self.harness_conn_id,
                    org_id=self.scope["orgIdentifier"],
                    project_id=self.scope["projectIdentifier"],
                    pipeline_id=pipeline_id,
                    poll_interval=positive_seconds(self.poll_interval, "poll_interval"),
                    deadline=deadline,
                    cancel_on_kill=self.cancel_on_kill,
                    success_statuses=success,
                    try_number=context["ti"].try_number,
                    max_poll_interval=self._max_poll_seconds(),
                ),
                method_name="execute_complete",
                kwargs={"execution_id": execution_id, "try_number": context["ti"].try_number},
                timeout=None,
            )
        final = follower.poll_until_done(
            poll_interval=positive_seconds(self.poll_interval, "poll_interval"),
            deadline=deadline,
            success_statuses=success,
            wait_first=snapshot is not None,
            max_interval=self._max_poll_seconds(),
            expected_seconds=self._expected_seconds(pipeline_id),
        )
        if final is None:
            return self._timed_out(follower)
        return self._finish(follower, final, success)

    def _max_poll_seconds(self) -> float | None:
        if self.max_poll_interval is None:
            return None
        return positive_seconds(self.max_poll_interval, "max_poll_interval")

    def _expected_seconds(self, pipeline_id: str) -> float | None:
        """The pipeline's typical duration, for adaptive polling (None without ``max_poll_interval``)."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import expected_duration_call

        if self.max_poll_interval is None or not pipeline_id:
            return None
        try:
            return self.client.send(expected_duration_call(self.scope, pipeline_id))
        except (HarnessError, ValueError) as exc:
            self.log.info("Typical duration of pipeline %s unknown (%s)", pipeline_id, exc)
            return None

    def _finish(
        self,
        follower: ExecutionFollower,
        final: ExecutionSnapshot | str,
        success: Sequence[str] | None,
        took: str | None = None,
    ) -> str:
        """Succeed or raise; the last line and the exception carry the execution's URL."""
        from airflow_provider_harness.client.executions import format_duration

        self._done = True
        if isinstance(final, str):
            status = final
        else:
            status, took = final.status, format_duration(final.start_ts, final.end_ts)
        ran = f" in {took}" if took else ""
        where = f": {self._execution_url}" if self._execution_url else ""
        if interpret(status, success).succeeded:
            self.log.info("Harness execution %s ended %s%s%s", follower.execution_id, status, ran, where)
            return follower.execution_id
        summary = follower.failure(status, self.log_tail_lines)
        if self._execution_url:
            self.log.error("Harness execution %s%s: %s", follower.execution_id, ran, self._execution_url)
        raise HarnessExecutionError(f"{summary.headline()} ({self._execution_url or follower.execution_id})")

    def _timed_out(self, follower: ExecutionFollower) -> str:
        self._done = True
        if self.cancel_on_kill:
            outcome = follower.abort("the task's timeout passed")
            what = "; it was aborted" if outcome.aborted else f"; {outcome.describe()}"
        else:
            what = "; it was left running (cancel_on_kill=False)"
        raise HarnessExecutionError(
            f"Harness execution {follower.execution_id} did not finish within the task's timeout{what}"
            + (f" ({self._execution_url})" if self._execution_url else "")
        )

    def execute_complete(
        self,
        context: Mapping[str, Any],
        event: dict[str, Any] | None = None,
        execution_id: str | None = None,
        try_number: int | None = None,
    ) -> str:
        """Resume after the trigger: validate the event; succeed, report the failure, or abort on timeout.

        An event deferred by an *earlier* try (Airflow 3.0's ``dag.test()`` resumes a retry with it) is
        not this try's outcome: the try starts afresh through :meth:`execute`, so ``retry_strategy``
        and reattach apply.
        """
        current_try = getattr(context.get("ti"), "try_number", None)
        if try_number is None and isinstance(event, Mapping):
            try_number = event.get("try_number")  # Airflow 3.0's dag.test() drops the defer kwargs
        if isinstance(try_number, int) and isinstance(current_try, int) and current_try != try_number:
            self.log.info(
                "Resumed with the event of try %s while this is try %s: starting this try afresh",
                try_number,
                current_try,
            )
            restarted: Any = self.execute(context)  # type: ignore[arg-type]
            return restarted  # type: ignore[no-any-return]
        checked = validate_event(event, execution_id)
        execution_id = checked["execution_id"]
        self._execution_id = execution_id
        if checked.get("pipeline_id"):
            self._execution_url = self._url(checked["pipeline_id"], execution_id, None)
        follower = self._follower(execution_id)
        status = checked["status"]
        if checked.get("stages"):
            self.log.info("Stages of execution %s: %s", execution_id, checked["stages"])
        if status in ("success", "failed"):
            return self._finish(
                follower,
                checked.get("harness_status") or ("Success" if status == "success" else "Failed"),
                success_status_list(self.success_statuses),
                took=checked.get("took"),
            )
        if status == "timeout":
            return self._timed_out(follower)
        self._done = True
        raise HarnessExecutionError(
            f"{checked.get('message') or 'The trigger failed'}. "
            "The execution may still be running in Harness; "
            "an Airflow retry reattaches to it instead of starting another"
        )

    def on_kill(self) -> None:
        """The task was killed on the worker (marked failed/success, cleared, timed out): abort."""
        if not self.cancel_on_kill or not self._execution_id or self._done:
            return
        self._follower(self._execution_id).abort("the Airflow task was killed")


# ---------------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------------


class HarnessRunPipelineOperator(_HarnessExecutionOperator):
    """Run a Harness pipeline and (by default) wait for it; returns the plan execution id.

    :param pipeline_id: pipeline identifier. ``org_id`` / ``project_id`` default to the connection's.
    :param runtime_inputs: runtime-input YAML text, or a dict rendered to YAML (top-level ``pipeline:``).
    :param input_set_refs: input set identifiers (``runtime_inputs`` is merged last).
    :param stage_ids: run only these stages.
    :param notes: execution notes; a marker line ``airflow:<dag>/<run>/<task>/<map_index>`` is appended.
    :param wait_for_completion: wait for a terminal status (else return right after starting).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status checks.
    :param max_poll_interval: adaptive polling: the wait grows with the run time (a tenth of it) up to this,
        and a check is aimed at the pipeline's typical end; None (default): every ``poll_interval``.
    :param timeout: give up waiting after this long (seconds or timedelta); the execution is then aborted
        when ``cancel_on_kill``. ``execution_timeout`` also applies while deferred.
    :param cancel_on_kill: abort the execution when the task is killed, marked failed/success, cleared
        or times out (default True).
    :param retry_strategy: on an Airflow retry, ``"rerun"`` (new execution, default) or ``"failed_stages"``
        (Harness's retry of the failed stages of the last execution). Never applied on the first try.
    :param success_statuses: terminal statuses counted as success (default ``Success``, ``IgnoreFailed``).
    :param log_tail_lines: lines of the failing step's log to show on failure.
    :param module: Harness module (``cd``, ``ci``…) for the execute call and the UI link.

    Example::

        HarnessRunPipelineOperator(
            task_id="deploy",
            pipeline_id="deploy_service",
            runtime_inputs={
                "pipeline": {"identifier": "deploy_service", "variables": [{"name": "tag", "value": "1.2"}]}
            },
            deferrable=True,
            retry_strategy="failed_stages",
        )
    """

    template_fields: Sequence[str] = (
        "pipeline_id",
        "org_id",
        "project_id",
        "runtime_inputs",
        "input_set_refs",
        "stage_ids",
        "notes",
        "harness_conn_id",
        "module",
    )
    template_fields_renderers = {"runtime_inputs": "yaml"}

    def __init__(
        self,
        *,
        pipeline_id: str,
        runtime_inputs: str | dict[str, Any] | None = None,
        input_set_refs: Sequence[str] | None = None,
        stage_ids: Sequence[str] | None = None,
        retry_strategy: Literal["rerun", "failed_stages"] = "rerun",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline_id = pipeline_id
        self.runtime_inputs = runtime_inputs
        self.input_set_refs = input_set_refs
        self.stage_ids = stage_ids
        self.retry_strategy = retry_strategy

    def _validated(self) -> tuple[str, str, list[str], list[str]]:
        """Check every option before any API call; returns (pipeline, runtime YAML, input sets, stages)."""
        from airflow_provider_harness.client.executions import runtime_input_yaml
        from airflow_provider_harness.client.identifiers import validate_identifier

        pipeline = validate_identifier(self.pipeline_id, field="pipeline_id", allow_dollar=False)
        self._validate_common()
        if self.retry_strategy not in RETRY_STRATEGIES:
            raise ValueError(
                f"retry_strategy: {self.retry_strategy!r} is not one of {list(RETRY_STRATEGIES)}"
            )
        runtime_yaml = runtime_input_yaml(self.runtime_inputs, field_name="runtime_inputs")
        refs = _id_list(self.input_set_refs, "input_set_refs", allow_dollar=True)
        stages = _id_list(self.stage_ids, "stage_ids", allow_dollar=False)
        return pipeline, runtime_yaml, refs, stages

    def execute(self, context: Any) -> str:
        from airflow_provider_harness.client.executions import notes_with_marker, start_call

        started_at = time.time()
        pipeline, runtime_yaml, refs, stages = self._validated()
        ti = context["ti"]
        memory = _ExecutionMemory(context, self.log)
        attempt = Attempt.of(context, self.retries)
        previous, step = self._earlier_execution(context, memory, pipeline, attempt)
        followed = self._follow_earlier(
            context,
            pipeline,
            previous,
            step,
            started_at,
            lambda execution_id: self._remember(memory, pipeline, execution_id, ti.try_number),
        )
        if followed is not None:
            return followed
        notes = notes_with_marker(self.notes, self._marker(context), ti.try_number)
        started: StartedExecution | ExecutionSnapshot | None = None
        how = "Started"
        if previous is not None and step == "retry_failed_stages":
            started = self._retry_failed_stages(context, pipeline, previous, runtime_yaml, notes)
            how = "Retried failed stages in" if started is not None else "Started (a rerun)"
        if started is None:
            call = start_call(
                self.scope,
                pipeline,
                runtime_yaml,
                input_set_refs=refs,
                stage_ids=stages,
                notes=notes,
                module=self.module,
            )
            exclude = {previous.execution_id} if previous is not None else set()
            started = self._start_guarded(context, pipeline, call, exclude)
        assert started is not None
        self._remember(memory, pipeline, started.execution_id, ti.try_number)
        self._announce(context, pipeline, started.execution_id, how, getattr(started, "module", None))
        return self._wait(context, pipeline, started.execution_id, started_at)

    def _retry_failed_stages(
        self, context: Any, pipeline: str, previous: ExecutionSnapshot, runtime_yaml: str, notes: str
    ) -> StartedExecution | ExecutionSnapshot | None:
        """Harness's retry of the failed stages of ``previous``; None (-> a rerun) when Harness cannot."""
        from airflow_provider_harness.client.errors import (
            HarnessEndpointNotFoundError,
            HarnessInvalidRequestError,
            HarnessNotFoundError,
        )
        from airflow_provider_harness.client.executions import (
            RetryNotPossible,
            choose_retry_stages,
            is_retryable,
            retry_call,
            retry_stages_call,
        )

        if not is_retryable(previous.status):
            self.log.info(
                "retry_strategy='failed_stages': execution %s ended %s, which Harness cannot retry; "
                "rerunning the pipeline",
                previous.execution_id,
                previous.status,
            )
            return None
        try:
            info = self.client.send(retry_stages_call(self.scope, previous.execution_id, pipeline))
            retry_stages, run_all = choose_retry_stages(info, "failed")
        except (
            RetryNotPossible,
            HarnessInvalidRequestError,
            HarnessNotFoundError,
            HarnessEndpointNotFoundError,  # an older Harness without the retry API
        ) as exc:
            self.log.warning(
                "Harness cannot retry execution %s (%s); rerunning the pipeline instead",
                previous.execution_id,
                exc,
            )
            return None
        self.log.info(
            "Retrying stages %s of execution %s (runAllStages=%s)",
            retry_stages,
            previous.execution_id,
            run_all,
        )
        call = retry_call(
            self.scope,
            pipeline,
            previous.execution_id,
            retry_stages,
            run_all_stages=run_all,
            runtime_yaml=runtime_yaml,
            notes=notes,
            module=self.module,
        )
        try:
            return self._start_guarded(context, pipeline, call, {previous.execution_id})
        except HarnessInvalidRequestError as exc:
            self.log.warning(
                "Harness refused the retry of %s (%s); rerunning the pipeline", previous.execution_id, exc
            )
            return None


class HarnessRetryExecutionOperator(_HarnessExecutionOperator):
    """Retry an execution through Harness's retry API: its failed stages (default) or all stages.

    :param execution_id: the execution to retry (must be the latest of its retry chain, failed/aborted/
        expired/rejected, at most 30 days old - Harness's rules).
    :param pipeline_id: its pipeline (read from the execution when omitted).
    :param stages: ``"failed"`` (from the first group with a failed stage), ``"all"`` (from the first
        stage), or a list of stage identifiers to retry from.
    :param run_all_stages: with an explicit list: retry every stage of that parallel group (True) or only
        its failed ones (False).
    :param runtime_inputs: runtime-input YAML for the retry (Harness reuses the original inputs when empty).

    Returns the new execution id; the waiting options are those of :class:`HarnessRunPipelineOperator`.

    Example::

        HarnessRetryExecutionOperator(task_id="retry", execution_id="{{ ti.xcom_pull('deploy') }}")
    """

    template_fields: Sequence[str] = (
        "execution_id",
        "pipeline_id",
        "org_id",
        "project_id",
        "runtime_inputs",
        "stages",
        "notes",
        "harness_conn_id",
        "module",
    )
    template_fields_renderers = {"runtime_inputs": "yaml"}
    #: On a later try, the task's last execution is retried (not the one given) when it did not succeed.
    retry_strategy = "failed_stages"

    def __init__(
        self,
        *,
        execution_id: str,
        pipeline_id: str | None = None,
        stages: Literal["failed", "all"] | Sequence[str] = "failed",
        run_all_stages: bool = True,
        runtime_inputs: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.execution_id = execution_id
        self.pipeline_id = pipeline_id
        self.stages = stages
        self.run_all_stages = run_all_stages
        self.runtime_inputs = runtime_inputs

    def execute(self, context: Any) -> str:
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import (
            RetryNotPossible,
            choose_retry_stages,
            get_execution_status,
            notes_with_marker,
            retry_call,
            retry_stages_call,
            runtime_input_yaml,
        )
        from airflow_provider_harness.client.identifiers import validate_identifier

        started_at = time.time()
        if (
            not isinstance(self.execution_id, str)
            or not self.execution_id.strip()
            or "/" in self.execution_id
        ):
            raise ValueError(f"execution_id: {self.execution_id!r} is not a Harness plan execution id")
        if self.pipeline_id is not None:
            validate_identifier(self.pipeline_id, field="pipeline_id", allow_dollar=False)
        explicit: list[str] | None = None
        if isinstance(self.stages, str):
            if self.stages not in ("failed", "all"):
                raise ValueError(
                    f"stages: {self.stages!r} is not 'failed', 'all' or a list of stage identifiers"
                )
        else:
            explicit = _id_list(self.stages, "stages", allow_dollar=False)
            if not explicit:
                raise ValueError("stages: give at least one stage identifier, or 'failed' / 'all'")
        self._validate_common()
        runtime_yaml = runtime_input_yaml(self.runtime_inputs, field_name="runtime_inputs")
        source_id = self.execution_id.strip()

        try:
            pipeline = (
                self.pipeline_id or get_execution_status(self.client, self.scope, source_id).pipeline_id
            )
        except HarnessError as exc:
            raise HarnessExecutionError(f"Cannot read execution {source_id} to retry: {exc}") from None
        ti = context["ti"]
        memory = _ExecutionMemory(context, self.log)
        previous, step = self._earlier_execution(context, memory, pipeline, Attempt.of(context, self.retries))
        followed = self._follow_earlier(
            context,
            pipeline,
            previous,
            step,
            started_at,
            lambda execution_id: self._remember(memory, pipeline, execution_id, ti.try_number),
        )
        if followed is not None:
            return followed
        if previous is not None and step != "start" and previous.execution_id != source_id:
            self.log.info(
                "Retrying the latest execution of this task, %s, instead of %s",
                previous.execution_id,
                source_id,
            )
            source_id = previous.execution_id
        try:
            if explicit is not None:
                retry_stages, run_all = explicit, bool(self.run_all_stages)
            else:
                info = self.client.send(retry_stages_call(self.scope, source_id, pipeline))
                retry_stages, run_all = choose_retry_stages(info, "all" if self.stages == "all" else "failed")
        except RetryNotPossible as exc:
            raise HarnessExecutionError(f"Harness cannot retry execution {source_id}: {exc}") from None
        except HarnessError as exc:
            raise HarnessExecutionError(f"Harness cannot retry execution {source_id}: {exc}") from None
        self.log.info(
            "Retrying stages %s of execution %s (runAllStages=%s)", retry_stages, source_id, run_all
        )
        call = retry_call(
            self.scope,
            pipeline,
            source_id,
            retry_stages,
            run_all_stages=run_all,
            runtime_yaml=runtime_yaml,
            notes=notes_with_marker(self.notes, self._marker(context), ti.try_number),
            module=self.module,
        )
        try:
            started = self._start_guarded(context, pipeline, call, {source_id})
        except HarnessError as exc:
            raise HarnessExecutionError(f"Harness refused to retry execution {source_id}: {exc}") from None
        self._remember(memory, pipeline, started.execution_id, ti.try_number)
        self._announce(
            context, pipeline, started.execution_id, "Started retry", getattr(started, "module", None)
        )
        return self._wait(context, pipeline, started.execution_id, started_at)


class HarnessInterruptExecutionOperator(HarnessTaskMixin, BaseOperator):
    """Interrupt an execution: ``AbortAll`` by default; other interrupt types are passed through as is.

    Harness accepts only ``AbortAll`` at the pipeline level since mid-2023; its refusal of another type (or
    of an execution that already finished) fails the task with Harness's own message.

    :param wait_for_completion: after the interrupt, wait until the execution is terminal.
    Returns ``{"interrupt_id", "interrupt_type", "execution_id", "status"}``.

    Example::

        HarnessInterruptExecutionOperator(
            task_id="abort", execution_id="{{ ti.xcom_pull('deploy', key='execution_id') }}"
        )
    """

    template_fields: Sequence[str] = (
        "execution_id",
        "interrupt_type",
        "org_id",
        "project_id",
        "harness_conn_id",
    )

    def __init__(
        self,
        *,
        execution_id: str,
        interrupt_type: str = "AbortAll",
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        wait_for_completion: bool = False,
        poll_interval: float | timedelta = 5.0,
        timeout: float | timedelta | None = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.execution_id = execution_id
        self.interrupt_type = interrupt_type
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import (
            InterruptResult,
            abort_execution,
            interrupt_call,
        )
        from airflow_provider_harness.client.identifiers import validate_identifier

        if (
            not isinstance(self.execution_id, str)
            or not self.execution_id.strip()
            or "/" in self.execution_id
        ):
            raise ValueError(f"execution_id: {self.execution_id!r} is not a Harness plan execution id")
        if not isinstance(self.interrupt_type, str) or not self.interrupt_type.strip():
            raise ValueError(
                f"interrupt_type: {self.interrupt_type!r}; use 'AbortAll' or another Harness interrupt type"
            )
        for name in ("org_id", "project_id"):
            if getattr(self, name) is not None:
                validate_identifier(getattr(self, name), field=name)
        interval = positive_seconds(self.poll_interval, "poll_interval")
        limit = seconds(self.timeout, "timeout")
        execution_id = self.execution_id.strip()
        client = self.hook.get_client()
        scope = self.hook.config.scope_params("project", what=f"task {self.task_id}")
        result: InterruptResult | None = None
        if self.interrupt_type.strip().lower() == "abortall":
            outcome = abort_execution(client, scope, execution_id)
            if not outcome.aborted:
                raise HarnessExecutionError(
                    f"Harness refused the {self.interrupt_type} interrupt for execution {execution_id}: "
                    f"{outcome.error}"
                )
            result = outcome.interrupt
            self.log.info("%s", outcome.describe())
        else:
            try:
                result = client.send(interrupt_call(scope, execution_id, self.interrupt_type))
            except HarnessError as exc:
                raise HarnessExecutionError(
                    f"Harness refused the {self.interrupt_type} interrupt for execution {execution_id}: {exc}"
                ) from None
        if result is not None:
            self.log.info(
                "Harness accepted %s for execution %s (interrupt %s)",
                result.interrupt_type or self.interrupt_type,
                execution_id,
                result.interrupt_id,
            )
        status: str | None = None
        if self.wait_for_completion:
            follower = ExecutionFollower(self.log, client, scope, execution_id)
            final = follower.poll_until_done(
                poll_interval=interval,
                deadline=time.time() + limit if limit is not None else None,
                success_statuses=None,
            )
            if final is None:
                raise HarnessExecutionError(
                    f"Execution {execution_id} did not end within {limit} seconds after {self.interrupt_type}"
                )
            status = final.status
            self.log.info("Execution %s is now %s", execution_id, status)
        return {
            "interrupt_id": result.interrupt_id if result is not None else None,
            "interrupt_type": (result.interrupt_type if result is not None else None) or self.interrupt_type,
            "execution_id": execution_id,
            "status": status,
        }


def _run_created_ms(context: Mapping[str, Any]) -> int | None:
    """Epoch ms before which no execution of this DAG run's tasks can have started (less clock skew).

    Bounds the marker search: the earliest of the run's ``run_after``, ``queued_at`` and ``start_date``.
    """
    dag_run = context.get("dag_run")
    stamps = [getattr(dag_run, name, None) for name in ("run_after", "queued_at", "start_date")]
    known = [stamp.timestamp() for stamp in stamps if isinstance(stamp, datetime)]
    return int(min(known) * 1000) - MARKER_CLOCK_SKEW_MS if known else None


def _id_list(values: Any, field: str, *, allow_dollar: bool) -> list[str]:
    """Identifiers from a list or a comma-separated string (a templated field renders to text)."""
    from airflow_provider_harness.client.identifiers import validate_identifiers

    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    if values is not None and not isinstance(values, Sequence):
        raise ValueError(f"{field}: expected a list of identifiers, got {type(values).__name__}")
    return validate_identifiers(values, field=field, allow_dollar=allow_dollar)


__all__ = [
    "HarnessExecutionError",
    "HarnessExecutionLink",
    "HarnessInterruptExecutionOperator",
    "HarnessRetryExecutionOperator",
    "HarnessRunPipelineOperator",
]
