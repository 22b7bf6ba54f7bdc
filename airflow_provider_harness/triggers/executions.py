"""``HarnessExecutionTrigger``: waits in the triggerer for one Harness execution to end.

The trigger only reads: one GET per poll (through
:func:`~airflow_provider_harness.client.executions.status_fetcher`), or, once a project has many
deferred tasks in this triggerer, a share of one list call (:mod:`~.client.coalesce`); the POST that
starts an execution always happens on the worker. Its kwargs are ids, the connection id, an absolute
deadline and flags - never secrets. It yields exactly one event, in the format of
:mod:`.execution_event`. Following the execution is the one follow machine
(:class:`~airflow_provider_harness.client.follow.ExecutionFollow`), as on the worker.

Kill semantics: with ``cancel_on_kill`` the execution is aborted (``AbortAll``) when a user kills the
deferred task - from :meth:`on_kill` on Airflow 3.3+, from the ``CancelledError`` of :meth:`run` plus a task
state check before that. A triggerer restart or a trigger moving to another triggerer aborts nothing.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_harness.airflow_compat import TRIGGER_ON_KILL
from airflow_provider_harness.connection_fields import DEFAULT_CONN_ID
from airflow_provider_harness.triggers.execution_event import EVENT_KEYS, EVENT_STATUSES, event_payload

if TYPE_CHECKING:
    from airflow_provider_harness.client.executions import ExecutionSnapshot
    from airflow_provider_harness.client.transport import AsyncHarnessClient

#: The message Airflow 3.3+ cancels a trigger with when a user acted on the task.
USER_ACTION_CANCEL_MSG = "__airflow_user_action__"


class HarnessExecutionTrigger(BaseTrigger):
    """Poll a Harness execution until it ends, the deadline passes or polling keeps failing.

    :param execution_id: the plan execution id to follow.
    :param harness_conn_id: the Airflow connection (only its id travels; the key is read in the triggerer).
    :param org_id: / :param project_id: scope; defaults come from the connection.
    :param pipeline_id: only for messages.
    :param poll_interval: seconds between status checks (one GET each).
    :param deadline: absolute epoch seconds; past it the trigger yields ``timeout``.
    :param cancel_on_kill: abort the execution when a user kills the deferred task.
    :param success_statuses: terminal statuses that count as success (default ``Success``, ``IgnoreFailed``).
    :param max_consecutive_errors: / :param error_budget_seconds: transient errors (5xx, 429, network)
        tolerated in a row before an ``error`` event.
    :param max_poll_interval: adaptive polling: the wait grows with the run time up to this, and a read is
        aimed at the pipeline's typical end (one list call at the start); None: every ``poll_interval``.

    >>> trigger = HarnessExecutionTrigger("exec1", org_id="default", project_id="proj", deadline=1.7e9)
    >>> classpath, kwargs = trigger.serialize()
    >>> classpath, kwargs["execution_id"], kwargs["deadline"]
    ('airflow_provider_harness.triggers.executions.HarnessExecutionTrigger', 'exec1', 1700000000.0)
    """

    def __init__(
        self,
        execution_id: str,
        harness_conn_id: str = DEFAULT_CONN_ID,
        org_id: str | None = None,
        project_id: str | None = None,
        pipeline_id: str | None = None,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        cancel_on_kill: bool = False,
        success_statuses: list[str] | None = None,
        max_consecutive_errors: int = 10,
        error_budget_seconds: float = 300.0,
        try_number: int | None = None,
        max_poll_interval: float | None = None,
    ) -> None:
        super().__init__()
        #: The task try that deferred; echoed in the event so a stale event is recognised.
        self.try_number = try_number
        self.execution_id = execution_id
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self.pipeline_id = pipeline_id
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.cancel_on_kill = bool(cancel_on_kill)
        self.success_statuses = list(success_statuses) if success_statuses is not None else None
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.error_budget_seconds = float(error_budget_seconds)
        self.max_poll_interval = float(max_poll_interval) if max_poll_interval is not None else None
        self._finished = False
        self._client: AsyncHarnessClient | None = None
        self._scope: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"<HarnessExecutionTrigger execution_id={self.execution_id!r} conn={self.harness_conn_id!r}>"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "execution_id": self.execution_id,
                "harness_conn_id": self.harness_conn_id,
                "org_id": self.org_id,
                "project_id": self.project_id,
                "pipeline_id": self.pipeline_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
                "success_statuses": self.success_statuses,
                "max_consecutive_errors": self.max_consecutive_errors,
                "error_budget_seconds": self.error_budget_seconds,
                **({"try_number": self.try_number} if self.try_number is not None else {}),
                **({"max_poll_interval": self.max_poll_interval} if self.max_poll_interval else {}),
            },
        )

    # ---- client ----------------------------------------------------------------------------------

    async def _get_client(self) -> tuple[AsyncHarnessClient, dict[str, str]]:
        """The async client (shared connection pool per event loop) and the project scope."""
        if self._client is None or self._scope is None:
            from airflow_provider_harness.hooks.harness import HarnessHook

            hook = HarnessHook(self.harness_conn_id, org_id=self.org_id, project_id=self.project_id)
            client = await hook.aget_client()
            self._scope = client.config.scope_params("project", what="an execution")
            self._client = client
        return self._client, self._scope

    # ---- events ----------------------------------------------------------------------------------

    def _event(self, status: str, message: str, snapshot: ExecutionSnapshot | None = None) -> TriggerEvent:
        self._finished = True
        payload = event_payload(
            status,
            self.execution_id,
            message,
            snapshot,
            pipeline_id=self.pipeline_id,
            org_id=self.org_id,
            project_id=self.project_id,
            try_number=self.try_number,
        )
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield exactly one event; never swallow ``CancelledError``."""
        try:
            async for event in self._watch():
                yield event
                return
        except asyncio.CancelledError as exc:
            if not TRIGGER_ON_KILL and self.cancel_on_kill and not self._finished:
                # Airflow < 3.3 has no on_kill: a user kill only cancels this task. Abort only when the
                # task instance is surely no longer deferred (not a triggerer restart or a moved trigger).
                message = exc.args[0] if exc.args else None
                if message != USER_ACTION_CANCEL_MSG and await self._task_state() not in (None, "deferred"):
                    await self._abort("the deferred task was killed (marked failed/success or cleared)")
            raise

    async def _watch(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_harness.client import executions
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.follow import ExecutionFollow, Poll

        try:
            client, scope = await self._get_client()
        except (ValueError, HarnessError) as exc:
            yield self._event(
                "error", f"Cannot reach Harness with connection {self.harness_conn_id!r}: {exc}"
            )
            return
        status: Callable[[], Awaitable[ExecutionSnapshot]]
        status = functools.partial(executions.status_fetcher(), client, scope, self.execution_id)
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        if client.config.coalesce_polls is not False:  # None: auto, lists once they are the cheaper way
            from airflow_provider_harness.client.coalesce import project_poller

            poller = project_poller(client, scope)
            always = client.config.coalesce_polls is True
            # a poll reads a running list at most one interval old; between polls the poller checks the
            # project's new ends every half interval and wakes this trigger when its execution is one
            status = functools.partial(poller.status, self.execution_id, self.poll_interval, always=always)
            sleep = functools.partial(poller.sleep, self.execution_id, check_every=self.poll_interval / 2)
        expected: float | None = None
        if self.max_poll_interval and self.pipeline_id:
            try:
                expected = await client.send(executions.expected_duration_call(scope, self.pipeline_id))
            except (HarnessError, ValueError) as exc:
                self.log.info("Typical duration of pipeline %s unknown (%s)", self.pipeline_id, exc)
        follow = ExecutionFollow(
            self.execution_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            success_statuses=self.success_statuses,
            max_consecutive_errors=self.max_consecutive_errors,
            error_budget_seconds=self.error_budget_seconds,
            max_interval=self.max_poll_interval,
            expected_seconds=expected,
        )

        async def read() -> ExecutionSnapshot | Exception:
            try:
                return await status()
            except (HarnessError, ValueError) as exc:
                return exc

        decision = follow.begin(time.time())
        while isinstance(decision, Poll):
            if decision.warning:
                self.log.warning("%s", decision.warning)
            for line in decision.lines:
                self.log.info("%s", line)
            await sleep(decision.after)
            decision = follow.due(time.time()) or follow.step(await read(), time.time())
        for line in decision.lines:
            self.log.info("%s", line)
        yield self._event(decision.kind, decision.message, decision.snapshot)

    # ---- kill ------------------------------------------------------------------------------------

    async def on_kill(self) -> None:
        """Airflow 3.3+: a user killed the deferred task (mark failed/success, clear) -> abort.

        Guard against a trigger reassigned to another triggerer (apache/airflow#73454): when the task
        instance is still ``deferred`` the execution keeps running.
        """
        if not self.cancel_on_kill or self._finished:
            return
        if await self._task_state() == "deferred":
            self.log.info(
                "Not aborting Harness execution %s: the task is still deferred (trigger moved)",
                self.execution_id,
            )
            return
        await self._abort("the deferred task was killed (marked failed/success or cleared)")

    async def _task_state(self) -> str | None:
        """The task instance's current state, or None when it cannot be read."""
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return None
        try:
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
            from asgiref.sync import sync_to_async

            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id,
                task_ids=[ti.task_id],
                run_ids=[ti.run_id],
                map_index=ti.map_index,
            )
            state = states[ti.run_id][ti.task_id]
        except Exception as exc:
            self.log.warning("Could not read the state of task %s: %s", getattr(ti, "task_id", "?"), exc)
            return None
        return str(getattr(state, "value", state)).lower() if state is not None else "none"

    async def _abort(self, reason: str) -> None:
        """Send ``AbortAll`` (best effort: log, never raise)."""
        from airflow_provider_harness.client import executions
        from airflow_provider_harness.client.errors import HarnessError

        try:
            client, scope = await self._get_client()
            outcome = await executions.abort_execution_async(client, scope, self.execution_id)
        except (HarnessError, ValueError) as exc:
            self.log.warning("Could not abort Harness execution %s (%s): %s", self.execution_id, reason, exc)
            return
        if outcome.aborted:
            self.log.info("%s because %s", outcome.describe(), reason)
        else:
            self.log.warning("%s (%s)", outcome.describe(), reason)


__all__ = ["EVENT_KEYS", "EVENT_STATUSES", "USER_ACTION_CANCEL_MSG", "HarnessExecutionTrigger"]
