"""Harness's rules as the emulator states them: execution statuses and identifiers.

Written from the reference (``harness-api.md`` §4, §7, §9 and §11), separately from the client's
``client/statuses.py`` and ``client/identifiers.py`` and importing nothing from them, so that a mistake
in either shows up as a disagreement in ``tests/emulator/test_rules_agree.py`` instead of being copied
into the other.  The emulator imports its status vocabulary and identifier rules from here only.

>>> ENGINE_STATUS_DISPLAY["SUCCEEDED"], ENGINE_STATUS_DISPLAY["FREEZE_FAILED"]
('Success', 'AbortedByFreeze')
>>> parse_display_status("ignorefailed"), parse_display_status("IGNORE_FAILED")
('IgnoreFailed', None)
>>> sorted(RETRYABLE_DISPLAY & TERMINAL_DISPLAY) == sorted(RETRYABLE_DISPLAY)
True
>>> notification_node_status("Errored"), notification_node_status("Running")
('failed', 'started')
>>> identifier_error("proj_1$"), identifier_error("step"), identifier_error("  ")
(None, 'step is a keyword, so cannot be used', 'cannot be empty')
>>> identifier_error("a$b", dollar_allowed=False) == ID_PATTERN_MESSAGE
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

# ---- execution statuses ----------------------------------------------------------------------------

#: The engine ``Status`` enum, in the reference's order (harness-api.md §7.1, first table row): what
#: ``planExecution.status`` of execute / retry responses and v1 ``execution_details.status`` carry.
ENGINE_STATUSES: Final[tuple[str, ...]] = (
    "NO_OP", "RUNNING", "INTERVENTION_WAITING", "TIMED_WAITING", "ASYNC_WAITING", "TASK_WAITING",
    "DISCONTINUING", "PAUSING", "QUEUED", "SKIPPED", "PAUSED", "ABORTED", "ERRORED", "FAILED", "EXPIRED",
    "SUSPENDED", "SUCCEEDED", "IGNORE_FAILED", "APPROVAL_WAITING", "RESOURCE_WAITING", "APPROVAL_REJECTED",
    "INPUT_WAITING", "WAIT_STEP_RUNNING", "FREEZE_FAILED", "QUEUED_LICENSE_LIMIT_REACHED",
    "QUEUED_EXECUTION_CONCURRENCY_REACHED", "QUEUED_STEP_LIMIT_REACHED", "STARTING_QUEUED_STEP",
    "UPLOAD_WAITING", "QUEUED_PLAN_CREATION", "STARTING_PLAN_CREATION", "UNRECOGNIZED",
)  # fmt: skip

# harness-api.md §7.1 "ExecutionStatus display name <- engine status": one display name per engine status,
# in the reference's order, written display first as the reference does.  ``NotStarted`` has no engine
# status ("NotStarted<-(none)"), so it is not here.  UploadWaiting is the PYSDK 2.0.1 addition.
_DISPLAY_FROM_ENGINE: Final[tuple[tuple[str, str], ...]] = (
    ("Running", "RUNNING"),
    ("AsyncWaiting", "ASYNC_WAITING"),
    ("TaskWaiting", "TASK_WAITING"),
    ("TimedWaiting", "TIMED_WAITING"),
    ("Failed", "FAILED"),
    ("Errored", "ERRORED"),
    ("IgnoreFailed", "IGNORE_FAILED"),
    ("Expired", "EXPIRED"),
    ("Aborted", "ABORTED"),
    ("Discontinuing", "DISCONTINUING"),
    ("Queued", "QUEUED"),
    ("Paused", "PAUSED"),
    ("ResourceWaiting", "RESOURCE_WAITING"),
    ("InterventionWaiting", "INTERVENTION_WAITING"),
    ("ApprovalWaiting", "APPROVAL_WAITING"),
    ("WaitStepRunning", "WAIT_STEP_RUNNING"),
    ("QueuedLicenseLimitReached", "QUEUED_LICENSE_LIMIT_REACHED"),
    ("QueuedExecutionConcurrencyReached", "QUEUED_EXECUTION_CONCURRENCY_REACHED"),
    ("Success", "SUCCEEDED"),
    ("Suspended", "SUSPENDED"),
    ("Skipped", "SKIPPED"),
    ("Pausing", "PAUSING"),
    ("ApprovalRejected", "APPROVAL_REJECTED"),
    ("InputWaiting", "INPUT_WAITING"),
    ("AbortedByFreeze", "FREEZE_FAILED"),
    ("UploadWaiting", "UPLOAD_WAITING"),
)

# harness-api.md §7.1: newer engine statuses (PYSDK 2.0.1) that serialize as "Queued".
_ALSO_QUEUED: Final[tuple[str, ...]] = (
    "QUEUED_STEP_LIMIT_REACHED",
    "STARTING_QUEUED_STEP",
    "QUEUED_PLAN_CREATION",
    "STARTING_PLAN_CREATION",
)

#: Engine status -> the display name Harness shows for it.  ``NO_OP`` and ``UNRECOGNIZED`` have none
#: (harness-api.md §7.1 maps no engine status to ``NotStarted``; ``UNRECOGNIZED`` is the protobuf
#: placeholder).
ENGINE_STATUS_DISPLAY: Final[Mapping[str, str]] = {
    **{engine: display for display, engine in _DISPLAY_FROM_ENGINE},
    **dict.fromkeys(_ALSO_QUEUED, "Queued"),
}

#: Display status -> the engine status the emulator reports for it (``planExecution.status``, error
#: messages naming an engine status).  Harness has no engine status for ``NotStarted`` (§7.1); should
#: the emulator ever have to name one it says ``NO_OP``, the engine enum's do-nothing value.
ENGINE_FOR_DISPLAY: Final[Mapping[str, str]] = {
    **{display: engine for display, engine in _DISPLAY_FROM_ENGINE},
    "NotStarted": "NO_OP",
}

#: Every display name Harness emits or accepts: the §7.1 list (including ``NotStarted``), PYSDK's
#: ``UploadWaiting``, and the legacy ``Waiting`` that "may still appear in old data" (§7.1).
DISPLAY_NAMES: Final[frozenset[str]] = frozenset(
    {display for display, _ in _DISPLAY_FROM_ENGINE} | {"NotStarted", "Waiting"}
)

# harness-api.md §7.2 "Final (terminal)" engine statuses [SRC StatusUtils].
_FINAL_ENGINE_STATUSES: Final[tuple[str, ...]] = (
    "SKIPPED",
    "IGNORE_FAILED",
    "ABORTED",
    "ERRORED",
    "FAILED",
    "EXPIRED",
    "SUSPENDED",
    "SUCCEEDED",
    "APPROVAL_REJECTED",
    "FREEZE_FAILED",
)

#: Display statuses after which an execution (or a stage / step) never changes again (§7.2).
TERMINAL_DISPLAY: Final[frozenset[str]] = frozenset(ENGINE_STATUS_DISPLAY[s] for s in _FINAL_ENGINE_STATUSES)

#: Summary statuses from which Harness accepts a retry (§7.2, §9: ``RetryExecutionHelper.isFailedStatus``).
RETRYABLE_DISPLAY: Final[frozenset[str]] = frozenset({"Aborted", "Failed", "Expired", "ApprovalRejected"})

_DISPLAY_BY_LOWER: Final[Mapping[str, str]] = {name.lower(): name for name in DISPLAY_NAMES}


def parse_display_status(text: str) -> str | None:
    """The display status ``text`` names, as Harness parses a ``status`` filter value; else ``None``.

    Harness compares with display names ignoring case (§7.1, ``getExecutionStatus`` uses
    ``equalsIgnoreCase``): engine names that differ from a display name (``SUCCEEDED``) and surrounding
    blanks are not accepted.

    >>> parse_display_status("FAILED"), parse_display_status("Success"), parse_display_status("SUCCEEDED")
    ('Failed', 'Success', None)
    """
    if not text.isascii():  # every display name is ASCII (and Python's lower() is not Java's per char)
        return None
    return _DISPLAY_BY_LOWER.get(text.lower())


# harness-api.md §11 "nodeStatus from the engine status" [SRC PipelineNotificationUtils.getNodeStatus].
_NODE_STATUS_BY_ENGINE: Final[Mapping[str, str]] = {
    "SUCCEEDED": "completed",
    "IGNORE_FAILED": "completed",
    "FAILED": "failed",
    "ERRORED": "failed",
    "PAUSED": "paused",
    "ABORTED": "aborted",
    "APPROVAL_REJECTED": "rejected",
    "EXPIRED": "expired",
}


def notification_node_status(display: str) -> str:
    """The notification ``nodeStatus`` for a node in display status ``display`` (§11; other -> ``started``).

    >>> notification_node_status("Success"), notification_node_status("AbortedByFreeze")
    ('completed', 'started')
    """
    engine = ENGINE_FOR_DISPLAY.get(display)
    return _NODE_STATUS_BY_ENGINE.get(engine, "started") if engine else "started"


# ---- identifiers -------------------------------------------------------------------------------------

#: Entity DTO identifiers (orgs, projects, connectors, secrets, services, environments, ...): ``$``
#: allowed after the first character, at most 128 characters (harness-api.md §4, ``@EntityIdentifier``).
ENTITY_ID_RE: Final[re.Pattern[str]] = re.compile(r"^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$")

#: YAML / pipeline identifiers (pipelines, stages, steps, input sets, triggers): no ``$`` (§4,
#: ``NGRegexValidatorConstants.IDENTIFIER_PATTERN``).  Emulator messages quote ``.pattern`` verbatim.
YAML_ID_RE: Final[re.Pattern[str]] = re.compile(r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$")

#: Words an identifier may not be, compared case-sensitively (§4, ``EntityIdentifierValidator``).  The
#: reference states them for the entity validator; the emulator applies them to YAML identifiers too
#: (Harness's stage / step config beans carry the same ``@EntityIdentifier`` annotation).
KEYWORDS: Final[frozenset[str]] = frozenset(
    {
        "or", "and", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "not", "null", "true", "false", "new",
        "var", "return", "step", "parallel", "stepGroup", "org", "account", "class", "shellScriptProvisioner",
    }
)  # fmt: skip

#: Harness's bean-validation message for an identifier that does not match the entity rule (§4).
ID_PATTERN_MESSAGE: Final[str] = (
    "can be 128 characters long and can only contain alphanumeric, underscore and $ characters, "
    "and not start with a number or $"
)

#: Harness's bean-validation message for a blank identifier (§4).
ID_BLANK_MESSAGE: Final[str] = "cannot be empty"


def keyword_message(identifier: str) -> str:
    """Harness's message for an identifier that is a keyword (§4).

    >>> keyword_message("org")
    'org is a keyword, so cannot be used'
    """
    return f"{identifier} is a keyword, so cannot be used"


def identifier_error(value: object, *, dollar_allowed: bool = True) -> str | None:
    """Harness's message for why ``value`` is not a valid identifier, or ``None`` when it is valid.

    ``dollar_allowed`` picks the entity rule (``True``) or the YAML rule (``False``).  Checks run in
    Harness's order: blank, pattern, keyword.  A value that is not a string gets the pattern message.

    >>> identifier_error("1st") == ID_PATTERN_MESSAGE, identifier_error(None), identifier_error("x" * 128)
    (True, 'cannot be empty', None)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return ID_BLANK_MESSAGE
    rule = ENTITY_ID_RE if dollar_allowed else YAML_ID_RE
    # fullmatch, not match: "$" in the pattern would also accept a trailing newline ("a\n")
    if not isinstance(value, str) or not rule.fullmatch(value):
        return ID_PATTERN_MESSAGE
    if value in KEYWORDS:
        return keyword_message(value)
    return None
