"""Pipeline executions: call builders, parsed snapshots, and the one status-check function.

Everything that reads an execution's status goes through :func:`status_call` and
:func:`parse_details` - the sync wait and sensor pokes with :func:`get_execution_status`, triggers with
:func:`fetch_execution_status` (looked up through :func:`status_fetcher`, for a trigger's own reads and
the per-execution reads of the project poller of :mod:`.coalesce` alike). Statuses are interpreted only by
:func:`~airflow_provider_harness.client.statuses.interpret`.

>>> scope = {"orgIdentifier": "default", "projectIdentifier": "proj"}
>>> call = execute_call(scope, "deploy", "pipeline:\\n  identifier: deploy\\n", notes="airflow:d/r/t/-1")
>>> call.method, call.path, call.params["notesForPipelineExecution"], call.repeatable
('POST', '/pipeline/api/pipeline/execute/deploy', 'airflow:d/r/t/-1', False)
>>> interrupt_call(scope, "exec1").params["interruptType"]
'AbortAll'
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

from airflow_provider_harness.client.call import SPRING_PAGE, ApiCall
from airflow_provider_harness.client.identifiers import validate_identifier, validate_identifiers
from airflow_provider_harness.client.statuses import (
    ABORT_IN_PROGRESS_STATUSES,
    BROKEN_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    NON_TERMINAL_STATUSES,
    RETRYABLE_STATUSES,
    TERMINAL_STATUSES,
    StatusOutcome,
    interpret,
    normalize_status,
)

if TYPE_CHECKING:
    from airflow_provider_harness.client.config import HarnessConfig
    from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient

Scope = Mapping[str, str]

PERMISSION_EXECUTE = "core_pipeline_execute"
PERMISSION_VIEW = "core_pipeline_view"

#: Prefix of the marker the operators put into execution notes to find their execution again.
MARKER_PREFIX = "airflow:"


# ---------------------------------------------------------------------------------------------------
# Parsed results
# ---------------------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _failure_message(node: Mapping[str, Any]) -> str | None:
    """Harness's failure message of a summary, layout node or graph node, if any."""
    for key in ("failureInfo", "failureInfoDTO", "executionErrorInfo"):
        message = _str(_mapping(node.get(key)).get("message"))
        if message:
            return message.strip()
    return None


@dataclass(frozen=True)
class StageSnapshot:
    """One stage of an execution as ``layoutNodeMap`` shows it (status is a display name)."""

    identifier: str
    name: str
    status: str
    node_uuid: str = ""
    failure_message: str | None = None
    start_ts: int | None = None
    end_ts: int | None = None


@dataclass(frozen=True)
class StepSnapshot:
    """One node of the execution graph (only present when details were read with the graph)."""

    uuid: str
    identifier: str
    name: str
    status: str
    step_type: str = ""
    base_fqn: str = ""
    failure_message: str | None = None
    log_base_key: str | None = None
    start_ts: int | None = None
    end_ts: int | None = None
    units: tuple[tuple[str, str], ...] = ()  # (unit name, status) of CD command units

    @property
    def stage_identifier(self) -> str | None:
        """The stage this node belongs to, from ``pipeline.stages.<stage>.…`` in its FQN."""
        parts = self.base_fqn.split(".")
        for index, part in enumerate(parts[:-1]):
            if part == "stages" and index + 1 < len(parts) and parts[index + 1] not in ("spec", "stages"):
                return parts[index + 1]
        return None


@dataclass(frozen=True)
class ExecutionSnapshot:
    """What one details (or list) response says about an execution.

    >>> snap = parse_summary({"planExecutionId": "e1", "pipelineIdentifier": "p", "status": "IgnoreFailed"})
    >>> snap.execution_id, snap.status, snap.outcome().succeeded
    ('e1', 'IgnoreFailed', True)
    """

    execution_id: str
    pipeline_id: str
    status: str
    org_id: str | None = None
    project_id: str | None = None
    name: str | None = None
    run_sequence: int | None = None
    stages: tuple[StageSnapshot, ...] = ()
    failure_message: str | None = None
    start_ts: int | None = None
    end_ts: int | None = None
    can_retry: bool | None = None
    notes_exist: bool | None = None
    module: str | None = None
    parent_execution_id: str | None = None
    steps: tuple[StepSnapshot, ...] = ()

    def outcome(self, success_statuses: Iterable[str] | None = None) -> StatusOutcome:
        """The status interpreted by :func:`~.statuses.interpret` (the one interpretation)."""
        return interpret(self.status, success_statuses)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class StartedExecution:
    """The answer to execute / retry: a new plan execution.

    >>> plan = {"uuid": "x1", "status": "RUNNING", "metadata": {"runSequence": 4}}
    >>> started = parse_started({"planExecution": plan})
    >>> started.execution_id, started.status, started.run_sequence, started.is_retry
    ('x1', 'Running', 4, False)
    """

    execution_id: str
    status: str
    run_sequence: int | None = None
    pipeline_id: str | None = None
    is_retry: bool = False
    root_execution_id: str | None = None
    parent_execution_id: str | None = None


@dataclass(frozen=True)
class InterruptResult:
    """Harness's answer to an interrupt: the interrupt id and type."""

    interrupt_id: str | None
    interrupt_type: str | None
    execution_id: str | None


@dataclass(frozen=True)
class RetryStage:
    identifier: str
    name: str
    status: str


@dataclass(frozen=True)
class RetryInfo:
    """Which stages of an execution Harness lets you retry (``groups`` = parallel groups in order)."""

    resumable: bool
    error_message: str | None = None
    groups: tuple[tuple[RetryStage, ...], ...] = ()


@dataclass(frozen=True)
class RetryHistory:
    latest_execution_id: str | None
    execution_ids: tuple[str, ...] = ()
    error_message: str | None = None


class RetryNotPossible(Exception):
    """Harness cannot retry this execution (not failed, not the latest of its chain, too old, …)."""


# ---------------------------------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------------------------------


