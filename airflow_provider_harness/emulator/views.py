"""JSON views of executions: execute response, summary with ``layoutNodeMap``, execution graph.

Shapes follow ``harness-api.md`` §5.1 and §6.1 (``PipelineExecutionSummaryDTO`` and
``PipelineExecutionDetailDTO`` are NON_NULL, so ``None`` fields are left out).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_harness.emulator.harness_rules import RETRYABLE_DISPLAY
from airflow_provider_harness.emulator.model import Execution, Node, engine_status
from airflow_provider_harness.emulator.plan import STAGE_STEP_TYPE, stage_module

PLAN_VALIDITY_MS = 180 * 24 * 3600 * 1000
_EMPTY_FAILURE: dict[str, Any] = {"message": "", "failureTypeList": [], "responseMessages": []}


def _strip_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def plan_execution(execution: Execution) -> dict[str, Any]:
    """``PlanExecutionResponseDto`` of execute/retry calls (engine status vocabulary)."""
    metadata: dict[str, Any] = {
        "runSequence": execution.run_sequence,
        "triggerInfo": execution.trigger_info,
        "pipelineIdentifier": execution.pipeline_id,
        "executionUuid": execution.id,
        "moduleType": execution.module,
    }
    if execution.retry_of:
        metadata["retryInfo"] = {
            "isRetry": True,
            "rootExecutionId": execution.retry_root,
            "parentRetryId": execution.retry_of,
        }
    return {
        "planExecution": {
            "uuid": execution.id,
            "createdAt": execution.created_at,
            "planId": f"plan{execution.id[4:]}",
            "setupAbstractions": {
                "accountId": execution.account,
                "orgIdentifier": execution.org,
                "projectIdentifier": execution.project,
            },
            "validUntil": execution.created_at + PLAN_VALIDITY_MS,
            "status": engine_status(execution.status),
            "startTs": execution.start_ts,
            "endTs": execution.end_ts,
            "metadata": metadata,
            "lastUpdatedAt": execution.created_at,
            "version": 0,
            "nodeType": "PLAN",
        }
    }


def _failure_info(node_failure: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    failure = node_failure or _EMPTY_FAILURE
    return {"message": failure.get("message", "")}, {
        "message": failure.get("message", ""),
        "failureTypeList": list(failure.get("failureTypeList", [])),
        "responseMessages": list(failure.get("responseMessages", [])),
    }


def _layout_node(stage: Node, next_ids: list[str]) -> dict[str, Any]:
    failure_info, failure_dto = _failure_info(stage.failure)
    module = stage_module(stage.type)
    node: dict[str, Any] = {
        "nodeType": stage.type,
        "nodeGroup": "STAGE",
        "nodeIdentifier": stage.identifier,
        "name": stage.name,
        "nodeUuid": stage.setup_id,
        "status": stage.status,
        "module": module,
        "moduleInfo": {module: {}},
        "startTs": stage.start_ts,
        "endTs": stage.end_ts,
        "edgeLayoutList": {"currentNodeChildren": [], "nextIds": next_ids},
        "failureInfo": failure_info,
        "failureInfoDTO": failure_dto,
        "nodeExecutionId": stage.uuid if stage.start_ts is not None else None,
        "executionInputConfigured": False,
        "hidden": False,
    }
    if stage.skip_reason:
        node["skipInfo"] = {"skipCondition": stage.skip_reason, "evaluatedCondition": False}
    return _strip_none(node)


def layout_node_map(execution: Execution) -> tuple[dict[str, Any], str | None]:
    """``layoutNodeMap`` and ``startingNodeId``; parallel stage groups get a ``parallel`` node."""
    nodes: dict[str, Any] = {}
    heads: list[str] = []
    for group in execution.stages:
        heads.append(group[0].setup_id if len(group) == 1 else f"parallel{group[0].setup_id}")
    for index, group in enumerate(execution.stages):
        next_ids = [heads[index + 1]] if index + 1 < len(heads) else []
        if len(group) == 1:
            nodes[group[0].setup_id] = _layout_node(group[0], next_ids)
            continue
        for stage in group:
            nodes[stage.setup_id] = _layout_node(stage, [])
        statuses = [stage.status for stage in group]
        nodes[heads[index]] = {
            "nodeType": "parallel",
            "nodeGroup": "STAGE",
            "nodeIdentifier": heads[index],
            "name": "parallel",
            "nodeUuid": heads[index],
            "status": _group_status(statuses),
            "edgeLayoutList": {"currentNodeChildren": [s.setup_id for s in group], "nextIds": next_ids},
            "hidden": False,
        }
    return nodes, heads[0] if heads else None


def _group_status(statuses: list[str]) -> str:
    for candidate in (
        "Running",
        "ApprovalWaiting",
        "Paused",
        "Discontinuing",
        "Failed",
        "Aborted",
        "Expired",
        "ApprovalRejected",
        "Errored",
    ):
        if candidate in statuses:
            return candidate
    if all(s == "NotStarted" for s in statuses):
        return "NotStarted"
    return "Success" if all(s in ("Success", "Skipped", "IgnoreFailed") for s in statuses) else statuses[0]


def execution_summary(execution: Execution, *, retried: bool) -> dict[str, Any]:
    """``PipelineExecutionSummaryDTO`` (display status vocabulary)."""
    layout, starting = layout_node_map(execution)
    stages = list(execution.all_stages())
    modules = sorted({stage_module(s.type) for s in stages}) or ["pms"]
    summary: dict[str, Any] = {
        "pipelineIdentifier": execution.pipeline_id,
        "orgIdentifier": execution.org,
        "projectIdentifier": execution.project,
        "planExecutionId": execution.id,
        "name": execution.pipeline_name,
        "yamlVersion": "0",
        "status": execution.status,
        "tags": execution.tags,
        "executionTriggerInfo": execution.trigger_info,
        "moduleInfo": {module: {} for module in modules},
        "layoutNodeMap": layout,
        "modules": modules,
        "startingNodeId": starting,
        "startTs": execution.start_ts,
        "endTs": execution.end_ts,
        "createdAt": execution.created_at,
        "canRetry": True,
        "showRetryHistory": bool(execution.retry_of or retried),
        "runSequence": execution.run_sequence,
        "successfulStagesCount": sum(1 for s in stages if s.status in ("Success", "IgnoreFailed")),
        "runningStagesCount": sum(1 for s in stages if s.start_ts is not None and not s.terminal),
        "failedStagesCount": sum(
            1 for s in stages if s.status in ("Failed", "Errored", "Expired", "ApprovalRejected")
        ),
        "totalStagesCount": len(stages),
        "storeType": "INLINE",
        "executionInputConfigured": False,
        "stagesExecution": execution.stages_executed is not None,
        "stagesExecuted": execution.stages_executed,
        "stagesExecutedNames": {s.identifier: s.name for s in stages} if execution.stages_executed else None,
        "allowStageExecutions": execution.allow_stage_executions,
        "executionMode": "NORMAL",
        "notesExistForPlanExecutionId": bool(execution.notes),
        "shouldUseSimplifiedKey": False,
    }
    if execution.failure:
        summary["failureInfo"] = {
            "message": execution.failure.get("message", ""),
            "failureTypeList": execution.failure.get("failureTypeList", []),
            "responseMessages": execution.failure.get("responseMessages", []),
        }
        summary["executionErrorInfo"] = {"message": execution.failure.get("message", "")}
    if execution.aborted_by and execution.status in ("Aborted", "Discontinuing"):
        summary["abortedBy"] = execution.aborted_by
    if execution.retry_of:
        summary["retryExecutionMetadata"] = {
            "rootExecutionId": execution.retry_root,
            "parentExecutionId": execution.retry_of,
        }
    return _strip_none(summary)


def is_retryable(execution: Execution) -> bool:
    """Whether Harness would accept a retry of this execution."""
    return execution.status in RETRYABLE_DISPLAY and execution.retried_by is None


# ---- execution graph -------------------------------------------------------------------------------
def _graph_node(
    node: Node, step_type: str, identifier: str | None = None, name: str | None = None
) -> dict[str, Any]:
    _, failure_dto = _failure_info(node.failure)
    data: dict[str, Any] = {
        "uuid": node.uuid,
        "setupId": node.setup_id,
        "name": name or node.name,
        "identifier": identifier or node.identifier,
        "baseFqn": node.fqn,
        "outcomes": {},
        "stepParameters": {"identifier": node.identifier, "name": node.name, "type": node.type},
        "startTs": node.start_ts,
        "endTs": node.end_ts,
        "stepType": step_type,
        "status": node.status,
        "failureInfo": failure_dto,
        "executableResponses": [],
        "unitProgresses": [],
        "delegateInfoList": [],
        "interruptHistories": [],
        "stepDetails": {},
        "executionInputConfigured": False,
        "logBaseKey": node.log_key,
    }
    if node.skip_reason:
        data["skipInfo"] = {"skipCondition": node.skip_reason, "evaluatedCondition": False}
    return _strip_none(data)


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: dict[str, Any] = {}
        self.adjacency: dict[str, Any] = {}

    def add(self, uuid: str, node: dict[str, Any], children: list[str], next_ids: list[str]) -> None:
        self.nodes[uuid] = node
        self.adjacency[uuid] = {"children": children, "nextIds": next_ids}

    def chain(self, groups: list[list[Node]], add_node: Any) -> list[str]:
        """Add sequential groups (parallel groups get a fork node); return the head ids."""
        heads: list[str] = []
        started = [[n for n in group if n.start_ts is not None] for group in groups]
        started = [g for g in started if g]
        for group in started:
            heads.append(group[0].uuid if len(group) == 1 else f"fork{group[0].uuid}")
        for index, group in enumerate(started):
            next_ids = [heads[index + 1]] if index + 1 < len(heads) else []
            if len(group) == 1:
                add_node(group[0], next_ids)
                continue
            for member in group:
                add_node(member, [])
            fork = group[0]
            self.add(
                heads[index],
                {
                    "uuid": heads[index],
                    "setupId": heads[index],
                    "name": "parallel",
                    "identifier": heads[index],
                    "baseFqn": fork.fqn.rsplit(".", 1)[0],
                    "startTs": min(n.start_ts or 0 for n in group),
                    "endTs": max(n.end_ts or 0 for n in group) if all(n.end_ts for n in group) else None,
                    "stepType": "NG_FORK",
                    "status": _group_status([n.status for n in group]),
                    "executionInputConfigured": False,
                    "logBaseKey": "",
                },
                [n.uuid for n in group],
                next_ids,
            )
        return heads

    def add_step(self, node: Node, next_ids: list[str]) -> None:
        if node.kind == "stepGroup":
            heads = self.chain(node.items, self.add_step)
            self.add(node.uuid, _graph_node(node, "STEP_GROUP"), heads[:1], next_ids)
        else:
            self.add(node.uuid, _graph_node(node, node.type), [], next_ids)

    def add_stage(self, stage: Node, next_ids: list[str]) -> None:
        section_id = f"exec{stage.uuid}"
        heads = self.chain(stage.items, self.add_step)
        self.add(
            stage.uuid,
            _graph_node(stage, STAGE_STEP_TYPE.get(stage.type, "CUSTOM_STAGE")),
            [section_id],
            next_ids,
        )
        section = _graph_node(
            stage, "NG_SECTION_WITH_ROLLBACK_INFO", identifier="execution", name="Execution"
        )
        section.update(
            uuid=section_id,
            setupId=f"exec{stage.setup_id}",
            baseFqn=f"{stage.fqn}.spec.execution",
            logBaseKey=f"{stage.log_key}/level3:spec/level4:execution",
        )
        self.add(section_id, section, heads[:1], [])


def execution_graph(execution: Execution, stage_node_id: str | None) -> dict[str, Any]:
    """``ExecutionGraph`` of one stage (``stageNodeId``: setup id or node execution id) or of everything."""
    builder = _GraphBuilder()
    if stage_node_id:
        stage = next(
            (s for s in execution.all_stages() if stage_node_id in (s.setup_id, s.uuid, s.identifier)), None
        )
        root = None
        if stage is not None and stage.start_ts is not None:
            builder.add_stage(stage, [])
            root = stage.uuid
    else:
        root = f"pipeline{execution.id}"
        stages_id = f"stages{execution.id}"
        heads = builder.chain(execution.stages, builder.add_stage)
        prefix = next(iter(execution.logs), "")
        pipeline_node = {
            "uuid": root,
            "setupId": root,
            "name": execution.pipeline_name,
            "identifier": "pipeline",
            "baseFqn": "pipeline",
            "startTs": execution.start_ts,
            "endTs": execution.end_ts,
            "stepType": "PIPELINE_SECTION",
            "status": execution.status,
            "executionInputConfigured": False,
            "logBaseKey": prefix,
        }
        builder.add(root, _strip_none(pipeline_node), [stages_id], [])
        stages_node = dict(
            pipeline_node, uuid=stages_id, setupId=stages_id, name="stages", identifier="stages"
        )
        stages_node.update(
            baseFqn="pipeline.stages", stepType="STAGES_STEP", logBaseKey=f"{prefix}/level1:stages"
        )
        builder.add(stages_id, _strip_none(stages_node), heads[:1], [])
    return {
        "rootNodeId": root,
        "nodeMap": builder.nodes,
        "nodeAdjacencyListMap": builder.adjacency,
        "executionMetadata": {},
        "representationStrategy": "camelCase",
    }
