"""Fire a Harness custom webhook trigger from Airflow and follow the pipeline execution it started.

* :class:`HarnessWebhookTriggerOperator` - read the trigger's webhook URL on the worker, post a payload
  to it once, wait until Harness has processed the event, then wait for the execution it started exactly
  as :class:`~airflow_provider_harness.operators.executions.HarnessRunPipelineOperator` does (sync or
  deferred through ``HarnessExecutionTrigger``, same statuses, same log lines, abort on kill, the
  "Harness execution" button).

Module import is cheap (DAG parse time): httpx, YAML and the client transport load inside methods.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_harness.airflow_compat import mask_secret
from airflow_provider_harness.operators.executions import (
    Attempt,
    HarnessExecutionError,
    _ExecutionMemory,
    _HarnessExecutionOperator,
    _run_created_ms,
    positive_seconds,
)

if TYPE_CHECKING:
    from airflow_provider_harness.client.executions import ExecutionSnapshot
    from airflow_provider_harness.client.webhooks import WebhookEvent, WebhookUrl

#: Task state store key (Airflow 3.3+) holding the webhook event this task instance posted.
WEBHOOK_STATE_KEY = "harness_webhook_event"
#: XCom key of the event id, pushed right after Harness accepted the post.
XCOM_EVENT_ID = "webhook_event_id"
#: ``outcome`` of a record whose post surely never reached Harness (refused, or not sent at all).
NOT_DELIVERED = "NOT_DELIVERED"
#: How far before "this round began" an execution found by its trigger may have started (clock skew).
TRIGGER_SEARCH_SKEW_MS = 60_000
#: Longest pause between two reads of a queued webhook event (events are processed within seconds).
EVENT_POLL_MAX_SECONDS = 2.0


class _WebhookEventMemory(_ExecutionMemory):
    """The webhook event this task instance posted, in Airflow 3.3's task state store (own key).

    The record is written *before* the post (``event_id`` None: "a post may be under way"), again right
    after it (the event id), and once the event is resolved (the ``execution_id`` it started, or the
    ``outcome`` that started nothing). Absent store (Airflow < 3.3): nothing is remembered here.
    """

    def load(self) -> dict[str, Any] | None:
        if self.store is None:
            return None
        try:
            value = self.store.get(WEBHOOK_STATE_KEY)
        except Exception as exc:
            self.log.warning("Could not read the task state store: %s", exc)
            return None
        if not isinstance(value, Mapping) or not isinstance(value.get("try_number"), int):
            return None
        return dict(value)

    def save(self, record: dict[str, Any]) -> None:
        if self.store is None:
            return
        try:
            self.store.set(WEBHOOK_STATE_KEY, record)
        except Exception as exc:
            self.log.warning(
                "Could not save webhook event %s in the task state store: %s", record.get("event_id"), exc
            )


class HarnessWebhookTriggerOperator(_HarnessExecutionOperator):
    """Fire a custom webhook trigger of a Harness pipeline and wait for the execution it starts.

    :param trigger_id: the custom webhook trigger (templated). ``org_id`` / ``project_id`` default to
        the connection's.
    :param pipeline_id: the trigger's pipeline (templated).
    :param payload: the JSON body: a dict or list, or JSON / YAML text (templated); ``{}`` when None.
        Checked before any request.
    :param headers: extra request headers, e.g. for the trigger's header conditions (templated). Not
        for secrets: rendered template fields are shown in the UI. ``X-Api-Key`` is refused.
    :param send_api_key: send the connection's API key as ``X-Api-Key`` (projects with "Mandate
        Authorization for Custom Webhook Triggers"; the key then needs Pipeline Execute permission).
    :param event_timeout: how long to wait for Harness to process the event (seconds or timedelta;
        default 10 minutes). The worker waits for it; the wait for the execution can then defer.
    :param notes: written to the execution's notes once it started, with the Airflow marker line.

    The waiting options (``wait_for_completion``, ``deferrable``, ``poll_interval``, ``timeout``,
    ``cancel_on_kill``, ``success_statuses``, ``log_tail_lines``, ``module``) are those of
    :class:`~airflow_provider_harness.operators.executions.HarnessRunPipelineOperator`. Returns the plan
    execution id; pushes ``webhook_event_id`` right after the post, then ``execution_id`` and
    ``execution_url``. The webhook URL's token is read on the worker, masked in the task log, and never
    put in XCom, trigger kwargs or exception text.

    The post is never sent twice for one attempt: a post whose answer is lost is not resent, and an
    Airflow retry follows the event (or the execution) the earlier try started instead of posting
    again. A clear posts again. See docs/events.md.

    Example::

        HarnessWebhookTriggerOperator(
            task_id="fire",
            trigger_id="on_release",
            pipeline_id="deploy_service",
            payload={"image_tag": "{{ params.image_tag }}", "branch": "main"},
            deferrable=True,
        )
    """

    template_fields: Sequence[str] = (
        "trigger_id",
        "pipeline_id",
        "org_id",
        "project_id",
        "payload",
        "headers",
        "notes",
        "harness_conn_id",
        "module",
    )
    template_fields_renderers = {"payload": "json", "headers": "json"}
    #: A retry after a failed execution posts again (there is no "retry failed stages" for a webhook).
    retry_strategy = "rerun"

    def __init__(
        self,
        *,
        trigger_id: str,
        pipeline_id: str,
        payload: Mapping[str, Any] | Sequence[Any] | str | None = None,
        headers: Mapping[str, Any] | str | None = None,
        send_api_key: bool = False,
        event_timeout: float | timedelta = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trigger_id = trigger_id
        self.pipeline_id = pipeline_id
        self.payload = payload
        self.headers = headers
        self.send_api_key = send_api_key
        self.event_timeout = event_timeout
        self._trigger_search_used = False

    # ---- validation --------------------------------------------------------------------------------

    def _validated(self) -> tuple[str, str, bytes, dict[str, str]]:
        """Every option checked before any request: (trigger, pipeline, JSON body, headers)."""
        from airflow_provider_harness.client.identifiers import validate_identifier
        from airflow_provider_harness.client.webhooks import webhook_headers, webhook_payload

        trigger = validate_identifier(self.trigger_id, field="trigger_id", allow_dollar=False)
        pipeline = validate_identifier(self.pipeline_id, field="pipeline_id", allow_dollar=False)
        self._validate_common()
        body = webhook_payload(self.payload, field_name="payload")
        headers = webhook_headers(self.headers, field_name="headers")
        if not isinstance(self.send_api_key, bool):
            raise ValueError(f"send_api_key: expected True or False, got {self.send_api_key!r}")
        positive_seconds(self.event_timeout, "event_timeout")
        return trigger, pipeline, body, headers

    # ---- the try -----------------------------------------------------------------------------------

    def execute(self, context: Any) -> str:
        started_at = time.time()
        trigger, pipeline, body, headers = self._validated()
        ti = context["ti"]
        memory = _WebhookEventMemory(context, self.log)
        attempt = Attempt.of(context, self.retries)
        if attempt.kind == "retry":
            self._follow_earlier_event(memory, attempt, trigger, pipeline, started_at)
        previous, step = self._earlier_execution(context, memory, pipeline, attempt)

        def remember(execution_id: str) -> None:
            self._save(memory, trigger, pipeline, ti.try_number, execution_id=execution_id)
            if self._trigger_search_used:
                self._mark(context, execution_id)

        followed = self._follow_earlier(context, pipeline, previous, step, started_at, remember)
        if followed is not None:
            return followed
        return self._fire(context, memory, trigger, pipeline, body, headers, started_at)

    def _fire(
        self,
        context: Any,
        memory: _WebhookEventMemory,
        trigger: str,
        pipeline: str,
        body: bytes,
        headers: dict[str, str],
        started_at: float,
    ) -> str:
        """Read the URL, post once, follow the event into the execution it started."""
        from airflow_provider_harness.client.errors import (
            HarnessError,
            HarnessServerError,
            HarnessTransportError,
        )
        from airflow_provider_harness.client.webhooks import (
            check_event_id,
            post_webhook,
            webhook_post_call,
        )

        ti = context["ti"]
        url = self._webhook_url(trigger, pipeline)
        call = webhook_post_call(url, body, headers)
        record = self._save(memory, trigger, pipeline, ti.try_number, posted_at_ms=int(time.time() * 1000))
        self.log.info(
            "Posting to the %s webhook of trigger %s (pipeline %s): %s",
            url.version,
            trigger,
            pipeline,
            url.redacted,
        )
        try:
            receipt = post_webhook(self.client, call, send_api_key=self.send_api_key)
        except (HarnessServerError, HarnessTransportError) as exc:
            ambiguous = exc.request_sent if isinstance(exc, HarnessTransportError) else exc.maybe_applied
            if not ambiguous:
                memory.save({**record, "outcome": NOT_DELIVERED})
                raise HarnessExecutionError(
                    f"The webhook of trigger {trigger!r} (pipeline {pipeline!r}) was not delivered: {exc}"
                ) from None
            return self._after_lost_answer(context, memory, record, trigger, pipeline, exc, started_at)
        except HarnessError as exc:
            memory.save({**record, "outcome": NOT_DELIVERED})
            hint = ""
            if "x-api-key" in str(exc.message).lower() and not self.send_api_key:
                hint = ". This project mandates authorization for custom webhooks: set send_api_key=True"
            raise HarnessExecutionError(
                f"Harness refused the webhook of trigger {trigger!r} (pipeline {pipeline!r}): {exc}{hint}"
            ) from None
        if receipt.unrecognized:
            memory.save({**record, "outcome": "UNRECOGNIZED_WEBHOOK"})
            raise HarnessExecutionError(
                f"Harness did not recognise the webhook of trigger {trigger!r} (pipeline {pipeline!r}): "
                "its answer's eventCorrelationId is UNRECOGNIZED_WEBHOOK, so nothing was started"
            )
        try:
            event_id = check_event_id(receipt.event_id)
        except ValueError:
            raise HarnessExecutionError(
                f"Harness accepted the webhook of trigger {trigger!r} (pipeline {pipeline!r}) but its answer "
                "named no event (eventCorrelationId). The post was not sent again; an Airflow retry looks "
                "for the execution it started before posting again"
            ) from None
        record = {**record, "event_id": event_id}
        memory.save(record)
        ti.xcom_push(key=XCOM_EVENT_ID, value=event_id)
        self.log.info(
            "Harness queued webhook event %s of trigger %s (pipeline %s, try %s)",
            event_id,
            trigger,
            pipeline,
            ti.try_number,
        )
        event = self._await_event(event_id, started_at)
        return self._continue_with(context, memory, record, event, trigger, pipeline, started_at)

    def _continue_with(
        self,
        context: Any,
        memory: _WebhookEventMemory,
        record: dict[str, Any],
        event: WebhookEvent,
        trigger: str,
        pipeline: str,
        started_at: float,
    ) -> str:
        """A processed event: fail clearly when it started nothing, else follow its execution."""
        if not event.started or event.execution_id is None:
            memory.save({**record, "outcome": event.outcome or "NONE"})
            raise HarnessExecutionError(f"{event.describe()} (trigger {trigger!r} of pipeline {pipeline!r})")
        execution_id = event.execution_id
        memory.save({**record, "execution_id": execution_id})
        self._mark(context, execution_id)
        module = event.execution.module if event.execution is not None else None
        self._announce(context, event.pipeline_id or pipeline, execution_id, "Started", module)
        return self._wait(context, event.pipeline_id or pipeline, execution_id, started_at)

    def _after_lost_answer(
        self,
        context: Any,
        memory: _WebhookEventMemory,
        record: dict[str, Any],
        trigger: str,
        pipeline: str,
        error: Exception,
        started_at: float,
    ) -> str:
        """The post may have reached Harness: look for what it started (never resend), or fail."""
        window = int(record["posted_at_ms"]) - TRIGGER_SEARCH_SKEW_MS
        self.log.warning(
            "Harness may have received the webhook (%s); not posting again, looking for the execution "
            "trigger %s started since",
            error,
            trigger,
        )
        for delay in (0.0, *self.marker_search_delays):
            time.sleep(delay)
            try:
                found = self._unmarked_trigger_execution(context, pipeline, trigger, window)
            except HarnessExecutionError:
                raise
            except Exception as search_error:
                self.log.warning("Searching for the execution failed: %s", search_error)
                found = None
            if found is not None:
                self.log.info(
                    "The webhook was delivered after all: it started execution %s", found.execution_id
                )
                memory.save({**record, "execution_id": found.execution_id})
                self._mark(context, found.execution_id)
                self._announce(context, pipeline, found.execution_id, "Started", found.module)
                return self._wait(context, pipeline, found.execution_id, started_at)
        raise HarnessExecutionError(
            f"{error}. No execution started by trigger {trigger!r} since the post was found, and the webhook "
            "was not sent again to avoid a duplicate run; an Airflow retry looks for it again before posting"
        )

    # ---- the webhook URL -----------------------------------------------------------------------------

    def _webhook_url(self, trigger: str, pipeline: str) -> WebhookUrl:
        """The trigger's custom webhook URL, read on the worker; its token is masked at once."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.webhooks import get_trigger_details, postable_url, same_origin

        try:
            details = get_trigger_details(self.client, self.scope, trigger, pipeline)
        except HarnessError as exc:
            raise HarnessExecutionError(
                f"Cannot read trigger {trigger!r} of pipeline {pipeline!r}: {exc}"
            ) from None
        url = postable_url(details, trigger, pipeline)
        for secret in url.secrets():
            mask_secret(secret)
        if self.send_api_key and not same_origin(self.hook.config.base_url, url):
            raise ValueError(
                f"send_api_key: the webhook URL of trigger {trigger!r} is not on the connection's Harness "
                f"host ({url.redacted}); the API key is only ever sent to {self.hook.config.base_url}"
            )
        return url

    # ---- the event -----------------------------------------------------------------------------------

    def _await_event(self, event_id: str, started_at: float) -> WebhookEvent:
        """Read the event until Harness has processed it, bounded by ``event_timeout`` (and ``timeout``)."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import ErrorBudget, is_transient
        from airflow_provider_harness.client.webhooks import read_webhook_event

        interval = min(positive_seconds(self.poll_interval, "poll_interval"), EVENT_POLL_MAX_SECONDS)
        limit = positive_seconds(self.event_timeout, "event_timeout")
        deadline = time.time() + limit
        task_deadline = self._deadline(started_at)
        if task_deadline is not None:
            deadline = min(deadline, task_deadline)
        budget = ErrorBudget()
        said_queued = False
        while True:
            event: WebhookEvent | None
            try:
                event = read_webhook_event(self.client, event_id)
            except HarnessError as exc:
                if not (is_transient(exc) and not budget.record_error()):
                    raise HarnessExecutionError(
                        f"Following webhook event {event_id} failed: {exc}. Harness may still start the "
                        "pipeline; an Airflow retry follows this event instead of posting again"
                    ) from None
                self.log.warning(
                    "Transient error reading webhook event %s (%d in a row), still waiting: %s",
                    event_id,
                    budget.count,
                    exc,
                )
                event = None
            if event is not None:
                budget.record_success()
                if not event.pending:
                    if event.warning:
                        self.log.warning("Harness about webhook event %s: %s", event_id, event.warning)
                    self.log.info("%s", event.describe())
                    return event
                if not said_queued:
                    self.log.info(
                        "Webhook event %s is queued in Harness; waiting for it to be processed", event_id
                    )
                    said_queued = True
            if time.time() >= deadline:
                raise HarnessExecutionError(
                    f"Harness had not processed webhook event {event_id} within {limit:g}s (event_timeout) "
                    "or the task's timeout; it may still start the pipeline. An Airflow retry follows this "
                    "event instead of posting again"
                )
            time.sleep(max(0.0, min(interval, deadline - time.time())))

    def _follow_earlier_event(
        self, memory: _WebhookEventMemory, attempt: Attempt, trigger: str, pipeline: str, started_at: float
    ) -> None:
        """A retry whose round posted an event not yet resolved: wait for it, record what it did."""
        record = self._matching(memory.load(), trigger, pipeline, attempt.round_start)
        if (
            record is None
            or not record.get("event_id")
            or record.get("execution_id")
            or record.get("outcome")
        ):
            return
        event_id = str(record["event_id"])
        self.log.info(
            "Try %s posted webhook event %s; following it instead of posting again",
            record["try_number"],
            event_id,
        )
        event = self._await_event(event_id, started_at)
        if event.started:
            memory.save({**record, "execution_id": event.execution_id})
        else:
            memory.save({**record, "outcome": event.outcome or "NONE"})
            self.log.info("That event started nothing, so this try posts again")

    # ---- earlier tries ----------------------------------------------------------------------------

    def _matching(
        self, record: dict[str, Any] | None, trigger: str, pipeline: str, min_try: int | None
    ) -> dict[str, Any] | None:
        if not record:
            return None
        same = (
            record.get("trigger_id") == trigger
            and record.get("pipeline_id") == pipeline
            and record.get("org_id") == self.scope["orgIdentifier"]
            and record.get("project_id") == self.scope["projectIdentifier"]
        )
        if not same or (min_try is not None and int(record.get("try_number") or 0) < min_try):
            return None
        return record

    def _save(
        self,
        memory: _WebhookEventMemory,
        trigger: str,
        pipeline: str,
        try_number: int,
        *,
        posted_at_ms: int | None = None,
        execution_id: str | None = None,
    ) -> dict[str, Any]:
        record = {
            "trigger_id": trigger,
            "pipeline_id": pipeline,
            "org_id": self.scope["orgIdentifier"],
            "project_id": self.scope["projectIdentifier"],
            "try_number": int(try_number),
            "posted_at_ms": posted_at_ms,
            "event_id": None,
            "execution_id": execution_id,
            "outcome": None,
        }
        memory.save(record)
        return record

    def _previous_execution(
        self, context: Mapping[str, Any], memory: _ExecutionMemory, pipeline_id: str, attempt: Attempt
    ) -> ExecutionSnapshot | None:
        """The execution an earlier try's webhook started (None: none, or nothing to follow).

        Airflow 3.3+: the task state store record answers (an execution id, an outcome that started
        nothing, or a post of unknown fate -> search by trigger since that post). Without a record (Airflow
        < 3.3): the marker this operator writes into the execution's notes, then - for a retry - the one
        execution the trigger started since this round began that carries no Airflow marker.
        """
        from airflow_provider_harness.client.errors import HarnessError, HarnessNotFoundError
        from airflow_provider_harness.client.executions import find_marked_execution, get_execution_status

        trigger = str(self.trigger_id)
        min_try = attempt.round_start if attempt.kind == "retry" else None
        window: int | None = None
        if memory.available:
            record = self._matching(memory.load(), trigger, pipeline_id, min_try)
            if record is None:
                return None  # the store knows every post of this round: there was none
            if record.get("execution_id"):
                try:
                    return get_execution_status(self.client, self.scope, str(record["execution_id"]))
                except HarnessNotFoundError:
                    self.log.info(
                        "Execution %s from an earlier try no longer exists in Harness", record["execution_id"]
                    )
                    return None
            if record.get("outcome") or record.get("event_id") or attempt.kind != "retry":
                return None  # it started nothing, or (after a clear) a clear posts again
            window = int(record.get("posted_at_ms") or 0) - TRIGGER_SEARCH_SKEW_MS
            self.log.info(
                "Try %s's webhook post may have reached Harness (its answer was lost); "
                "looking for what it started",
                record["try_number"],
            )
        marker = self._marker(context)
        try:
            if window is None:
                found = find_marked_execution(
                    self.client,
                    self.scope,
                    pipeline_id,
                    marker,
                    min_try=min_try,
                    started_after_ms=_run_created_ms(context),
                )
                if found is not None:
                    self.log.info(
                        "Found execution %s of an earlier try by its marker %r", found.execution_id, marker
                    )
                    return found
                if attempt.kind != "retry":
                    return None
                window = _round_started_ms(context)
                if window is None:
                    self.log.warning(
                        "Cannot tell when this round of tries began; "
                        "not looking for executions of trigger %s",
                        trigger,
                    )
                    return None
            return self._unmarked_trigger_execution(context, pipeline_id, trigger, window)
        except HarnessExecutionError:
            raise
        except (HarnessError, ValueError) as exc:
            raise HarnessExecutionError(
                f"Could not check whether an earlier try of this task already fired trigger {trigger!r} "
                f"({exc}); not posting, to avoid a duplicate run. The next try checks again"
            ) from None

    def _unmarked_trigger_execution(
        self, context: Mapping[str, Any], pipeline_id: str, trigger: str, window_ms: int
    ) -> ExecutionSnapshot | None:
        """The one execution ``trigger`` started since ``window_ms`` that no Airflow task has marked.

        More than one: which was ours cannot be told, and neither following one nor posting again is safe,
        so the try fails (clear the task to post again).
        """
        from datetime import UTC, datetime

        from airflow_provider_harness.client.executions import MARKER_PREFIX, notes_call
        from airflow_provider_harness.client.webhooks import find_trigger_executions

        candidates = find_trigger_executions(
            self.client, self.scope, pipeline_id, trigger, started_after_ms=window_ms
        )
        unmarked: list[ExecutionSnapshot] = []
        for triggered in candidates:
            snapshot = triggered.snapshot
            if snapshot.notes_exist is not False:
                notes = self.client.send(notes_call(snapshot.execution_id))
                if any(line.strip().startswith(MARKER_PREFIX) for line in notes.splitlines()):
                    continue  # an Airflow task (this one in an earlier round, or another) owns it
            unmarked.append(snapshot)
        if not unmarked:
            return None
        since = datetime.fromtimestamp(window_ms / 1000, tz=UTC).isoformat(timespec="seconds")
        if len(unmarked) > 1:
            raise HarnessExecutionError(
                f"Trigger {trigger!r} started {len(unmarked)} executions of {pipeline_id!r} since {since} "
                f"({', '.join(s.execution_id for s in unmarked)}) and none carries this task's marker: which "
                "one an earlier try's webhook started cannot be told, so this try neither follows one nor "
                "posts again. Clear the task to post again"
            )
        found = unmarked[0]
        self._trigger_search_used = True
        self.log.info(
            "Found execution %s that trigger %s started since %s (no Airflow marker): an earlier try's "
            "webhook started it; following it instead of posting again",
            found.execution_id,
            trigger,
            since,
        )
        return found

    def _mark(self, context: Mapping[str, Any], execution_id: str) -> None:
        """Write ``notes`` and the Airflow marker into the execution's notes (best effort), so a later try
        finds it by marker even without the task state store."""
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.executions import notes_with_marker
        from airflow_provider_harness.client.webhooks import set_notes_call

        notes = notes_with_marker(self.notes, self._marker(context), context["ti"].try_number)
        try:
            self.client.send(set_notes_call(self.scope, execution_id, notes))
        except (HarnessError, ValueError) as exc:
            self.log.warning(
                "Could not write the Airflow marker into the notes of execution %s (%s); without the task "
                "state store a retry finds it by its trigger and start time instead",
                execution_id,
                exc,
            )


def _round_started_ms(context: Mapping[str, Any]) -> int | None:
    """Epoch ms no later than the first try of the current round of tries began (less clock skew).

    The latest of the DAG run's ``run_after``, ``queued_at`` and ``start_date`` (a clear of a finished run
    resets the last two), so an earlier round's executions mostly fall outside it.
    """
    from datetime import datetime

    dag_run = context.get("dag_run")
    stamps = [getattr(dag_run, name, None) for name in ("run_after", "queued_at", "start_date")]
    known = [stamp.timestamp() for stamp in stamps if isinstance(stamp, datetime)]
    return int(max(known) * 1000) - TRIGGER_SEARCH_SKEW_MS if known else None


__all__ = ["HarnessWebhookTriggerOperator"]
