"""Harness execution status vocabulary: the one place statuses are defined and interpreted.

Harness speaks two vocabularies (see ``harness-api.md`` §7):

* **display names** (``Success``, ``Failed``, ``AbortedByFreeze`` ...) in execution details, lists,
  layout nodes, retry history and the ``status`` list filter;
* **engine statuses** (``SUCCEEDED``, ``FAILED``, ``FREEZE_FAILED`` ...) in ``planExecution.status`` of
  execute / retry responses and in v1 ``execution_details.status``.

Everything in the provider (sync wait, poke, trigger) goes through :func:`interpret`.

>>> interpret("Running").terminal
False
>>> interpret("IgnoreFailed").succeeded
True
>>> interpret("FREEZE_FAILED").status
'AbortedByFreeze'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

# Engine status -> display name (ExecutionStatus.getDisplayName in Harness).
ENGINE_TO_DISPLAY: Final[dict[str, str]] = {
    "NO_OP": "NotStarted",
    "RUNNING": "Running",
    "INTERVENTION_WAITING": "InterventionWaiting",
    "TIMED_WAITING": "TimedWaiting",
    "ASYNC_WAITING": "AsyncWaiting",
    "TASK_WAITING": "TaskWaiting",
    "DISCONTINUING": "Discontinuing",
    "PAUSING": "Pausing",
    "QUEUED": "Queued",
    "SKIPPED": "Skipped",
    "PAUSED": "Paused",
    "ABORTED": "Aborted",
    "ERRORED": "Errored",
    "FAILED": "Failed",
    "EXPIRED": "Expired",
    "SUSPENDED": "Suspended",
    "SUCCEEDED": "Success",
    "IGNORE_FAILED": "IgnoreFailed",
    "APPROVAL_WAITING": "ApprovalWaiting",
    "RESOURCE_WAITING": "ResourceWaiting",
    "APPROVAL_REJECTED": "ApprovalRejected",
    "INPUT_WAITING": "InputWaiting",
    "WAIT_STEP_RUNNING": "WaitStepRunning",
    "FREEZE_FAILED": "AbortedByFreeze",
    "QUEUED_LICENSE_LIMIT_REACHED": "QueuedLicenseLimitReached",
    "QUEUED_EXECUTION_CONCURRENCY_REACHED": "QueuedExecutionConcurrencyReached",
    "QUEUED_STEP_LIMIT_REACHED": "Queued",
    "STARTING_QUEUED_STEP": "Queued",
    "UPLOAD_WAITING": "UploadWaiting",
    "QUEUED_PLAN_CREATION": "Queued",
    "STARTING_PLAN_CREATION": "Queued",
}

#: Every display name Harness emits (plus legacy ones seen in old data).
DISPLAY_STATUSES: Final[frozenset[str]] = frozenset(ENGINE_TO_DISPLAY.values()) | {"NotStarted", "Waiting"}

#: Display statuses after which an execution never changes again.
TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(
    {
        "Success",
        "IgnoreFailed",
        "Failed",
        "Errored",
        "Aborted",
        "AbortedByFreeze",
        "Expired",
        "ApprovalRejected",
        "Suspended",
        "Skipped",
    }
)

#: Every current non-terminal display status (for the ``status`` filter of the execution list; the legacy
#: ``Waiting`` is left out because Harness no longer accepts it as a filter value).
NON_TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(DISPLAY_STATUSES - TERMINAL_STATUSES - {"Waiting"})

#: Terminal statuses in which a stage or step is the one that broke the execution (StatusUtils' broke
#: set plus aborts).
BROKEN_STATUSES: Final[frozenset[str]] = frozenset(
    {"Failed", "Errored", "Aborted", "AbortedByFreeze", "Expired", "ApprovalRejected"}
)

#: Terminal statuses that count as success unless the user says otherwise.
DEFAULT_SUCCESS_STATUSES: Final[frozenset[str]] = frozenset({"Success", "IgnoreFailed"})

#: Non-terminal statuses in which the execution waits for a person (approval, intervention, input).
WAITING_FOR_USER_STATUSES: Final[frozenset[str]] = frozenset(
    {"ApprovalWaiting", "InterventionWaiting", "InputWaiting", "Paused", "Pausing"}
)

#: Display statuses from which Harness accepts a retry of failed stages (RetryExecutionHelper.isFailedStatus).
RETRYABLE_STATUSES: Final[frozenset[str]] = frozenset({"Aborted", "Failed", "Expired", "ApprovalRejected"})

#: Statuses in which an ``AbortAll`` interrupt is accepted (the abortable engine set, as display names).
ABORTABLE_STATUSES: Final[frozenset[str]] = frozenset(
    ENGINE_TO_DISPLAY[s]
    for s in (
        "QUEUED",
        "RUNNING",
        "PAUSING",
        "PAUSED",
        "ASYNC_WAITING",
        "WAIT_STEP_RUNNING",
        "APPROVAL_WAITING",
        "RESOURCE_WAITING",
        "INTERVENTION_WAITING",
        "TASK_WAITING",
        "TIMED_WAITING",
        "DISCONTINUING",
        "INPUT_WAITING",
        "QUEUED_LICENSE_LIMIT_REACHED",
    )
)

#: Statuses that show an abort landed: being aborted or aborted (Harness's ABORT_IN_PROGRESS_STATUSES,
#: as display names, less Expired, which is a timeout rather than an abort).
ABORT_IN_PROGRESS_STATUSES: Final[frozenset[str]] = frozenset({"Discontinuing", "Aborted"})

#: Notification ``nodeStatus`` derived from the engine status (PipelineNotificationUtils.getNodeStatus).
NODE_STATUS_BY_DISPLAY: Final[dict[str, str]] = {
    "Success": "completed",
    "IgnoreFailed": "completed",
    "Failed": "failed",
    "Errored": "failed",
    "Paused": "paused",
    "Aborted": "aborted",
    "ApprovalRejected": "rejected",
    "Expired": "expired",
}

_DISPLAY_BY_LOWER: Final[dict[str, str]] = {name.lower(): name for name in DISPLAY_STATUSES}
#: Legacy engine-style constants still found in old data (JSON-ignored enum values in Harness).
_LEGACY_ENGINE: Final[dict[str, str]] = {"NOT_STARTED": "NotStarted", "WAITING": "Waiting"}


def normalize_status(status: str) -> str:
    """Return the display name for a status given in either vocabulary, any case.

    Unknown statuses are returned unchanged (Harness adds statuses over time; an unknown one is
    treated as non-terminal by :func:`interpret`).

    >>> normalize_status("SUCCEEDED"), normalize_status("success"), normalize_status("Brand_New")
    ('Success', 'Success', 'Brand_New')
    >>> normalize_status("ignore_failed"), normalize_status(" Running ")
    ('IgnoreFailed', 'Running')
    """
    text = status.strip()
    if text in ENGINE_TO_DISPLAY:
        return ENGINE_TO_DISPLAY[text]
    display = _DISPLAY_BY_LOWER.get(text.lower())
    if display is not None:
        return display
    upper = text.upper()
    return ENGINE_TO_DISPLAY.get(upper) or _LEGACY_ENGINE.get(upper) or text


def validate_success_statuses(statuses: Iterable[str] | None) -> frozenset[str]:
    """Normalize a user's ``success_statuses`` option; raise ``ValueError`` naming the bad value.

    >>> sorted(validate_success_statuses(["success", "Skipped"]))
    ['Skipped', 'Success']
    """
    if statuses is None:
        return DEFAULT_SUCCESS_STATUSES
    if isinstance(statuses, str):
        statuses = [statuses]
    result = set()
    for raw in statuses:
        name = normalize_status(str(raw))
        if name not in TERMINAL_STATUSES:
            raise ValueError(
                f"success_statuses: {raw!r} is not a terminal Harness execution status; "
                f"choose from {sorted(TERMINAL_STATUSES)}"
            )
        result.add(name)
    if not result:
        raise ValueError("success_statuses: give at least one status, for example ['Success']")
    return frozenset(result)


@dataclass(frozen=True)
class StatusOutcome:
    """What a status means for a waiting task.

    ``status`` is the display name; ``terminal`` says the execution will not change again;
    ``succeeded`` is only meaningful when terminal; ``waiting_for_user`` flags approvals and
    interventions so the task log can say why nothing moves.
    """

    status: str
    terminal: bool
    succeeded: bool
    waiting_for_user: bool

    @property
    def failed(self) -> bool:
        """True when the execution ended and did not count as success."""
        return self.terminal and not self.succeeded


def interpret(status: str | None, success_statuses: Iterable[str] | None = None) -> StatusOutcome:
    """Interpret a Harness execution status (either vocabulary) for a waiting task.

    ``None`` or an empty status (an execution that is still being planned) is ``NotStarted``.

    >>> interpret("Failed").failed, interpret("Skipped", ["Success", "Skipped"]).succeeded
    (True, True)
    """
    name = normalize_status(status) if status else "NotStarted"
    successes = (
        DEFAULT_SUCCESS_STATUSES if success_statuses is None else validate_success_statuses(success_statuses)
    )
    terminal = name in TERMINAL_STATUSES
    return StatusOutcome(
        status=name,
        terminal=terminal,
        succeeded=terminal and name in successes,
        waiting_for_user=name in WAITING_FOR_USER_STATUSES,
    )
