"""``HarnessExecutionOutcomeSensor``: wait for an execution of a pipeline to end a given way after a time.

Each poke is ONE list call for the project (``POST …/execution/summary``, newest end first; a second page
only when a page's worth of executions ended since ``after``), the same scan as the polling event
trigger (:mod:`airflow_provider_harness.client.execution_feed`). The sensor succeeds with the first
execution, in order of end time, that ended at or after ``after`` in one of ``statuses``, and returns its
notification-shaped payload (the ``eventData`` Harness posts to webhooks, plus ``"source": "poll"``). An
execution that ended in one of ``fail_statuses`` first fails the sensor instead; executions ending any
other way are ignored.

Deferrable mode waits in the triggerer with
:class:`~airflow_provider_harness.triggers.events.HarnessExecutionOutcomeTrigger`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_harness.airflow_compat import (
    AirflowSensorTimeout,
    BaseSensorOperator,
    default_deferrable,
)
from airflow_provider_harness.client.execution_feed import DEFAULT_MAX_PAGES, DEFAULT_PAGE_SIZE
from airflow_provider_harness.connection_fields import DEFAULT_CONN_ID
from airflow_provider_harness.execution_tasks import (
    XCOM_EXECUTION_ID,
    XCOM_EXECUTION_URL,
    HarnessExecutionError,
    HarnessExecutionLink,
    positive_seconds,
)
from airflow_provider_harness.hooks.harness import HarnessTaskMixin
from airflow_provider_harness.sensors.executions import _epoch_ms, _poke_value

#: What ``statuses`` means when not given.
DEFAULT_OUTCOME_STATUSES = ("IgnoreFailed", "Success")


class HarnessExecutionOutcomeSensor(HarnessTaskMixin, BaseSensorOperator):
    """Wait until an execution of ``pipeline_id`` ends in one of ``statuses`` at or after ``after``.

    :param after: datetime, ISO 8601 string (templated, e.g. ``"{{ data_interval_end }}"``) or epoch
        seconds; executions that ended before it are ignored.
    :param pipeline_id: a pipeline identifier, a list of them, or None for every pipeline of the project.
    :param statuses: end statuses that satisfy the sensor (default ``Success``, ``IgnoreFailed``).
    :param fail_statuses: end statuses that fail it, e.g. ``["Failed", "Aborted"]`` (default: none; the
        sensor keeps waiting).
    :param module: only executions whose ``modules`` contain it (``cd``, ``ci``, ...).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param page_size: / :param max_pages: list paging of one poke.

    Returns the payload (XCom ``return_value``) and pushes ``execution_id`` and ``execution_url``.
    Transient errors (5xx, 429, network) make a poke return False. Never aborts anything.

    Example::

        HarnessExecutionOutcomeSensor(
            task_id="deployed",
            pipeline_id="deploy_service",
            after="{{ data_interval_end }}",
            fail_statuses=["Failed", "Aborted"],
            deferrable=True,
            poke_interval=60,
        )
    """

    template_fields: Sequence[str] = (
        "pipeline_id",
        "after",
        "statuses",
        "fail_statuses",
        "module",
        "org_id",
        "project_id",
        "harness_conn_id",
    )
    operator_extra_links = (HarnessExecutionLink(),)

    def __init__(
        self,
        *,
        after: datetime | str | float,
        pipeline_id: str | Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        fail_statuses: Sequence[str] | None = None,
        module: str | None = None,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        deferrable: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = DEFAULT_MAX_PAGES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.after = after
        self.pipeline_id = pipeline_id
        self.statuses = statuses
        self.fail_statuses = fail_statuses
        self.module = module
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.page_size = page_size
        self.max_pages = max_pages

    # ---- input -----------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        """Validated settings (before any request); ``ValueError`` names the field."""
        from airflow_provider_harness.client.execution_feed import ExecutionFilter, terminal_statuses

        self.validate_scope_ids()
        pipelines = [self.pipeline_id] if isinstance(self.pipeline_id, str) else list(self.pipeline_id or [])
        statuses = terminal_statuses(
            DEFAULT_OUTCOME_STATUSES if self.statuses is None else self.statuses, field_name="statuses"
        )
        if not statuses:
            raise ValueError("statuses: give at least one end status, for example ['Success']")
        fails = terminal_statuses(self.fail_statuses, field_name="fail_statuses")
        both = sorted(set(statuses) & set(fails))
        if both:
            raise ValueError(f"fail_statuses: {both} are also in statuses; a status either passes or fails")
        flt = ExecutionFilter.build(pipelines, [*statuses, *fails], self.module)
        return {
            "filter": flt,
            "statuses": list(statuses),
            "fail_statuses": list(fails),
            "after_ms": _epoch_ms(self.after, "after"),
        }

    # ---- poke ------------------------------------------------------------------------------------

    def poke(self, context: Any) -> Any:
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.execution_feed import (
            FeedScan,
            FeedWatermark,
            asset_event_payload,
            iso_ms,
            poll_feed,
        )
        from airflow_provider_harness.client.executions import is_transient

        settings = self._settings()
        flt = settings["filter"]
        scan = FeedScan(
            self.scope,
            FeedWatermark.starting_at(settings["after_ms"]),
            flt,
            page_size=self.page_size,
            max_pages=self.max_pages,
        )
        try:
            poll = poll_feed(self.client, scan)
        except HarnessError as exc:
            if is_transient(exc):
                self.log.warning("Transient error listing Harness executions, will poke again: %s", exc)
                return False
            raise HarnessExecutionError(f"Listing Harness executions failed: {exc}") from None
        if not poll.new:
            self.log.info(
                "No Harness execution (%s) has ended since %s yet",
                flt.describe(),
                iso_ms(settings["after_ms"]),
            )
            return False
        first = poll.new[0]
        payload = asset_event_payload(first, self.hook.config, scope=self.scope)
        return _poke_value(True, self._finish(context, first.snapshot.status, payload, settings))

    def _finish(
        self, context: Mapping[str, Any], status: str, payload: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Push the id and URL; fail on a fail status, else return the payload."""
        execution_id = str(payload.get("planExecutionId"))
        url = payload.get("executionUrl")
        ti = context["ti"]
        ti.xcom_push(key=XCOM_EXECUTION_ID, value=execution_id)
        if isinstance(url, str):
            ti.xcom_push(key=XCOM_EXECUTION_URL, value=url)
        ended = f"Harness execution {execution_id} of {payload.get('pipelineIdentifier')} ended {status}"
        if status in settings["fail_statuses"]:
            reason = f": {payload['errorMessage']}" if payload.get("errorMessage") else ""
            raise HarnessExecutionError(f"{ended}{reason} ({url})")
        self.log.info("%s: %s", ended, url)
        return dict(payload)

    # ---- execute / defer -------------------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        settings = self._settings()
        done = self.poke(context)
        if done:
            return done.xcom_value
        from airflow_provider_harness.triggers.events import HarnessExecutionOutcomeTrigger

        limit = float(self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else self.timeout)
        flt = settings["filter"]
        self.defer(
            trigger=HarnessExecutionOutcomeTrigger(
                after=settings["after_ms"] / 1000,
                harness_conn_id=self.harness_conn_id,
                org_id=self.scope["orgIdentifier"],
                project_id=self.scope["projectIdentifier"],
                pipelines=list(flt.pipelines) or None,
                statuses=settings["statuses"],
                fail_statuses=settings["fail_statuses"] or None,
                module=flt.module,
                poll_interval=positive_seconds(self.poke_interval, "poke_interval"),
                deadline=time.time() + limit if limit > 0 else None,
                page_size=self.page_size,
                max_pages=self.max_pages,
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        from airflow_provider_harness.triggers.events import OUTCOME_EVENT_STATUSES

        if not isinstance(event, Mapping) or event.get("status") not in OUTCOME_EVENT_STATUSES:
            raise HarnessExecutionError(f"The trigger sent an unexpected event: {event!r:.300}")
        status = event["status"]
        if status == "timeout":
            raise AirflowSensorTimeout(str(event.get("message") or "No matching Harness execution in time"))
        if status == "error":
            raise HarnessExecutionError(str(event.get("message") or "The trigger failed"))
        payload = event.get("payload")
        if not isinstance(payload, Mapping) or not payload.get("planExecutionId"):
            raise HarnessExecutionError(f"The trigger's event has no execution: {event!r:.300}")
        return self._finish(context, str(event.get("harness_status")), payload, self._settings())


__all__ = ["DEFAULT_OUTCOME_STATUSES", "HarnessExecutionOutcomeSensor"]
