"""The run/retry/clear decision table of docs/executions.md, row by row, on a scripted fake Harness.

Airflow's own arithmetic tells the kinds of try apart: a clear sets ``max_tries = try_number + retries``,
so the first try after a clear is ``max_tries - retries + 1``. ``FakeTaskInstance(max_tries=...)`` gives
the operator exactly what Airflow would. The e2e suite repeats the rows that need a real Airflow.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_executions_fakes import (
    FakeStateStore,
    FakeTaskInstance,
    ScriptedHarness,
    make_context,
)
from test_executions_operators import run_op, wire

from airflow_provider_harness.client.errors import HarnessServerError
from airflow_provider_harness.client.executions import abort_execution, interrupt_call
from airflow_provider_harness.operators.executions import (
    Attempt,
    HarnessExecutionError,
    HarnessInterruptExecutionOperator,
    HarnessRetryExecutionOperator,
    next_step,
)

EXECUTE = "/pipeline/api/pipeline/execute/pipe"
RETRY = "/pipeline/api/pipeline/execute/retry/"
SCOPE = {"orgIdentifier": "default", "projectIdentifier": "proj"}


# ---- the table itself -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "previous", "strategy", "cancel", "step"),
    [
        ("first", None, "rerun", True, "start"),
        ("first", "Running", "failed_stages", True, "start"),  # never look back on the first try
        ("retry", None, "rerun", True, "start"),  # the earlier try failed before starting anything
        ("retry", "Running", "rerun", True, "reattach"),
        ("retry", "ApprovalWaiting", "failed_stages", False, "reattach"),
        ("retry", "Success", "rerun", True, "adopt"),  # worker died; the deploy already happened
        ("retry", "IgnoreFailed", "failed_stages", True, "adopt"),
        ("retry", "Failed", "rerun", True, "start"),
        ("retry", "Aborted", "failed_stages", True, "retry_failed_stages"),
        ("after_clear", None, "rerun", True, "start"),
        ("after_clear", "Success", "rerun", True, "start"),  # a clear means "run it again"
        ("after_clear", "Success", "failed_stages", True, "start"),
        ("after_clear", "Failed", "rerun", True, "start"),
        ("after_clear", "Failed", "failed_stages", True, "retry_failed_stages"),
        ("after_clear", "Running", "rerun", True, "abort_then_start"),
        ("after_clear", "Running", "rerun", False, "start"),
    ],
)
def test_next_step_table(kind: Any, previous: str | None, strategy: str, cancel: bool, step: str) -> None:
    assert next_step(kind, previous, retry_strategy=strategy, cancel_on_kill=cancel) == step


def test_next_step_uses_the_tasks_success_statuses() -> None:
    assert (
        next_step(
            "retry", "IgnoreFailed", retry_strategy="rerun", cancel_on_kill=True, success_statuses=["Success"]
        )
        == "start"
    )


@pytest.mark.parametrize(
    ("try_number", "max_tries", "retries", "kind"),
    [
        (1, 2, 2, "first"),
        (2, 2, 2, "retry"),  # an ordinary retry: max_tries is still the task's retries
        (3, 2, 2, "retry"),
        (2, 1, 0, "after_clear"),  # retries=0, cleared after try 1: max_tries = 1 + 0
        (4, 5, 2, "after_clear"),  # cleared after try 3: max_tries = 3 + 2
        (5, 5, 2, "retry"),  # a retry of the try that followed the clear
        (3, None, 2, "retry"),  # no max_tries (a stripped-down context): every later try is a retry
    ],
)
def test_attempt_kind_from_airflows_max_tries(
    try_number: int, max_tries: int | None, retries: int, kind: str
) -> None:
    ti = FakeTaskInstance(try_number=try_number, max_tries=max_tries)
    assert Attempt.of(make_context(ti), retries).kind == kind


# ---- rows on the operator ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_store", [True, False], ids=["state-store", "marker"])
def test_clear_after_success_starts_a_new_execution(with_store: bool) -> None:
    fake = ScriptedHarness(scripts=[["Success"], ["Running", "Success"]])
    store = FakeStateStore() if with_store else None
    first = run_op(retries=1)
    wire(first, fake)
    assert first.execute(make_context(FakeTaskInstance(max_tries=1), store)) == "exec1"
    cleared = run_op(retries=1)
    log = wire(cleared, fake)
    ti = FakeTaskInstance(try_number=2, max_tries=2)  # the clear: max_tries = 1 + retries
    assert cleared.execute(make_context(ti, store)) == "exec2"
    assert fake.count("POST", EXECUTE) == 2
    assert "Adopted" not in log.text
    assert "Try 2 follows a clear of this task: the task's last execution, exec1, is Success" in log.text
    assert "Started Harness execution exec2 of pipeline pipe (try 2)" in log.text
    assert fake.executions["exec2"].notes.endswith(" try=2")


@pytest.mark.parametrize("with_store", [True, False], ids=["state-store", "marker"])
def test_retry_after_a_worker_crash_never_starts_a_second_execution(with_store: bool) -> None:
    """Try 1 started the execution and died; it then finished: the retry adopts it (3.0-3.2 too)."""
    fake = ScriptedHarness(scripts=[["Success"]])
    store = FakeStateStore() if with_store else None
    first = run_op(retries=2, wait_for_completion=False)
    wire(first, fake)
    first.execute(make_context(FakeTaskInstance(max_tries=2), store))
    fake.add(["Success"], notes="another DAG's run")
    retry = run_op(retries=2)
    log = wire(retry, fake)
    assert retry.execute(make_context(FakeTaskInstance(try_number=2, max_tries=2), store)) == "exec1"
    assert fake.count("POST", EXECUTE) == 1
    assert "Adopted the successful Harness execution exec1" in log.text


def test_retry_after_a_lost_start_answer_and_a_missed_search_finds_the_finished_execution() -> None:
    """Try 1's start answer was lost and its search missed; the execution failed meanwhile: a rerun."""
    fake = ScriptedHarness(scripts=[["Success"]])
    fake.add(["Failed"], notes="airflow:harness_dag/manual__2026-01-01T00:00:00+00:00/run/-1 try=1")
    retry = run_op(retries=1)
    log = wire(retry, fake)
    assert retry.execute(make_context(FakeTaskInstance(try_number=2, max_tries=1))) == "exec2"
    assert "Found execution exec1 of an earlier try by its marker" in log.text
    assert "Earlier try's execution exec1 ended Failed" in log.text
    assert fake.count("POST", EXECUTE) == 1  # only the rerun: exec1 was placed by the test