def parse_started(data: Any) -> StartedExecution:
    """Parse ``PlanExecutionResponseDto`` (execute and retry answers; engine status vocabulary)."""
    plan = _mapping(_mapping(data).get("planExecution"))
    execution_id = _str(plan.get("uuid")) or _str(_mapping(plan.get("metadata")).get("executionUuid"))
    if not execution_id:
        raise ValueError("Harness answered the execute call without a planExecution.uuid")
    metadata = _mapping(plan.get("metadata"))
    retry = _mapping(metadata.get("retryInfo"))
    return StartedExecution(
        execution_id=execution_id,
        status=normalize_status(_str(plan.get("status")) or "NotStarted"),
        run_sequence=_int(metadata.get("runSequence")),
        pipeline_id=_str(metadata.get("pipelineIdentifier")),
        is_retry=bool(retry.get("isRetry")),
        root_execution_id=_str(retry.get("rootExecutionId")),
        parent_execution_id=_str(retry.get("parentRetryId")),
    )


def _ordered_layout(layout: Mapping[str, Any], start: str | None) -> list[Mapping[str, Any]]:
    """Stage layout nodes in pipeline order: follow ``nextIds`` from the start, expanding parallel groups."""
    ordered: list[Mapping[str, Any]] = []
    seen: set[str] = set()

    def visit(node_id: str | None) -> None:
        while node_id and node_id not in seen and node_id in layout:
            seen.add(node_id)
            node = _mapping(layout[node_id])
            edges = _mapping(node.get("edgeLayoutList"))
            children = [c for c in edges.get("currentNodeChildren") or [] if isinstance(c, str)]
            is_group = str(node.get("nodeType", "")).lower() == "parallel" or (
                children and not node.get("status")
            )
            if is_group:
                for child in children:
                    if child not in seen and child in layout:
                        seen.add(child)
                        ordered.append(_mapping(layout[child]))
            else:
                ordered.append(node)
            next_ids = [n for n in edges.get("nextIds") or [] if isinstance(n, str)]
            node_id = next_ids[0] if next_ids else None

    visit(start)
    rest = [_mapping(v) for k, v in layout.items() if k not in seen and _mapping(v).get("status")]
    rest = [n for n in rest if str(n.get("nodeType", "")).lower() != "parallel"]
    rest.sort(key=lambda n: (_int(n.get("startTs")) or 2**62, str(n.get("nodeIdentifier", ""))))
    return ordered + rest


def _parse_stages(summary: Mapping[str, Any]) -> tuple[StageSnapshot, ...]:
    layout = _mapping(summary.get("layoutNodeMap"))
    stages = []
    for node in _ordered_layout(layout, _str(summary.get("startingNodeId"))):
        identifier = _str(node.get("nodeIdentifier")) or _str(node.get("nodeUuid")) or "?"
        stages.append(
            StageSnapshot(
                identifier=identifier,
                name=_str(node.get("name")) or identifier,
                status=normalize_status(_str(node.get("status")) or "NotStarted"),
                node_uuid=_str(node.get("nodeUuid")) or "",
                failure_message=_failure_message(node),
                start_ts=_int(node.get("startTs")),
                end_ts=_int(node.get("endTs")),
            )
        )
    return tuple(stages)


def _parse_steps(graph: Mapping[str, Any]) -> tuple[StepSnapshot, ...]:
    steps = []
    for uuid, raw in _mapping(graph.get("nodeMap")).items():
        node = _mapping(raw)
        units = tuple(
            (str(u.get("unitName")), normalize_status(str(u.get("status") or "")))
            for u in node.get("unitProgresses") or []
            if isinstance(u, Mapping) and u.get("unitName")
        )
        steps.append(
            StepSnapshot(
                uuid=_str(node.get("uuid")) or str(uuid),
                identifier=_str(node.get("identifier")) or "",
                name=_str(node.get("name")) or _str(node.get("identifier")) or "",
                status=normalize_status(_str(node.get("status")) or "NotStarted"),
                step_type=_str(node.get("stepType")) or "",
                base_fqn=_str(node.get("baseFqn")) or "",
                failure_message=_failure_message(node),
                log_base_key=_str(node.get("logBaseKey")),
                start_ts=_int(node.get("startTs")),
                end_ts=_int(node.get("endTs")),
                units=units,
            )
        )
    return tuple(steps)


def parse_summary(summary: Any, graph: Any = None) -> ExecutionSnapshot:
    """Parse a ``PipelineExecutionSummary`` (details or list item), with the execution graph if given."""
    data = _mapping(summary)
    execution_id = _str(data.get("planExecutionId"))
    if not execution_id:
        raise ValueError("Harness answered without pipelineExecutionSummary.planExecutionId")
    modules = [m for m in data.get("modules") or [] if isinstance(m, str)]
    retry_meta = _mapping(data.get("retryExecutionMetadata"))
    can_retry = data.get("canRetry")
    notes_exist = data.get("notesExistForPlanExecutionId")
    return ExecutionSnapshot(
        execution_id=execution_id,
        pipeline_id=_str(data.get("pipelineIdentifier")) or "",
        status=normalize_status(_str(data.get("status")) or "NotStarted"),
        org_id=_str(data.get("orgIdentifier")),
        project_id=_str(data.get("projectIdentifier")),
        name=_str(data.get("name")),
        run_sequence=_int(data.get("runSequence")),
        stages=_parse_stages(data),
        failure_message=_failure_message(data),
        start_ts=_int(data.get("startTs")),
        end_ts=_int(data.get("endTs")),
        can_retry=can_retry if isinstance(can_retry, bool) else None,
        notes_exist=notes_exist if isinstance(notes_exist, bool) else None,
        module=modules[0] if modules else None,
        parent_execution_id=_str(retry_meta.get("parentExecutionId")),
        steps=_parse_steps(_mapping(graph)) if graph else (),
    )


def parse_details(data: Any) -> ExecutionSnapshot:
    """Parse ``PipelineExecutionDetailDTO`` (``pipelineExecutionSummary`` + optional ``executionGraph``)."""
    body = _mapping(data)
    return parse_summary(body.get("pipelineExecutionSummary"), body.get("executionGraph"))


