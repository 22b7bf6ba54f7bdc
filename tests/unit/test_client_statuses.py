"""Execution status vocabulary (client/statuses.py, harness-api.md §7)."""

from __future__ import annotations

import pytest

from airflow_provider_harness.client.statuses import (
    ABORTABLE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    DISPLAY_STATUSES,
    ENGINE_TO_DISPLAY,
    NODE_STATUS_BY_DISPLAY,
    RETRYABLE_STATUSES,
    TERMINAL_STATUSES,
    WAITING_FOR_USER_STATUSES,
    StatusOutcome,
    interpret,
    normalize_status,
    validate_success_statuses,
)

#: harness-api.md §7.1: every engine status and its display name.
ENGINE = {
    "NO_OP": "NotStarted", "RUNNING": "Running", "INTERVENTION_WAITING": "InterventionWaiting",
    "TIMED_WAITING": "TimedWaiting", "ASYNC_WAITING": "AsyncWaiting", "TASK_WAITING": "TaskWaiting",
    "DISCONTINUING": "Discontinuing", "PAUSING": "Pausing", "QUEUED": "Queued", "SKIPPED": "Skipped",
    "PAUSED": "Paused", "ABORTED": "Aborted", "ERRORED": "Errored", "FAILED": "Failed", "EXPIRED": "Expired",
    "SUSPENDED": "Suspended", "SUCCEEDED": "Success", "IGNORE_FAILED": "IgnoreFailed",
    "APPROVAL_WAITING": "ApprovalWaiting", "RESOURCE_WAITING": "ResourceWaiting",
    "APPROVAL_REJECTED": "ApprovalRejected", "INPUT_WAITING": "InputWaiting",
    "WAIT_STEP_RUNNING": "WaitStepRunning", "FREEZE_FAILED": "AbortedByFreeze",
    "QUEUED_LICENSE_LIMIT_REACHED": "QueuedLicenseLimitReached",
    "QUEUED_EXECUTION_CONCURRENCY_REACHED": "QueuedExecutionConcurrencyReached",
    "QUEUED_STEP_LIMIT_REACHED": "Queued", "STARTING_QUEUED_STEP": "Queued",
    "UPLOAD_WAITING": "UploadWaiting",
    "QUEUED_PLAN_CREATION": "Queued", "STARTING_PLAN_CREATION": "Queued",
}  # fmt: skip

#: §7.2 final statuses, as display names.
TERMINAL = {
    "Skipped", "IgnoreFailed", "Aborted", "Errored", "Failed", "Expired", "Suspended", "Success",
    "ApprovalRejected", "AbortedByFreeze",
}  # fmt: skip


def test_engine_map_matches_reference() -> None:
    assert ENGINE_TO_DISPLAY == ENGINE


def test_terminal_set_matches_reference() -> None:
    assert TERMINAL_STATUSES == TERMINAL
    assert TERMINAL_STATUSES <= DISPLAY_STATUSES


def test_sets_are_consistent() -> None:
    assert {"Success", "IgnoreFailed"} == DEFAULT_SUCCESS_STATUSES
    assert DEFAULT_SUCCESS_STATUSES <= TERMINAL_STATUSES
    assert {"Aborted", "Failed", "Expired", "ApprovalRejected"} == RETRYABLE_STATUSES
    assert RETRYABLE_STATUSES <= TERMINAL_STATUSES
    assert not (ABORTABLE_STATUSES & TERMINAL_STATUSES)
    assert not (WAITING_FOR_USER_STATUSES & TERMINAL_STATUSES)
    assert ABORTABLE_STATUSES <= DISPLAY_STATUSES
    assert set(NODE_STATUS_BY_DISPLAY) <= DISPLAY_STATUSES


@pytest.mark.parametrize(("engine", "display"), sorted(ENGINE.items()))
def test_normalize_engine(engine: str, display: str) -> None:
    assert normalize_status(engine) == display
    assert normalize_status(engine.lower()) == display


@pytest.mark.parametrize("display", sorted(DISPLAY_STATUSES))
def test_normalize_display_any_case(display: str) -> None:
    assert normalize_status(display) == display
    assert normalize_status(display.lower()) == display
    assert normalize_status(display.upper()) == display
    assert normalize_status(f" {display} ") == display


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NOT_STARTED", "NotStarted"),
        ("Waiting", "Waiting"),
        ("UNRECOGNIZED", "UNRECOGNIZED"),
        ("Brand_New", "Brand_New"),
    ],
)
def test_normalize_legacy_and_unknown(raw: str, expected: str) -> None:
    assert normalize_status(raw) == expected


@pytest.mark.parametrize(
    ("status", "terminal", "succeeded", "waiting"),
    [
        ("Success", True, True, False),
        ("SUCCEEDED", True, True, False),
        ("IgnoreFailed", True, True, False),
        ("Failed", True, False, False),
        ("Errored", True, False, False),
        ("Aborted", True, False, False),
        ("FREEZE_FAILED", True, False, False),
        ("Expired", True, False, False),
        ("ApprovalRejected", True, False, False),
        ("Suspended", True, False, False),
        ("Skipped", True, False, False),
        ("Running", False, False, False),
        ("Queued", False, False, False),
        ("QUEUED_PLAN_CREATION", False, False, False),
        ("ApprovalWaiting", False, False, True),
        ("InterventionWaiting", False, False, True),
        ("InputWaiting", False, False, True),
        ("Paused", False, False, True),
        ("Discontinuing", False, False, False),
        ("UploadWaiting", False, False, False),
        ("SomethingNew", False, False, False),
        (None, False, False, False),
        ("", False, False, False),
    ],
)
def test_interpret(status: str | None, terminal: bool, succeeded: bool, waiting: bool) -> None:
    outcome = interpret(status)
    assert (outcome.terminal, outcome.succeeded, outcome.waiting_for_user) == (terminal, succeeded, waiting)
    assert outcome.failed == (terminal and not succeeded)


def test_interpret_not_started() -> None:
    assert interpret(None) == StatusOutcome("NotStarted", False, False, False)
    assert interpret("").status == "NotStarted"


def test_interpret_custom_success() -> None:
    assert interpret("Skipped", ["Success", "Skipped"]).succeeded
    assert not interpret("IgnoreFailed", ["Success"]).succeeded
    assert interpret("IgnoreFailed", ["Success"]).failed
    assert not interpret("Running", ["Success"]).succeeded


class TestValidateSuccessStatuses:
    def test_default(self) -> None:
        assert validate_success_statuses(None) == DEFAULT_SUCCESS_STATUSES

    def test_normalizes(self) -> None:
        assert validate_success_statuses(["success", "SKIPPED", "IgnoreFailed"]) == {
            "Success",
            "Skipped",
            "IgnoreFailed",
        }

    def test_single_string(self) -> None:
        assert validate_success_statuses("Success") == {"Success"}

    @pytest.mark.parametrize("bad", ["Running", "Completed", "SUCCESS_ISH"])
    def test_non_terminal_rejected_naming_the_value(self, bad: str) -> None:
        with pytest.raises(ValueError, match=rf"^success_statuses: '{bad}' is not a terminal"):
            validate_success_statuses([bad])

    def test_empty_rejected(self) -> None:
        with pytest.raises(ValueError, match="at least one status"):
            validate_success_statuses([])