def test_a_retry_never_adopts_an_execution_from_before_a_clear() -> None:
    """Round 1 succeeded (exec1); the clear's try 2 started exec2 and died before saving it; try 3 must
    follow exec2 (found by its try=2 marker), not exec1 (the state store still names exec1)."""
    fake = ScriptedHarness(scripts=[["Success"], ["Running", "Running", "Success"]])
    store = FakeStateStore()
    first = run_op(retries=1)
    wire(first, fake)
    first.execute(make_context(FakeTaskInstance(max_tries=1), store))
    saved = dict(store.values)
    cleared = run_op(retries=1, wait_for_completion=False)
    wire(cleared, fake)
    assert cleared.execute(make_context(FakeTaskInstance(try_number=2, max_tries=2), store)) == "exec2"
    store.values = saved  # the worker died before the state store write
    retry = run_op(retries=1)
    log = wire(retry, fake)
    assert retry.execute(make_context(FakeTaskInstance(try_number=3, max_tries=2), store)) == "exec2"
    assert "Reattached to running Harness execution exec2" in log.text
    assert fake.count("POST", EXECUTE) == 2


def test_clear_while_the_execution_still_runs_aborts_it_before_starting_again() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 50, ["Success"]])
    store = FakeStateStore()
    first = run_op(retries=0, wait_for_completion=False)
    wire(first, fake)
    first.execute(make_context(FakeTaskInstance(max_tries=0), store))
    cleared = run_op(retries=0)
    log = wire(cleared, fake)
    assert cleared.execute(make_context(FakeTaskInstance(try_number=2, max_tries=1), store)) == "exec2"
    assert fake.executions["exec1"].status == "Aborted"
    assert "Aborted Harness execution exec1 because the task was cleared while it ran" in log.text
    assert fake.count("POST", EXECUTE) == 2


def test_clear_of_a_failed_task_with_failed_stages_retries_its_failed_stages() -> None:
    fake = ScriptedHarness(scripts=[["Failed"], ["Success"]])
    store = FakeStateStore()
    first = run_op(retries=0, retry_strategy="failed_stages")
    wire(first, fake)
    with pytest.raises(HarnessExecutionError):
        first.execute(make_context(FakeTaskInstance(max_tries=0), store))
    cleared = run_op(retries=0, retry_strategy="failed_stages")
    log = wire(cleared, fake)
    assert cleared.execute(make_context(FakeTaskInstance(try_number=2, max_tries=1), store)) == "exec2"
    assert fake.executions["exec2"].retry_of == "exec1"
    assert "Retried failed stages in Harness execution exec2" in log.text


