"""Sensors for Harness executions.

* :class:`HarnessExecutionSensor` - wait for one execution to end (poke, reschedule or deferrable; the
  deferrable path uses :class:`~airflow_provider_harness.triggers.executions.HarnessExecutionTrigger`).
* :class:`HarnessPipelineSucceededSensor` - wait until the latest finished execution of a pipeline, ended
  after a given time, succeeded (cross-system waits: "deploy finished after 02:00").

Both read status through the same client function and interpret it with the same
:func:`~airflow_provider_harness.client.statuses.interpret` as the operators.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_harness.airflow_compat import (
    AirflowSensorTimeout,
    BaseSensorOperator,
    default_deferrable,
)
from airflow_provider_harness.connection_fields import DEFAULT_CONN_ID
from airflow_provider_harness.execution_tasks import (
    ExecutionFollower,
    HarnessExecutionError,
    HarnessExecutionLink,
    positive_seconds,
    success_status_list,
    validate_event,
)
from airflow_provider_harness.hooks.harness import HarnessTaskMixin

if TYPE_CHECKING:
    from airflow_provider_harness.client.executions import StageProgress

#: Task state store key (Airflow 3.3+) with what a reschedule-mode sensor has logged in this try.
PROGRESS_KEY = "harness_sensor_progress"


class _Silent:
    """A logger that drops lines (the transition lines of a reschedule poke that has no memory)."""

    def info(self, *args: Any) -> None:
        return None


class _HarnessSensorBase(HarnessTaskMixin, BaseSensorOperator):
    def __init__(
        self,
        *,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        success_statuses: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.success_statuses = success_statuses

    def _validate_scope(self) -> None:
        self.validate_scope_ids()
        success_status_list(self.success_statuses)


class HarnessExecutionSensor(_HarnessSensorBase):
    """Wait for a Harness execution to end; fail when it ends without success.

    :param execution_id: the plan execution id (templated, e.g. from the run operator's XCom).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param success_statuses: terminal statuses counted as success (default ``Success``, ``IgnoreFailed``).
    :param log_tail_lines: lines of the failing step's log to show on failure.

    Transient errors (5xx, 429, network) make a poke return False instead of failing. The sensor never
    aborts the execution it watches.

    Example::

        HarnessExecutionSensor(
            task_id="wait",
            execution_id="{{ ti.xcom_pull('deploy', key='execution_id') }}",
            mode="reschedule",
            poke_interval=60,
        )
    """

    template_fields: Sequence[str] = ("execution_id", "org_id", "project_id", "harness_conn_id")
    operator_extra_links = (HarnessExecutionLink(),)

    def __init__(
        self,
        *,
        execution_id: str,
        deferrable: bool | None = None,
        log_tail_lines: int = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.execution_id = execution_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.log_tail_lines = log_tail_lines
        self._execution_id: str | None = None
        self._execution_url: str | None = None
        self._kept_progress: StageProgress | None = None

    def _checked_id(self) -> str:
        if (
            not isinstance(self.execution_id, str)
            or not self.execution_id.strip()
            or "/" in self.execution_id
        ):
            raise ValueError(f"execution_id: {self.execution_id!r} is not a Harness plan execution id")
        self._validate_scope()
        return self.execution_id.strip()

    def _push_url(
        self, context: Mapping[str, Any], pipeline_id: str, module: str | None, announce: bool
    ) -> None:
        from airflow_provider_harness.client.executions import execution_url
        from airflow_provider_harness.execution_tasks import XCOM_EXECUTION_URL

        url = execution_url(
            self.hook.config,
            org_id=self.scope["orgIdentifier"],
            project_id=self.scope["projectIdentifier"],
            pipeline_id=pipeline_id,
            execution_id=self.execution_id.strip(),
            module=module,
        )
        self._execution_url = url
        context["ti"].xcom_push(key=XCOM_EXECUTION_URL, value=url)  # Airflow clears XComs per reschedule
        if announce:
            self.log.info("Waiting for Harness execution %s: %s", self.execution_id, url)

    def _progress(self, context: Mapping[str, Any], execution_id: str) -> tuple[StageProgress, bool]:
        """(what was logged so far, whether the wait was announced) for this try, across reschedules.

        In poke mode the sensor instance lives on. In reschedule mode each poke is a new process: the
        task state store (Airflow 3.3+) carries the progress; without it a reschedule announces nothing
        again and logs one summary line per poke instead of the transition lines.
        """
        from airflow_provider_harness.client.executions import StageProgress

        if self._kept_progress is not None:
            return self._kept_progress, True
        store = context.get("task_state_store")
        if store is not None:
            try:
                saved = store.get(PROGRESS_KEY)
            except Exception as exc:
                self.log.warning("Could not read the task state store: %s", exc)
                saved = None
            if (
                isinstance(saved, Mapping)
                and saved.get("try_number") == context["ti"].try_number
                and saved.get("execution_id") == execution_id
            ):
                return StageProgress.restore(saved), True
            return StageProgress(), False
        return StageProgress(), int(context.get("task_reschedule_count") or 0) > 0

    def _keep_progress(self, context: Mapping[str, Any], execution_id: str, progress: StageProgress) -> None:
        self._kept_progress = progress
        store = context.get("task_state_store")
        if store is None or self.reschedule is False:
            return
        record = {"try_number": context["ti"].try_number, "execution_id": execution_id, **progress.state()}
        try:
            store.set(PROGRESS_KEY, record)
        except Exception as exc:
            self.log.warning("Could not save the sensor's progress in the task state store: %s", exc)

    def poke(self, context: Any) -> bool:
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import is_transient, stage_summary

        execution_id = self._checked_id()
        self._execution_id = execution_id
        progress, announced = self._progress(context, execution_id)
        memory = context.get("task_state_store") is not None or self._kept_progress is not None
        quiet = announced and not memory  # a reschedule without a store: one summary line, below
        follower = ExecutionFollower(
            _Silent() if quiet else self.log, self.client, self.scope, execution_id, progress
        )
        try:
            snapshot = follower.status()
        except HarnessError as exc:
            if is_transient(exc):
                self.log.warning(
                    "Transient error reading execution %s, will poke again: %s", execution_id, exc
                )
                return False
            raise HarnessExecutionError(f"Reading Harness execution {execution_id} failed: {exc}") from None
        follower.log = self.log
        self._push_url(context, snapshot.pipeline_id, snapshot.module, announce=not announced)
        if quiet:
            self.log.info("Execution %s is %s (%s)", execution_id, snapshot.status, stage_summary(snapshot))
        self._keep_progress(context, execution_id, progress)
        outcome = snapshot.outcome(success_status_list(self.success_statuses))
        if not outcome.terminal:
            return False
        if outcome.succeeded:
            self.log.info("Harness execution %s ended %s", execution_id, snapshot.status)
            return True
        summary = follower.failure(snapshot.status, self.log_tail_lines)
        raise HarnessExecutionError(summary.headline())

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        execution_id = self._checked_id()
        if self.poke(context):
            return None
        from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

        limit = float(self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else self.timeout)
        self.defer(
            trigger=HarnessExecutionTrigger(
                execution_id=execution_id,
                harness_conn_id=self.harness_conn_id,
                org_id=self.scope["orgIdentifier"],
                project_id=self.scope["projectIdentifier"],
                poll_interval=positive_seconds(self.poke_interval, "poke_interval"),
                deadline=time.time() + limit if limit > 0 else None,
                cancel_on_kill=False,
                success_statuses=success_status_list(self.success_statuses),
            ),
            method_name="execute_complete",
            kwargs={"execution_id": execution_id},
            timeout=None,
        )

    def execute_complete(
        self, context: Any, event: dict[str, Any] | None = None, execution_id: str | None = None
    ) -> None:
        checked = validate_event(event, execution_id)
        self._execution_id = checked["execution_id"]
        status = checked["status"]
        if checked.get("stages"):
            self.log.info("Stages of execution %s: %s", checked["execution_id"], checked["stages"])
        if status == "success":
            self.log.info(
                "Harness execution %s ended %s", checked["execution_id"], checked.get("harness_status")
            )
            return None
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"Harness execution {checked['execution_id']} did not end within the sensor's timeout"
            )
        if status == "failed":
            follower = ExecutionFollower(self.log, self.client, self.scope, checked["execution_id"])
            summary = follower.failure(checked.get("harness_status") or "Failed", self.log_tail_lines)
            raise HarnessExecutionError(summary.headline())
        raise HarnessExecutionError(checked.get("message") or "The trigger failed")


def _epoch_ms(value: Any, field: str) -> int:
    """``after`` as epoch milliseconds: a datetime (naive = UTC), an ISO 8601 string or epoch seconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return int(float(value) * 1000)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{field}: {value!r} is not an ISO 8601 date-time (e.g. 2026-01-31T02:00:00+00:00)"
            ) from None
    else:
        raise ValueError(f"{field}: give a datetime, an ISO 8601 string or epoch seconds, got {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class HarnessPipelineSucceededSensor(_HarnessSensorBase):
    """Wait until the latest execution of a pipeline that finished after ``after`` succeeded.

    Looks at the newest executions of ``pipeline_id`` (one list call per poke). The sensor succeeds when
    the most recent execution that ended at or after ``after`` counts as success; when that execution
    failed it keeps waiting for a newer one, or fails at once with ``fail_on_failure=True``. Returns the
    execution id.

    :param pipeline_id: pipeline identifier.
    :param after: datetime, ISO 8601 string (templated, e.g. ``"{{ data_interval_end }}"``) or epoch seconds.
    :param fail_on_failure: fail as soon as the latest finished execution failed.

    Example::

        HarnessPipelineSucceededSensor(task_id="deployed", pipeline_id="deploy_service",
                                       after="{{ data_interval_end }}", mode="reschedule", poke_interval=300)
    """

    template_fields: Sequence[str] = ("pipeline_id", "after", "org_id", "project_id", "harness_conn_id")

    def __init__(
        self,
        *,
        pipeline_id: str,
        after: datetime | str | float,
        fail_on_failure: bool = False,
        page_size: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline_id = pipeline_id
        self.after = after
        self.fail_on_failure = fail_on_failure
        self.page_size = page_size

    def poke(self, context: Any) -> Any:
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import (
            is_transient,
            list_executions_call,
            parse_summary,
        )
        from airflow_provider_harness.client.identifiers import validate_identifier

        pipeline = validate_identifier(self.pipeline_id, field="pipeline_id", allow_dollar=False)
        after_ms = _epoch_ms(self.after, "after")
        self._validate_scope()
        success = success_status_list(self.success_statuses)
        try:
            items = list(
                self.client.paginate(
                    list_executions_call(self.scope, pipeline), page_size=self.page_size, limit=self.page_size
                )
            )
        except HarnessError as exc:
            if is_transient(exc):
                self.log.warning(
                    "Transient error listing executions of %s, will poke again: %s", pipeline, exc
                )
                return False
            raise HarnessExecutionError(f"Listing executions of pipeline {pipeline} failed: {exc}") from None
        finished = []
        for item in items:
            try:
                snap = parse_summary(item)
            except ValueError:
                continue
            ended = snap.end_ts or snap.start_ts
            if snap.terminal and ended is not None and ended >= after_ms:
                finished.append((ended, snap))
        if not finished:
            self.log.info("No execution of %s has finished since %s yet", pipeline, self.after)
            return False
        finished.sort(key=lambda pair: pair[0], reverse=True)
        latest = finished[0][1]
        outcome = latest.outcome(success)
        if outcome.succeeded:
            self.log.info(
                "Execution %s of %s ended %s after %s",
                latest.execution_id,
                pipeline,
                latest.status,
                self.after,
            )
            return _poke_value(True, latest.execution_id)
        message = (
            f"The latest execution of {pipeline} since {self.after}, {latest.execution_id}, "
            f"ended {latest.status}"
        )
        if self.fail_on_failure:
            raise HarnessExecutionError(message)
        self.log.info("%s; waiting for a newer one", message)
        return False


def _poke_value(done: bool, value: Any) -> Any:
    try:
        from airflow.sdk import PokeReturnValue
    except ImportError:  # pragma: no cover - Airflow 3.0 without the sdk export
        from airflow.sensors.base import PokeReturnValue  # type: ignore[no-redef]
    return PokeReturnValue(is_done=done, xcom_value=value)


__all__ = ["HarnessExecutionSensor", "HarnessPipelineSucceededSensor"]