def parse_interrupt(data: Any) -> InterruptResult:
    body = _mapping(data)
    return InterruptResult(_str(body.get("id")), _str(body.get("type")), _str(body.get("planExecutionId")))


def parse_retry_info(data: Any) -> RetryInfo:
    body = _mapping(data)
    groups = []
    for group in body.get("groups") or []:
        stages = tuple(
            RetryStage(
                identifier=str(s.get("identifier")),
                name=_str(s.get("name")) or str(s.get("identifier")),
                status=normalize_status(_str(s.get("status")) or "NotStarted"),
            )
            for s in _mapping(group).get("info") or []
            if isinstance(s, Mapping) and s.get("identifier")
        )
        if stages:
            groups.append(stages)
    resumable = body.get("resumable", body.get("isResumable"))
    return RetryInfo(bool(resumable), _str(body.get("errorMessage")), tuple(groups))


def parse_retry_history(data: Any) -> RetryHistory:
    body = _mapping(data)
    ids = tuple(
        str(info["uuid"])
        for info in body.get("executionInfos") or []
        if isinstance(info, Mapping) and info.get("uuid")
    )
    return RetryHistory(_str(body.get("latestExecutionId")), ids, _str(body.get("errorMessage")))


def parse_notes(data: Any) -> str:
    """``data`` of the notes endpoint: ``{"notes": "<text>"}`` (``PipelineExecutionNotes``).

    Strict on purpose: a reply without the ``notes`` field is an error, never "no notes", so a changed
    shape cannot make the marker search miss an execution and start a duplicate.

    >>> parse_notes({"notes": "a"}), parse_notes({"notes": None})
    ('a', '')
    """
    if not isinstance(data, Mapping) or "notes" not in data:
        raise ValueError(f"unexpected execution notes reply: expected {{'notes': text}}, got {data!r:.200}")
    notes = data["notes"]
    if notes is not None and not isinstance(notes, str):
        raise ValueError(f"unexpected execution notes reply: notes is {type(notes).__name__}")
    return notes or ""


# ---------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------