def test_an_unfinished_marker_search_fails_the_try_instead_of_risking_a_duplicate() -> None:
    fake = ScriptedHarness()
    fake.inject(
        "POST /pipeline/api/pipelines/execution/summary",
        httpx.Response(403, json={"status": "ERROR", "code": "ACCESS_DENIED", "message": "no view"}),
    )
    retry = run_op(retries=1)
    wire(retry, fake)
    with pytest.raises(HarnessExecutionError, match="not starting one, to avoid a duplicate"):
        retry.execute(make_context(FakeTaskInstance(try_number=2, max_tries=1)))
    assert fake.count("POST", EXECUTE) == 0


def test_a_notes_reply_of_another_shape_is_an_error_not_no_marker() -> None:
    """If the notes field were misread, the search would find nothing and the retry would start again."""
    fake = ScriptedHarness()
    fake.add(["Success"], notes="airflow:harness_dag/manual__2026-01-01T00:00:00+00:00/run/-1 try=1")
    fake.inject(
        "GET /pipeline/api/pipelines/execution/exec1/notes",
        httpx.Response(200, json={"status": "SUCCESS", "data": {"note": "renamed"}}),
    )
    retry = run_op(retries=1)
    wire(retry, fake)
    with pytest.raises(HarnessExecutionError, match="unexpected execution notes reply"):
        retry.execute(make_context(FakeTaskInstance(try_number=2, max_tries=1)))
    assert fake.count("POST", EXECUTE) == 0


def test_retry_operator_adopts_its_own_successful_retry_after_a_worker_crash() -> None:
    fake = ScriptedHarness(scripts=[["Success"]])
    failed = fake.add(["Failed"])
    first = HarnessRetryExecutionOperator(
        task_id="run", execution_id=failed.id, retries=1, wait_for_completion=False, deferrable=False
    )
    wire(first, fake)
    retried = first.execute(make_context(FakeTaskInstance(max_tries=1)))
    again = HarnessRetryExecutionOperator(
        task_id="run", execution_id=failed.id, retries=1, deferrable=False, poll_interval=0.01
    )
    log = wire(again, fake)
    assert again.execute(make_context(FakeTaskInstance(try_number=2, max_tries=1))) == retried
    assert fake.count("POST", RETRY) == 1
    assert f"Adopted the successful Harness execution {retried}" in log.text


# ---- an abort whose answer was lost -------------------------------------------------------------------


def lose_interrupt_answers(fake: ScriptedHarness) -> None:
    """Harness applies each interrupt but the answer is lost (a 502 from the edge)."""
    original = fake.handler

    def handler(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if (
            request.method == "PUT"
            and "/execute/interrupt/" in request.url.path
            and response.status_code == 200
        ):
            return httpx.Response(502, text="<html><title>502 Bad Gateway</title></html>")
        return response

    fake.handler = handler  # type: ignore[method-assign]


def test_a_resent_abort_that_finds_the_execution_aborting_is_a_success() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Running"] * 10)
    lose_interrupt_answers(fake)
    client = fake.client(max_retries=1)  # the transport resends the PUT after the 502
    outcome = abort_execution(client, SCOPE, execution.id)
    assert fake.count("PUT", "/pipeline/api/pipeline/execute/interrupt/") == 2
    assert outcome.aborted and not outcome.accepted and outcome.status == "Discontinuing"
    assert "already Discontinuing (an earlier abort request reached Harness)" in outcome.describe()
    with pytest.raises(HarnessServerError):  # the lost answer itself, without the judgement
        fake.client().send(interrupt_call(SCOPE, fake.add(["Running"]).id))


def test_interrupt_operator_succeeds_when_its_resent_abort_is_refused_as_already_aborting() -> None:
    fake = ScriptedHarness()
    execution = fake.add(["Running"] * 10)
    lose_interrupt_answers(fake)
    op = HarnessInterruptExecutionOperator(task_id="abort", execution_id=execution.id)
    log = wire(op, fake)
    op.hook._client = fake.client(max_retries=1)
    result = op.execute(make_context(FakeTaskInstance(task_id="abort")))
    assert result["execution_id"] == execution.id and result["interrupt_type"] == "AbortAll"
    assert f"Harness execution {execution.id} is already Discontinuing" in log.text


def test_timeout_whose_abort_answer_was_lost_says_it_was_aborted() -> None:
    fake = ScriptedHarness(scripts=[["Running"] * 500])
    lose_interrupt_answers(fake)
    op = run_op(timeout=0.05, poll_interval=0.01)
    log = wire(op, fake)
    with pytest.raises(HarnessExecutionError) as info:
        op.execute(make_context(FakeTaskInstance()))
    assert "did not finish within the task's timeout; it was aborted" in str(info.value)
    assert "left running" not in str(info.value) + log.text
    assert "Harness execution exec1 is already Discontinuing" in log.text