def load_yaml_field(text: str, field_name: str) -> Any:
    """YAML text of an option, parsed; ``ValueError`` naming the field, with line and column.

    >>> load_yaml_field("a: 1", "runtime_inputs")
    {'a': 1}
    >>> load_yaml_field("a: [1", "runtime_inputs")
    Traceback (most recent call last):
    ...
    ValueError: runtime_inputs: not valid YAML at line 1, column 6: ...
    """
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{field_name}: not valid YAML{where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{field_name}: not valid YAML: {exc}") from None


def runtime_input_yaml(value: str | Mapping[str, Any] | None, *, field_name: str = "runtime_inputs") -> str:
    """Return the runtime-input YAML to send: YAML text is checked, a dict is rendered.

    Raises ``ValueError`` naming the field (and line/column for YAML syntax errors).

    >>> runtime_input_yaml({"pipeline": {"identifier": "p", "variables": [{"name": "v", "value": 1}]}})
    'pipeline:\\n  identifier: p\\n  variables:\\n  - name: v\\n    value: 1\\n'
    >>> runtime_input_yaml("pipeline:  a: b")
    Traceback (most recent call last):
    ...
    ValueError: runtime_inputs: not valid YAML at line 1, column 13: mapping values are not allowed here
    """
    import yaml

    if value is None:
        return ""
    if isinstance(value, Mapping):
        if not value:
            return ""
        try:
            text = yaml.safe_dump(dict(value), sort_keys=False, default_flow_style=False)
        except yaml.YAMLError as exc:
            raise ValueError(f"{field_name}: cannot be rendered as YAML: {exc}") from None
        parsed: Any = value
    elif isinstance(value, str):
        text = value
        if not text.strip():
            return ""
        parsed = load_yaml_field(text, field_name)
    else:
        raise ValueError(f"{field_name}: expected YAML text or a dict, got {type(value).__name__}")
    if parsed is None:
        return ""
    if not isinstance(parsed, Mapping) or "pipeline" not in parsed:
        raise ValueError(
            f"{field_name}: runtime inputs must be a mapping with a top-level 'pipeline' key "
            "(the pipeline's runtime input YAML, as shown by Harness under 'Run pipeline > YAML')"
        )
    return text


# ---------------------------------------------------------------------------------------------------
# Call builders (pure)
# ---------------------------------------------------------------------------------------------------

_EXECUTE = "/pipeline/api/pipeline/execute"


def _execute_params(scope: Scope, notes: str | None, module: str | None) -> dict[str, Any]:
    params: dict[str, Any] = dict(scope)
    if notes:
        params["notesForPipelineExecution"] = notes
    if module:
        params["moduleType"] = module
    return params


def execute_call(
    scope: Scope,
    pipeline_id: str,
    runtime_yaml: str = "",
    *,
    notes: str | None = None,
    module: str | None = None,
) -> ApiCall[StartedExecution]:
    """Start ``pipeline_id`` with runtime-input YAML (``POST …/pipeline/execute/{pipeline}``)."""
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    return ApiCall(
        "POST",
        f"{_EXECUTE}/{pipeline}",
        params=_execute_params(scope, notes, module),
        content=runtime_yaml or "",
        content_type="application/yaml",
        repeatable=False,
        permission=PERMISSION_EXECUTE,
        parse=parse_started,
    )


def execute_with_input_sets_call(
    scope: Scope,
    pipeline_id: str,
    input_set_refs: Sequence[str],
    runtime_yaml: str = "",
    *,
    stage_ids: Sequence[str] | None = None,
    notes: str | None = None,
    module: str | None = None,
) -> ApiCall[StartedExecution]:
    """Start ``pipeline_id`` from input sets (``…/inputSetList``), ``runtime_yaml`` merged last."""
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    refs = [validate_identifier(r, field="input_set_refs") for r in input_set_refs]
    if not refs:
        raise ValueError("input_set_refs: give at least one input set identifier")
    body: dict[str, Any] = {"inputSetReferences": refs, "withMergedPipelineYaml": False}
    if runtime_yaml:
        body["lastYamlToMerge"] = runtime_yaml
    stages = validate_identifiers(stage_ids, field="stage_ids", allow_dollar=False)
    if stages:
        body["stageIdentifiers"] = stages
    return ApiCall(
        "POST",
        f"{_EXECUTE}/{pipeline}/inputSetList",
        params=_execute_params(scope, notes, module),
        json=body,
        repeatable=False,
        permission=PERMISSION_EXECUTE,
        parse=parse_started,
    )


def execute_stages_call(
    scope: Scope,
    pipeline_id: str,
    stage_ids: Sequence[str],
    runtime_yaml: str = "",
    *,
    expression_values: Mapping[str, str] | None = None,
    notes: str | None = None,
    module: str | None = None,
) -> ApiCall[StartedExecution]:
    """Run only ``stage_ids`` of ``pipeline_id`` (``…/stages``, ``RunStageRequestDTO``)."""
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    stages = validate_identifiers(stage_ids, field="stage_ids", allow_dollar=False)
    if not stages:
        raise ValueError("stage_ids: give at least one stage identifier")
    body = {
        "runtimeInputYaml": runtime_yaml or "",
        "stageIdentifiers": stages,
        "expressionValues": dict(expression_values or {}),
    }
    return ApiCall(
        "POST",
        f"{_EXECUTE}/{pipeline}/stages",
        params=_execute_params(scope, notes, module),
        json=body,
        repeatable=False,
        permission=PERMISSION_EXECUTE,
        parse=parse_started,
    )


def start_call(
    scope: Scope,
    pipeline_id: str,
    runtime_yaml: str = "",
    *,
    input_set_refs: Sequence[str] | None = None,
    stage_ids: Sequence[str] | None = None,
    notes: str | None = None,
    module: str | None = None,
) -> ApiCall[StartedExecution]:
    """The right execute call for the given inputs (plain, input sets, or selected stages)."""
    if input_set_refs:
        return execute_with_input_sets_call(
            scope, pipeline_id, input_set_refs, runtime_yaml, stage_ids=stage_ids, notes=notes, module=module
        )
    if stage_ids:
        return execute_stages_call(scope, pipeline_id, stage_ids, runtime_yaml, notes=notes, module=module)
    return execute_call(scope, pipeline_id, runtime_yaml, notes=notes, module=module)


def _execution_path_id(execution_id: str) -> str:
    if not isinstance(execution_id, str) or not execution_id.strip() or "/" in execution_id:
        raise ValueError(f"execution_id: {execution_id!r} is not a Harness plan execution id")
    return quote(execution_id.strip(), safe="-_")


def details_call(scope: Scope, execution_id: str, *, graph: bool = False) -> ApiCall[ExecutionSnapshot]:
    """Execution details v2; ``graph=True`` adds every step (``renderFullBottomGraph``)."""
    params: dict[str, Any] = dict(scope)
    if graph:
        params["renderFullBottomGraph"] = True
    return ApiCall(
        "GET",
        f"/pipeline/api/pipelines/execution/v2/{_execution_path_id(execution_id)}",
        params=params,
        permission=PERMISSION_VIEW,
        parse=parse_details,
    )


def status_call(scope: Scope, execution_id: str) -> ApiCall[ExecutionSnapshot]:
    """THE status check: one GET of the details summary (no graph). Used by every wait path."""
    return details_call(scope, execution_id, graph=False)


def list_executions_call(
    scope: Scope, pipeline_id: str | None = None, *, statuses: Iterable[str] | None = None
) -> ApiCall[Any]:
    """List executions, newest first (paged, Spring ``Page``); items parse with :func:`parse_summary`."""
    params: dict[str, Any] = dict(scope)
    if pipeline_id:
        params["pipelineIdentifier"] = validate_identifier(
            pipeline_id, field="pipeline_id", allow_dollar=False
        )
    if statuses:
        params["status"] = sorted({normalize_status(s) for s in statuses})
    params["sort"] = "startTs,DESC"
    return ApiCall(
        "POST",
        "/pipeline/api/pipelines/execution/summary",
        params=params,
        json={"filterType": "PipelineExecution"},
        permission=PERMISSION_VIEW,
        page=SPRING_PAGE,
    )


def expected_duration_call(scope: Scope, pipeline_id: str, sample: int = 10) -> ApiCall[float | None]:
    """The pipeline's typical duration in seconds: the median of its last ``sample`` successful runs
    (None without any). Adaptive polling aims a read at the expected end of a run."""
    import statistics
    from dataclasses import replace

    def parse(data: Any) -> float | None:
        snapshots = [parse_summary(item) for item in SPRING_PAGE.items(data) if isinstance(item, Mapping)]
        durations = [
            (s.end_ts - s.start_ts) / 1000.0
            for s in snapshots
            if s.start_ts and s.end_ts and s.end_ts > s.start_ts
        ]
        return statistics.median(durations) if durations else None

    call = list_executions_call(scope, pipeline_id, statuses=["Success"]).with_page(0, sample)
    return replace(call, parse=parse)


def notes_call(execution_id: str) -> ApiCall[str]:
    """The notes of an execution (``data.notes``)."""
    return ApiCall(
        "GET",
        f"/pipeline/api/pipelines/execution/{_execution_path_id(execution_id)}/notes",
        permission=PERMISSION_VIEW,
        parse=parse_notes,
    )


#: Interrupt types Harness has known at the pipeline level; only ``AbortAll`` is accepted since mid-2023.
INTERRUPT_TYPES = frozenset(
    {"AbortAll", "Abort", "Pause", "Resume", "Ignore", "StageRollback", "PipelineRollback",
     "StepGroupRollback", "MarkAsSuccess", "ExpireAll", "Retry", "MarkAsFailure", "UserMarkedFailure"}
)  # fmt: skip


def interrupt_call(
    scope: Scope, execution_id: str, interrupt_type: str = "AbortAll"
) -> ApiCall[InterruptResult]:
    """Interrupt an execution: ``PUT …/execute/interrupt/{id}?interruptType=…`` with no body."""
    if not isinstance(interrupt_type, str) or not interrupt_type.strip():
        raise ValueError("interrupt_type: give an interrupt type such as 'AbortAll'")
    return ApiCall(
        "PUT",
        f"{_EXECUTE}/interrupt/{_execution_path_id(execution_id)}",
        params={**scope, "interruptType": interrupt_type.strip()},
        permission=PERMISSION_EXECUTE,
        parse=parse_interrupt,
    )


def retry_call(
    scope: Scope,
    pipeline_id: str,
    execution_id: str,
    retry_stages: Sequence[str],
    *,
    run_all_stages: bool = True,
    runtime_yaml: str = "",
    notes: str | None = None,
    module: str | None = None,
) -> ApiCall[StartedExecution]:
    """Retry ``execution_id`` from ``retry_stages`` (a new execution; ``POST …/execute/retry/{pipeline}``)."""
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    stages = validate_identifiers(retry_stages, field="retry_stages", allow_dollar=False)
    if not stages:
        raise ValueError("retry_stages: give at least one stage to retry")
    params = _execute_params(scope, notes, module)
    params.update(
        planExecutionId=_execution_path_id(execution_id), retryStages=stages, runAllStages=run_all_stages
    )
    return ApiCall(
        "POST",
        f"{_EXECUTE}/retry/{pipeline}",
        params=params,
        content=runtime_yaml or "",
        content_type="application/yaml",
        repeatable=False,
        permission=PERMISSION_EXECUTE,
        parse=parse_started,
    )


def retry_stages_call(scope: Scope, execution_id: str, pipeline_id: str) -> ApiCall[RetryInfo]:
    """Which stages of ``execution_id`` can be retried (``GET …/execute/{id}/retryStages``)."""
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    return ApiCall(
        "GET",
        f"{_EXECUTE}/{_execution_path_id(execution_id)}/retryStages",
        params={**scope, "pipelineIdentifier": pipeline},
        permission=PERMISSION_VIEW,
        parse=parse_retry_info,
    )


def retry_history_call(scope: Scope, execution_id: str, pipeline_id: str) -> ApiCall[RetryHistory]:
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    return ApiCall(
        "GET",
        f"{_EXECUTE}/retryHistory/{_execution_path_id(execution_id)}",
        params={**scope, "pipelineIdentifier": pipeline},
        permission=PERMISSION_VIEW,
        parse=parse_retry_history,
    )


def latest_execution_id_call(scope: Scope, execution_id: str, pipeline_id: str) -> ApiCall[str | None]:
    pipeline = validate_identifier(pipeline_id, field="pipeline_id", allow_dollar=False)
    return ApiCall(
        "GET",
        f"{_EXECUTE}/latestExecutionId/{_execution_path_id(execution_id)}",
        params={**scope, "pipelineIdentifier": pipeline},
        permission=PERMISSION_VIEW,
        parse=lambda data: _str(_mapping(data).get("latestExecutionId")),
    )


# ---------------------------------------------------------------------------------------------------
# URLs, markers, retry stage choice
# ---------------------------------------------------------------------------------------------------


#: Modules with their own section in the Harness UI; others (``pms`` for Custom-stage pipelines) use ``cd``.
UI_MODULES = frozenset({"cd", "ci", "sto", "cf", "iacm", "chaos", "idp", "ssca", "cv", "ce", "code", "sei"})


def execution_url(
    config: HarnessConfig,
    *,
    org_id: str,
    project_id: str,
    pipeline_id: str,
    execution_id: str,
    module: str | None = None,
) -> str:
    """The Harness UI page of an execution (the ``executionUrl`` format of Harness's notifications).

    >>> from airflow_provider_harness.client.config import HarnessConfig, Secret
    >>> cfg = HarnessConfig(account_id="acc", api_key=Secret("k"), base_url="https://h.example.com/gateway")
    >>> execution_url(cfg, org_id="o", project_id="p", pipeline_id="pipe", execution_id="e1")
    'https://h.example.com/ng/#/account/acc/cd/orgs/o/projects/p/pipelines/pipe/executions/e1/pipeline'
    """
    base = config.base_url
    if base.endswith("/gateway"):
        base = base[: -len("/gateway")]
    ui_module = module.lower() if module and module.lower() in UI_MODULES else "cd"
    parts = [quote(str(p), safe="") for p in (config.account_id, ui_module, org_id, project_id, pipeline_id)]
    account, mod, org, project, pipeline = parts
    return (
        f"{base}/ng/#/account/{account}/{mod}/orgs/{org}/projects/{project}/pipelines/{pipeline}"
        f"/executions/{quote(execution_id, safe='-_')}/pipeline"
    )


def execution_marker(dag_id: str, run_id: str, task_id: str, map_index: int | None = -1) -> str:
    """The line the operators add to execution notes so a retry finds the execution again.

    >>> execution_marker("etl", "manual__2026-01-01T00:00:00+00:00", "deploy", None)
    'airflow:etl/manual__2026-01-01T00:00:00+00:00/deploy/-1'
    """
    index = -1 if map_index is None else int(map_index)
    return f"{MARKER_PREFIX}{dag_id}/{run_id}/{task_id}/{index}"


def notes_with_marker(notes: str | None, marker: str, try_number: int | None = None) -> str:
    """User notes (kept first) followed by the marker on its own line, with the Airflow try number.

    >>> notes_with_marker("release 1.2", "airflow:d/r/t/-1", 2)
    'release 1.2\\nairflow:d/r/t/-1 try=2'
    >>> notes_with_marker(None, "airflow:d/r/t/-1")
    'airflow:d/r/t/-1'
    """
    line = marker if try_number is None else f"{marker} try={int(try_number)}"
    text = (notes or "").rstrip()
    return f"{text}\n{line}" if text else line


def marker_try(notes: str | None, marker: str) -> int | None:
    """The try number on the line of ``notes`` that carries ``marker``: 0 when the line has none,
    None when no line carries it (``…/1`` does not match ``…/10``).

    >>> marker_try("x\\nairflow:d/r/t/-1 try=3", "airflow:d/r/t/-1")
    3
    >>> marker_try("airflow:d/r/t/-10", "airflow:d/r/t/-1") is None
    True
    """
    found: int | None = None
    for raw in (notes or "").splitlines():
        line = raw.strip()
        if line == marker:
            found = max(found or 0, 0)
        elif line.startswith(marker + " try=") and line[len(marker) + 5 :].isdigit():
            found = max(found or 0, int(line[len(marker) + 5 :]))
    return found


def notes_have_marker(notes: str | None, marker: str) -> bool:
    """True when one line of ``notes`` carries ``marker`` (with or without a try number)."""
    return marker_try(notes, marker) is not None


def choose_retry_stages(info: RetryInfo, mode: Literal["failed", "all"] = "failed") -> tuple[list[str], bool]:
    """Pick ``(retryStages, runAllStages)`` from Harness's retry groups.

    ``failed``: the first group holding a stage that did not succeed; inside a parallel group only its
    failed stages (``runAllStages=false``). ``all``: the first group, every stage of it.

    >>> info = RetryInfo(True, None, ((RetryStage("build", "Build", "Success"),),
    ...                              (RetryStage("a", "A", "Failed"), RetryStage("b", "B", "Success"))))
    >>> choose_retry_stages(info)
    (['a'], False)
    >>> choose_retry_stages(info, "all")
    (['build'], True)
    """
    if not info.resumable:
        raise RetryNotPossible(info.error_message or "Harness says this execution cannot be retried")
    if not info.groups:
        raise RetryNotPossible("Harness lists no stages that can be retried")
    if mode == "all":
        return [s.identifier for s in info.groups[0]], True
    for group in info.groups:
        broken = [s for s in group if s.status not in DEFAULT_SUCCESS_STATUSES and s.status != "Skipped"]
        if broken:
            if len(group) > 1 and len(broken) < len(group):
                return [s.identifier for s in broken], False
            return [s.identifier for s in group], True
    raise RetryNotPossible("no stage of this execution failed, so there is nothing to retry")


def is_retryable(status: str) -> bool:
    """Whether Harness accepts a retry of an execution in ``status`` (display or engine name)."""
    return normalize_status(status) in RETRYABLE_STATUSES


# ---------------------------------------------------------------------------------------------------
# Progress lines and error budget (shared by the sync wait, pokes and triggers)
# ---------------------------------------------------------------------------------------------------


def format_duration(start_ts: int | None, end_ts: int | None) -> str | None:
    """Human duration between two epoch-millisecond stamps (None when one is missing).

    >>> format_duration(0, 4_200), format_duration(0, 65_000), format_duration(0, 3_723_000)
    ('4s', '1m 05s', '1h 02m 03s')
    """
    if start_ts is None or end_ts is None or end_ts < start_ts:
        return None
    total = round((end_ts - start_ts) / 1000)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def took(start_ts: int | None, end_ts: int | None) -> str:
    """`` in <duration>`` for a log line, or nothing when the stamps are missing."""
    duration = format_duration(start_ts, end_ts)
    return f" in {duration}" if duration else ""


class StageProgress:
    """Turns successive snapshots of one execution into log lines, one per change; a stage or execution
    that ended shows how long it took.

    >>> progress = StageProgress()
    >>> stages = (StageSnapshot("build", "Build", "Running"), StageSnapshot("deploy", "Deploy", "NotStarted"))
    >>> snap = ExecutionSnapshot("e1", "p", "Running", stages=stages)
    >>> progress.update(snap)
    ['Execution e1 is Running', 'Stage 1/2 "Build" Running']
    >>> progress.update(snap)
    []
    >>> done = (StageSnapshot("build", "Build", "Success", start_ts=0, end_ts=3000), stages[1])
    >>> progress.update(ExecutionSnapshot("e1", "p", "Running", stages=done))
    ['Stage 1/2 "Build" Success in 3s']
    """

    def __init__(self) -> None:
        self._status: str | None = None
        self._stages: dict[str, str] = {}

    def state(self) -> dict[str, Any]:
        """What has been logged so far, JSON-safe (a reschedule sensor keeps it between pokes)."""
        return {"status": self._status, "stages": dict(self._stages)}

    @classmethod
    def restore(cls, state: Mapping[str, Any]) -> StageProgress:
        """A progress that continues from :meth:`state` (unknown shapes start afresh)."""
        progress = cls()
        if isinstance(state.get("status"), str):
            progress._status = state["status"]
        stages = state.get("stages")
        if isinstance(stages, Mapping):
            progress._stages = {str(k): str(v) for k, v in stages.items()}
        return progress

    def update(self, snapshot: ExecutionSnapshot) -> list[str]:
        lines: list[str] = []
        if snapshot.status != self._status:
            self._status = snapshot.status
            suffix = ""
            if interpret(snapshot.status).waiting_for_user:
                suffix = " (waiting for someone in Harness: approval, intervention or input)"
            elif snapshot.terminal:
                suffix = took(snapshot.start_ts, snapshot.end_ts)
            lines.append(f"Execution {snapshot.execution_id} is {snapshot.status}{suffix}")
        total = len(snapshot.stages)
        for index, stage in enumerate(snapshot.stages, 1):
            if self._stages.get(stage.identifier) == stage.status:
                continue
            self._stages[stage.identifier] = stage.status
            if stage.status == "NotStarted":
                continue
            duration = took(stage.start_ts, stage.end_ts) if stage.status in TERMINAL_STATUSES else ""
            lines.append(f'Stage {index}/{total} "{stage.name}" {stage.status}{duration}')
        return lines


def stage_summary(snapshot: ExecutionSnapshot) -> str:
    """One line: every stage with its status (and duration once it ended).

    >>> stages = (StageSnapshot("b", "Build", "Success", start_ts=0, end_ts=2000),)
    >>> stage_summary(ExecutionSnapshot("e", "p", "Success", stages=stages))
    'Build: Success in 2s'
    """
    return (
        ", ".join(
            f"{s.name}: {s.status}{took(s.start_ts, s.end_ts) if s.status in TERMINAL_STATUSES else ''}"
            for s in snapshot.stages
        )
        or "no stages reported"
    )


class ErrorBudget:
    """Consecutive transient errors tolerated while polling: spent after ``max_errors`` polls in a row or
    ``max_seconds`` since the first of them (whichever comes first); any success resets it.

    >>> budget = ErrorBudget(max_errors=2, max_seconds=300)
    >>> budget.record_error(now=0.0), budget.record_error(now=1.0)
    (False, True)
    """

    def __init__(self, max_errors: int = 10, max_seconds: float = 300.0) -> None:
        self.max_errors = max_errors
        self.max_seconds = max_seconds
        self.count = 0
        self.first_error_at: float | None = None

    def record_error(self, now: float | None = None) -> bool:
        """Count one failed poll; return True when the budget is spent."""
        now = time.time() if now is None else now
        if self.first_error_at is None:
            self.first_error_at = now
        self.count += 1
        return self.count >= self.max_errors or now - self.first_error_at >= self.max_seconds

    def record_success(self) -> None:
        self.count = 0
        self.first_error_at = None


def is_transient(error: BaseException) -> bool:
    """Errors that say nothing about the execution: 5xx, 429, network. Polling goes on after them."""
    from airflow_provider_harness.client.errors import (
        HarnessRateLimitError,
        HarnessServerError,
        HarnessTransportError,
    )

    return isinstance(error, HarnessServerError | HarnessRateLimitError | HarnessTransportError)


# ---------------------------------------------------------------------------------------------------
# The one status-check function (sync twin + async) and its seam
# ---------------------------------------------------------------------------------------------------


def get_execution_status(client: HarnessClient, scope: Scope, execution_id: str) -> ExecutionSnapshot:
    """Sync twin of :func:`fetch_execution_status`: the same call, the same parser."""
    return client.send(status_call(scope, execution_id))


async def fetch_execution_status(
    client: AsyncHarnessClient, scope: Scope, execution_id: str
) -> ExecutionSnapshot:
    """THE status check used by every trigger: one GET per execution per poll."""
    return await client.send(status_call(scope, execution_id))


class StatusFetcher(Protocol):
    """How triggers read one execution's status with a call of its own (directly, or as the project
    poller's fallback); swap it with :func:`use_status_fetcher` without touching operators, sensors or
    triggers."""

    async def __call__(
        self, client: AsyncHarnessClient, scope: Scope, execution_id: str
    ) -> ExecutionSnapshot: ...


_STATUS_FETCHER: list[StatusFetcher] = [fetch_execution_status]


def status_fetcher() -> StatusFetcher:
    """The status fetcher triggers use now."""
    return _STATUS_FETCHER[0]


def use_status_fetcher(fetcher: StatusFetcher) -> StatusFetcher:
    """Install ``fetcher`` for every trigger of this process; returns the previous one."""
    previous = _STATUS_FETCHER[0]
    _STATUS_FETCHER[0] = fetcher
    return previous


# ---------------------------------------------------------------------------------------------------
# Orchestration on the worker (sync)
# ---------------------------------------------------------------------------------------------------


def find_marked_execution(
    client: HarnessClient,
    scope: Scope,
    pipeline_id: str,
    marker: str,
    *,
    statuses: Iterable[str] | None = None,
    started_after_ms: int | None = None,
    min_try: int | None = None,
    max_pages: int = 2,
    page_size: int = 50,
) -> ExecutionSnapshot | None:
    """The newest execution of ``pipeline_id`` whose notes carry ``marker`` (or None).

    Lists at most ``max_pages`` pages (newest first, optionally only ``statuses`` and only executions
    started after ``started_after_ms``), and reads the notes of candidates that have notes, newest first,
    until one matches. ``min_try`` skips executions whose marker carries a smaller Airflow try number
    (those of an earlier clear of the task). Bounded cost: ``max_pages`` list calls plus one notes call
    per candidate read. Errors propagate: a search that could not be completed must not read as "none".
    """
    call = list_executions_call(scope, pipeline_id, statuses=statuses)
    wanted = {normalize_status(s) for s in statuses} if statuses else None
    candidates: list[ExecutionSnapshot] = []
    for item in client.paginate(call, page_size=page_size, limit=max_pages * page_size):
        try:
            snap = parse_summary(item)
        except ValueError:
            continue
        if wanted is not None and snap.status not in wanted:
            continue
        if started_after_ms is not None and snap.start_ts is not None and snap.start_ts < started_after_ms:
            continue
        if snap.notes_exist is False:
            continue
        candidates.append(snap)
    candidates.sort(key=lambda s: (s.start_ts or 0, s.run_sequence or 0), reverse=True)
    for snap in candidates:
        found_try = marker_try(client.send(notes_call(snap.execution_id)), marker)
        if found_try is not None and (min_try is None or found_try >= min_try):
            return snap
    return None


# ---------------------------------------------------------------------------------------------------
# Aborting (shared by the operators' kill/timeout paths, the interrupt operator and the trigger)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AbortOutcome:
    """What became of an ``AbortAll``: accepted now, already aborting/aborted, already ended, or refused.

    A refused interrupt is judged by the execution's status read right after: an abort that Harness
    refuses because an earlier request (or a resend of this one after a lost answer) already landed is
    a success.

    >>> AbortOutcome("e1", accepted=False, status="Discontinuing").aborted
    True
    """

    execution_id: str
    accepted: bool
    status: str | None = None
    interrupt: InterruptResult | None = None
    error: str | None = None

    @property
    def aborted(self) -> bool:
        """The execution is stopping or stopped by an abort."""
        return self.accepted or self.status in ABORT_IN_PROGRESS_STATUSES

    def describe(self) -> str:
        """One phrase for the log: what happened to the execution."""
        if self.accepted:
            return f"Aborted Harness execution {self.execution_id}"
        if self.aborted:
            return (
                f"Harness execution {self.execution_id} is already {self.status} "
                "(an earlier abort request reached Harness)"
            )
        if self.status in TERMINAL_STATUSES:
            return f"Harness execution {self.execution_id} had already ended {self.status}; nothing to abort"
        return f"Could not abort Harness execution {self.execution_id}: {self.error}"


def _judge_refused_abort(execution_id: str, error: Exception, status: str | None) -> AbortOutcome:
    return AbortOutcome(execution_id, accepted=False, status=status, error=str(error))


def abort_execution(client: HarnessClient, scope: Scope, execution_id: str) -> AbortOutcome:
    """Send ``AbortAll``; on a refusal read the status to tell "already aborted/ended" from a failure."""
    from airflow_provider_harness.client.errors import HarnessError

    try:
        result = client.send(interrupt_call(scope, execution_id, "AbortAll"))
    except HarnessError as exc:
        try:
            status: str | None = get_execution_status(client, scope, execution_id).status
        except HarnessError:
            status = None
        return _judge_refused_abort(execution_id, exc, status)
    return AbortOutcome(execution_id, accepted=True, interrupt=result)


async def abort_execution_async(client: AsyncHarnessClient, scope: Scope, execution_id: str) -> AbortOutcome:
    """Async twin of :func:`abort_execution` (the same calls and the same judgement)."""
    from airflow_provider_harness.client.errors import HarnessError

    try:
        result = await client.send(interrupt_call(scope, execution_id, "AbortAll"))
    except HarnessError as exc:
        try:
            status: str | None = (await fetch_execution_status(client, scope, execution_id)).status
        except HarnessError:
            status = None
        return _judge_refused_abort(execution_id, exc, status)
    return AbortOutcome(execution_id, accepted=True, interrupt=result)


@dataclass(frozen=True)
class FailureSummary:
    """Why an execution failed: the failing stage and step, Harness's message and the step's log tail."""

    execution_id: str
    status: str
    stage: StageSnapshot | None = None
    step: StepSnapshot | None = None
    message: str | None = None
    log_tail: tuple[str, ...] = field(default=())

    def headline(self) -> str:
        """One line for the exception: status, stage, step and Harness's message."""
        where = []
        if self.stage:
            where.append(f'stage "{self.stage.name}"')
        if self.step:
            where.append(f'step "{self.step.name}"')
        text = f"Harness execution {self.execution_id} ended {self.status}"
        if where:
            text += " in " + ", ".join(where)
        if self.message:
            text += f": {self.message}"
        return " ".join(text.split())

    def lines(self) -> list[str]:
        """A few readable lines for the task log."""
        lines = [self.headline()]
        if self.step and self.step.step_type:
            lines.append(
                f"Failing step: {self.step.identifier} ({self.step.step_type}), status {self.step.status}"
            )
        if self.log_tail:
            lines.append(f"Last {len(self.log_tail)} log lines of that step:")
            lines.extend(f"    {line}" for line in self.log_tail)
        return lines


def summarize_failure(snapshot: ExecutionSnapshot) -> FailureSummary:
    """Find the failing stage and the failing (deepest) step in a snapshot read with the graph."""
    stage = next((s for s in snapshot.stages if s.status in BROKEN_STATUSES), None)
    failing = [s for s in snapshot.steps if s.status in BROKEN_STATUSES]
    if stage is not None:
        in_stage = [
            s for s in failing if s.stage_identifier == stage.identifier and s.identifier != stage.identifier
        ]
        failing = in_stage or failing
    fqns = [s.base_fqn for s in failing if s.base_fqn]
    leaves = [s for s in failing if not any(f.startswith(s.base_fqn + ".") for f in fqns if s.base_fqn)]
    leaves.sort(key=lambda s: (s.log_base_key is None, s.failure_message is None, s.start_ts or 0))
    step = leaves[0] if leaves else None
    if step is not None and stage is not None and step.identifier == stage.identifier:
        step = None
    message = (step and step.failure_message) or (stage and stage.failure_message) or snapshot.failure_message
    return FailureSummary(snapshot.execution_id, snapshot.status, stage, step, message)


def failure_summary(
    client: HarnessClient, scope: Scope, execution_id: str, *, log_lines: int = 30
) -> FailureSummary:
    """Read details with the graph, find the failing stage/step and add the step's log tail (best effort)."""
    from dataclasses import replace

    from airflow_provider_harness.client import logs

    snapshot = client.send(details_call(scope, execution_id, graph=True))
    summary = summarize_failure(snapshot)
    if log_lines > 0 and summary.step is not None and summary.step.log_base_key:
        units = [name for name, status in summary.step.units if status in BROKEN_STATUSES]
        tail = logs.tail_step_log(client, summary.step.log_base_key, lines=log_lines, units=units)
        summary = replace(summary, log_tail=tuple(tail))
    return summary


__all__ = [
    "NON_TERMINAL_STATUSES",
    "AbortOutcome",
    "ErrorBudget",
    "ExecutionSnapshot",
    "FailureSummary",
    "InterruptResult",
    "RetryInfo",
    "RetryNotPossible",
    "StageProgress",
    "StageSnapshot",
    "StartedExecution",
    "StatusFetcher",
    "StepSnapshot",
    "abort_execution",
    "abort_execution_async",
    "choose_retry_stages",
    "details_call",
    "execute_call",
    "execution_marker",
    "execution_url",
    "failure_summary",
    "fetch_execution_status",
    "find_marked_execution",
    "format_duration",
    "get_execution_status",
    "interrupt_call",
    "list_executions_call",
    "marker_try",
    "notes_call",
    "retry_call",
    "retry_stages_call",
    "start_call",
    "status_call",
    "status_fetcher",
    "use_status_fetcher",
]
