"""Execution endpoints: execute (YAML, input sets, selected stages), details, list, interrupt, retry,
retry stages/history, notes, and service deployment status.

The status poll ``GET /pipeline/api/pipelines/execution/v2/{id}`` is the hot path: its ``data`` JSON is
cached per execution version and only the correlation id is added per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from airflow_provider_harness.emulator.engine import manual_trigger_info
from airflow_provider_harness.emulator.envelopes import HarnessError, dumps, spring_page
from airflow_provider_harness.emulator.harness_rules import RETRYABLE_DISPLAY, parse_display_status
from airflow_provider_harness.emulator.httpcall import Call, RawData, Route, json_response
from airflow_provider_harness.emulator.model import Execution, engine_status, now_ms
from airflow_provider_harness.emulator.pipelines import pipeline_not_found_for_execute, require_query
from airflow_provider_harness.emulator.plan import (
    merge_runtime_inputs,
    overlay_inputs,
    parse_input_yaml,
    pipeline_stage_groups,
)
from airflow_provider_harness.emulator.resources import KINDS
from airflow_provider_harness.emulator.views import (
    execution_graph,
    execution_summary,
    is_retryable,
    plan_execution,
)

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator

THIRTY_DAYS_MS: Final = 30 * 24 * 3600 * 1000
LIST_SIZE_MESSAGE: Final = (
    "Please Verify Executions list parameters for page and size, page should be >= 0 and size should be > 0 "
    "and <=1000"
)
_SORTABLE: Final = {
    "startTs": "start_ts",
    "endTs": "end_ts",
    "createdAt": "created_at",
    "runSequence": "run_sequence",
}


def execution_not_found(execution_id: str) -> HarnessError:
    """404 ENTITY_NOT_FOUND for an unknown plan execution id."""
    return HarnessError.entity_not_found(
        f"Plan Execution Summary does not exist or has been deleted for planExecutionId: {execution_id}"
    )


def _fuzzy_enum(raw: str) -> str:
    """Dropwizard's fuzzy enum normalisation (whitespace removed, ``-``/``.`` -> ``_``, upper case)."""
    return "".join(raw.split()).replace("-", "_").replace(".", "_").upper()


class ExecutionApi:
    """Everything about plan executions."""

    def __init__(self, core: Emulator) -> None:
        self.core = core
        self._cache: dict[tuple[str, str, bool], tuple[int, bytes]] = {}
        self._summaries: dict[str, tuple[int, dict[str, Any]]] = {}

    def routes(self) -> list[Route]:
        """Execution routes."""
        e = "/pipeline/api/pipeline/execute"
        x = "/pipeline/api/pipelines/execution"
        return [
            Route("POST", f"{e}/{{identifier}}", self.execute),
            Route("POST", f"{e}/{{identifier}}/inputSetList", self.execute_input_sets),
            Route("POST", f"{e}/{{identifier}}/stages", self.execute_stages),
            Route("GET", f"{e}/{{identifier}}/retryStages", self.retry_stages),
            Route("PUT", f"{e}/interrupt/{{planExecutionId}}", self.interrupt),
            Route("POST", f"{e}/retry/{{identifier}}", self.retry),
            Route("GET", f"{e}/retryHistory/{{planExecutionId}}", self.retry_history),
            Route("GET", f"{e}/latestExecutionId/{{planExecutionId}}", self.latest_execution_id),
            Route("GET", f"{x}/v2/{{planExecutionId}}", self.details),
            Route("GET", f"{x}/{{planExecutionId}}", self.details),
            Route("GET", f"{x}/{{planExecutionId}}/notes", self.get_notes),
            Route("PUT", f"{x}/{{planExecutionId}}/notes", self.put_notes),
            Route("GET", f"{x}/canRetry/{{planExecutionId}}", self.can_retry),
            Route("POST", f"{x}/summary", self.list_executions),
            Route("GET", "/ng/api/servicesV2/{serviceIdentifier}/deployment-status", self.deployment_status),
        ]

    def clear_caches(self) -> None:
        """Drop cached bodies (reset)."""
        self._cache.clear()
        self._summaries.clear()

    # ---- lookup ----------------------------------------------------------------------------------
    def find(self, call: Call, execution_id: str) -> Execution:
        """The execution visible to this call (account, and org/project when given), else 404."""
        execution = self.core.store.executions.get(execution_id)
        if execution is None or execution.account != call.account:
            raise execution_not_found(execution_id)
        org = call.query("orgIdentifier")
        project = call.query("projectIdentifier")
        if (org and org != execution.org) or (project and project != execution.project):
            raise execution_not_found(execution_id)
        return execution

    def summary(self, execution: Execution) -> dict[str, Any]:
        """The cached ``PipelineExecutionSummaryDTO`` of an execution."""
        cached = self._summaries.get(execution.id)
        if cached is not None and cached[0] == execution.version:
            return cached[1]
        data = execution_summary(execution, retried=execution.retried_by is not None)
        self._summaries[execution.id] = (execution.version, data)
        return data

    # ---- launching -------------------------------------------------------------------------------
    def launch(
        self,
        *,
        account: str,
        org: str,
        project: str,
        pipeline_id: str,
        inputs: list[dict[str, Any] | None],
        input_yaml: str = "",
        notes: str = "",
        module: str | None = None,
        trigger_info: dict[str, Any] | None = None,
        trigger_payload: Any = None,
        selected_stages: list[str] | None = None,
        retry_of: Execution | None = None,
        rerun_stages: set[str] | None = None,
        retry_stages: list[str] | None = None,
    ) -> Execution:
        """Merge runtime inputs into the pipeline and start it (Harness's errors when inputs are missing)."""
        pipelines = self.core.pipelines
        record = pipelines.find(account, org, project, pipeline_id)
        if record is None:
            raise pipeline_not_found_for_execute(pipeline_id)
        pipeline = pipelines.parsed((account, org, project), record)
        merged_inputs: dict[str, Any] | None = None
        for layer in inputs:
            merged_inputs = overlay_inputs(merged_inputs, layer) if layer is not None else merged_inputs
        merged, missing = merge_runtime_inputs(pipeline, merged_inputs)
        if selected_stages:
            known = {s["identifier"] for g in pipeline_stage_groups(pipeline) for s in g}
            unknown = [s for s in selected_stages if s not in known]
            if unknown:
                raise HarnessError.invalid_request(
                    f"Stage identifiers {unknown} are not present in the pipeline"
                )
            missing = [
                m
                for m in missing
                if not m.startswith("pipeline.stages.") or m.split(".")[2] in selected_stages
            ]
        if missing:
            raise HarnessError.invalid_request(
                f"Value not provided for required variable(s): {', '.join(missing)}"
            )
        return self.core.engine.start_execution(
            account=account,
            org=org,
            project=project,
            pipeline=merged,
            input_yaml=input_yaml,
            notes=notes,
            module=module,
            trigger_info=trigger_info,
            trigger_payload=trigger_payload,
            selected_stages=selected_stages,
            retry_of=retry_of,
            rerun_stages=rerun_stages,
            retry_stages=retry_stages,
        )

    def _input_set_layers(
        self, call: Call, scope: tuple[str, str, str], pipeline_id: str, refs: list[str]
    ) -> list[Any]:
        layers: list[Any] = []
        pipelines = self.core.pipelines
        if refs and pipelines.find(*scope, pipeline_id) is None:
            raise pipeline_not_found_for_execute(pipeline_id)
        for ref in refs:
            record = pipelines.input_set(scope, pipeline_id, ref)
            layers.append(parse_input_yaml(record["yaml"]))
        return layers

    # ---- execute ---------------------------------------------------------------------------------
    def _execute_common(self, call: Call) -> tuple[tuple[str, str, str], str, str, str | None]:
        org, project = require_query(call, "orgIdentifier", "projectIdentifier")
        return (
            (call.account, org, project),
            call.params["identifier"],
            call.query("notesForPipelineExecution") or "",
            call.query("moduleType"),
        )

    async def execute(self, call: Call) -> Any:
        scope, pipeline_id, notes, module = self._execute_common(call)
        body = await call.text()
        layers = self._input_set_layers(call, scope, pipeline_id, call.query_list("inputSetIdentifiers"))
        layers.append(parse_input_yaml(body))
        execution = self.launch(
            account=scope[0],
            org=scope[1],
            project=scope[2],
            pipeline_id=pipeline_id,
            inputs=layers,
            input_yaml=body,
            notes=notes,
            module=module,
        )
        return plan_execution(execution)

    async def execute_input_sets(self, call: Call) -> Any:
        scope, pipeline_id, notes, module = self._execute_common(call)
        body = await call.json()
        if not isinstance(body, dict):
            raise HarnessError.validation([("body", "must be a MergeInputSetRequest object")])
        refs = [str(r) for r in body.get("inputSetReferences") or []]
        layers = self._input_set_layers(call, scope, pipeline_id, refs)
        last = body.get("lastYamlToMerge")
        layers.append(parse_input_yaml(last) if isinstance(last, str) else None)
        stages = [str(s) for s in body.get("stageIdentifiers") or []] or None
        execution = self.launch(
            account=scope[0],
            org=scope[1],
            project=scope[2],
            pipeline_id=pipeline_id,
            inputs=layers,
            input_yaml=last or "",
            notes=notes,
            module=module,
            selected_stages=stages,
        )
        return plan_execution(execution)

    async def execute_stages(self, call: Call) -> Any:
        scope, pipeline_id, notes, module = self._execute_common(call)
        body = await call.json()
        if not isinstance(body, dict):
            raise HarnessError.validation([("body", "must be a RunStageRequestDTO object")])
        stages = [str(s) for s in body.get("stageIdentifiers") or []]
        if not stages:
            raise HarnessError.validation([("stageIdentifiers", "must not be empty")])
        record = self.core.pipelines.find(*scope, pipeline_id)
        if record is None:
            raise pipeline_not_found_for_execute(pipeline_id)
        pipeline = self.core.pipelines.parsed(scope, record)
        if not pipeline.get("allowStageExecutions", False):
            raise HarnessError.invalid_request(
                f"Stage executions are not allowed for pipeline [{pipeline_id}]"
            )
        runtime_yaml = body.get("runtimeInputYaml")
        layers = self._input_set_layers(call, scope, pipeline_id, call.query_list("inputSetIdentifiers"))
        layers.append(parse_input_yaml(runtime_yaml) if isinstance(runtime_yaml, str) else None)
        execution = self.launch(
            account=scope[0],
            org=scope[1],
            project=scope[2],
            pipeline_id=pipeline_id,
            inputs=layers,
            input_yaml=runtime_yaml or "",
            notes=notes,
            module=module,
            selected_stages=stages,
        )
        return plan_execution(execution)

    # ---- details and list ------------------------------------------------------------------------
    async def details(self, call: Call) -> Any:
        execution_id = call.params["planExecutionId"]
        execution = self.find(call, execution_id)
        stage_node = call.query("stageNodeId") or ""
        full = (call.query("renderFullBottomGraph") or "").lower() == "true"
        key = (execution_id, stage_node, full)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == execution.version:
            return RawData(cached[1])
        data: dict[str, Any] = {"pipelineExecutionSummary": self.summary(execution)}
        if stage_node or full:
            data["executionGraph"] = execution_graph(execution, stage_node or None)
        body = dumps(data)
        self._cache[key] = (execution.version, body)
        return RawData(body)

    async def list_executions(self, call: Call) -> Any:
        org, project = require_query(call, "orgIdentifier", "projectIdentifier")
        page, size = call.query_int("page", 0), call.query_int("size", 10)
        if page < 0 or size <= 0 or size > 1000:
            raise HarnessError.invalid_request(LIST_SIZE_MESSAGE)
        body = await call.json(required=False) or {}
        if not isinstance(body, dict):
            raise HarnessError.validation([("body", "must be a filter object")])
        has_filter_body = any(k != "filterType" for k in body)
        if call.query("filterIdentifier") and has_filter_body:
            raise HarnessError.invalid_request(
                "Can not apply both filter properties and saved filter together"
            )
        statuses = {self._status(s) for s in call.query_list("status") + list(body.get("status") or [])}
        pipeline_id = call.query("pipelineIdentifier")
        search = (call.query("searchTerm") or "").lower()
        pipeline_name = str(body.get("pipelineName") or "").lower()
        time_range = body.get("timeRange") or {}
        trigger_types = set(body.get("triggerTypes") or [])
        tag_filters = body.get("pipelineTags") or []
        items: list[tuple[int, Execution]] = []
        for order, execution in enumerate(self.core.store.executions.values()):
            if execution.account != call.account or execution.org != org or execution.project != project:
                continue
            if pipeline_id and execution.pipeline_id != pipeline_id:
                continue
            if statuses and execution.status not in statuses:
                continue
            if (
                search
                and not any(
                    search in text.lower()
                    for text in (execution.pipeline_id, execution.pipeline_name, execution.id)
                )
                and not any(search in f"{t['key']}:{t['value']}".lower() for t in execution.tags)
            ):
                continue
            if pipeline_name and pipeline_name not in execution.pipeline_name.lower():
                continue
            if time_range.get("startTime") and execution.start_ts < int(time_range["startTime"]):
                continue
            if time_range.get("endTime") and execution.start_ts > int(time_range["endTime"]):
                continue
            if trigger_types and execution.trigger_info.get("triggerType") not in trigger_types:
                continue
            if tag_filters and not all(
                any(
                    t["key"] == f.get("key")
                    and (f.get("value") in (None, "") or t["value"] == f.get("value"))
                    for t in execution.tags
                )
                for f in tag_filters
            ):
                continue
            items.append((order, execution))
        field, descending = "start_ts", True
        sort = call.query_list("sort")
        if sort:
            field = _SORTABLE.get(sort[0], field)
            descending = len(sort) < 2 or sort[1].upper() != "ASC"
        items.sort(key=lambda item: (getattr(item[1], field) or 0, item[0]), reverse=descending)
        executions = [execution for _, execution in items]
        window = executions[page * size : (page + 1) * size]
        result = spring_page(executions, page=page, size=size)
        result["content"] = [self.summary(e) for e in window]
        return result

    @staticmethod
    def _status(raw: str) -> str:
        name = parse_display_status(str(raw))
        if name is None:
            raise HarnessError.invalid_request(f"Invalid execution status: {raw}")
        return name

    # ---- notes -----------------------------------------------------------------------------------
    async def get_notes(self, call: Call) -> Any:
        execution = self.find(call, call.params["planExecutionId"])
        return {"notes": execution.notes}

    async def put_notes(self, call: Call) -> Any:
        execution = self.find(call, call.params["planExecutionId"])
        execution.notes = call.query("notesForPipelineExecution") or ""
        self.core.engine.touch(execution)
        return {"notes": execution.notes}

    # ---- interrupts ------------------------------------------------------------------------------
    async def interrupt(self, call: Call) -> Any:
        raw = call.query("interruptType")
        if raw is None or raw == "":
            raise HarnessError.validation([("interruptType", "must not be null")])
        accepted = {"ABORTALL": "AbortAll"}
        if self.core.settings.legacy_interrupts:
            accepted.update({"PAUSE": "Pause", "RESUME": "Resume"})
        interrupt_type = accepted.get(_fuzzy_enum(raw))
        if interrupt_type is None:
            interrupt_type = next((v for v in accepted.values() if v.lower() == raw.strip().lower()), None)
        if interrupt_type is None:  # Dropwizard rejects the enum before Harness code runs (§8.1)
            return json_response(
                {"code": 400, "message": f"interruptType must be one of [{', '.join(accepted)}]"}, 400
            )
        require_query(call, "orgIdentifier", "projectIdentifier")
        execution = self.find(call, call.params["planExecutionId"])
        return self.core.engine.interrupt(execution, interrupt_type)

    # ---- retry -----------------------------------------------------------------------------------
    async def retry(self, call: Call) -> Any:
        org, project = require_query(call, "orgIdentifier", "projectIdentifier")
        (parent_id,) = require_query(call, "planExecutionId")
        scope = (call.account, org, project)
        pipeline_id = call.params["identifier"]
        retry_stages = call.query_list("retryStages")
        run_all = call.query_bool("runAllStages", True)
        if not retry_stages:
            raise HarnessError.invalid_request("You need to select the stage to retry!!")
        parent = self.core.store.executions.get(parent_id)
        if parent is None or parent.scope != scope or parent.pipeline_id != pipeline_id:
            raise HarnessError.invalid_request(f"No Plan Execution exists for id {parent_id}")
        problem = self._retry_problem(parent)
        if problem:
            raise HarnessError.invalid_request(problem)
        record = self.core.pipelines.find(*scope, pipeline_id)
        assert record is not None  # _retry_problem checked it
        groups = pipeline_stage_groups(self.core.pipelines.parsed(scope, record))
        group_index = next(
            (i for i, g in enumerate(groups) if any(s["identifier"] in retry_stages for s in g)), None
        )
        known = {s["identifier"] for g in groups for s in g}
        if group_index is None or any(s not in known for s in retry_stages):
            raise HarnessError.invalid_request(
                "The execution can not be retried because the retryStagesIdentifier could not be found "
                "in any stage Groups"
            )
        group = groups[group_index]
        if run_all:
            rerun = {s["identifier"] for s in group}
        else:
            if len(group) < 2:
                raise HarnessError.invalid_request(
                    "Run only failed stages is applicable only for failed parallel group stages"
                )
            rerun = set(retry_stages)
        rerun |= {s["identifier"] for g in groups[group_index + 1 :] for s in g}
        body = await call.text()
        input_yaml = body if body.strip() else parent.input_yaml
        execution = self.launch(
            account=call.account,
            org=org,
            project=project,
            pipeline_id=pipeline_id,
            inputs=[parse_input_yaml(input_yaml)],
            input_yaml=input_yaml,
            notes=call.query("notesForPipelineExecution") or "",
            module=call.query("moduleType") or parent.module,
            trigger_info=manual_trigger_info(),
            selected_stages=parent.stages_executed,
            retry_of=parent,
            rerun_stages=rerun,
            retry_stages=retry_stages,
        )
        return plan_execution(execution)

    def _retry_problem(self, execution: Execution) -> str | None:
        """Why Harness would refuse to retry this execution (``RetryInfo.errorMessage``), or ``None``."""
        if execution.retried_by is not None:
            return (
                "This execution is not the latest of all retried execution. "
                "You can only retry the latest execution."
            )
        if self.core.pipelines.find(*execution.scope, execution.pipeline_id) is None:
            return f"Pipeline with the given ID: {execution.pipeline_id} does not exist or has been deleted"
        if now_ms() - execution.created_at > THIRTY_DAYS_MS:
            return "Execution is more than 30 days old. Cannot retry"
        if execution.status not in RETRYABLE_DISPLAY:
            return (
                f"Execution with status [{engine_status(execution.status)}] can not be retried; only Failed, "
                "Aborted, Expired or ApprovalRejected executions can be retried"
            )
        record = self.core.pipelines.find(*execution.scope, execution.pipeline_id)
        assert record is not None
        current = {
            s["identifier"]
            for g in pipeline_stage_groups(self.core.pipelines.parsed(execution.scope, record))
            for s in g
        }
        previous = {s.identifier for s in execution.all_stages()}
        if not previous <= current or (execution.stages_executed is None and previous != current):
            return "Adding, deleting or changing the name of the stage identifier is not allowed for retrying"
        return None

    async def retry_stages(self, call: Call) -> Any:
        execution = self.find(call, call.params["identifier"])
        problem = self._retry_problem(execution)
        groups = []
        for index, group in enumerate(execution.stages):
            next_id = execution.stages[index + 1][0].setup_id if index + 1 < len(execution.stages) else None
            parent_id = execution.stages[index - 1][0].setup_id if index > 0 else None
            groups.append(
                {
                    "info": [
                        {
                            "name": stage.name,
                            "identifier": stage.identifier,
                            "status": stage.status,
                            "createdAt": stage.start_ts or execution.created_at,
                            "parentId": parent_id,
                            "nextId": next_id,
                        }
                        for stage in group
                    ]
                }
            )
        return {"resumable": problem is None, "errorMessage": problem, "groups": groups}

    def _chain(self, execution: Execution) -> list[Execution]:
        root = execution.retry_root or execution.id
        executions = self.core.store.executions
        chain = [e for e in executions.values() if e.id == root or e.retry_root == root]
        return sorted(chain, key=lambda e: e.created_at, reverse=True)

    async def retry_history(self, call: Call) -> Any:
        execution = self.find(call, call.params["planExecutionId"])
        chain = self._chain(execution)
        if len(chain) < 2:
            return {"errorMessage": "Nothing to show in retry history"}
        latest = chain[0]
        return {
            "errorMessage": None,
            "latestExecutionId": latest.id,
            "executionInfos": [
                {
                    "uuid": e.id,
                    "startTs": e.start_ts,
                    "endTs": e.end_ts,
                    "status": e.status,
                    "runSequence": e.run_sequence,
                }
                for e in chain
            ],
            "retryStagesMetadata": {
                "retryStagesIdentifier": latest.retry_stages,
                "skipStagesIdentifier": latest.skip_stages,
            },
        }

    async def latest_execution_id(self, call: Call) -> Any:
        execution = self.find(call, call.params["planExecutionId"])
        chain = self._chain(execution)
        if len(chain) < 2:
            return {"latestExecutionId": None, "errorMessage": "This is not a part of retry execution"}
        return {"latestExecutionId": chain[0].id, "errorMessage": None}

    async def can_retry(self, call: Call) -> Any:
        return is_retryable(self.find(call, call.params["planExecutionId"]))

    # ---- service deployment status ---------------------------------------------------------------
    async def deployment_status(self, call: Call) -> Any:
        """Where a service is deployed, from the Deployment stages of executions (best reading)."""
        kind = KINDS["service"]
        resources = self.core.resources
        scope = resources.query_scope(kind, call)
        service_id = call.params["serviceIdentifier"]
        record = resources.lookup(kind, scope, service_id)
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for execution in self.core.store.executions.values():
            if (execution.account, execution.org, execution.project) != (scope[0], scope[1], scope[2]):
                continue
            for stage in execution.all_stages():
                spec = stage.spec.get("spec") or {}
                service_ref = (spec.get("service") or {}).get("serviceRef") or (
                    spec.get("serviceConfig") or {}
                ).get("serviceRef")
                if stage.type != "Deployment" or service_ref != service_id or stage.start_ts is None:
                    continue
                environment = spec.get("environment") or {}
                env_id = str(environment.get("environmentRef") or "")
                infras = environment.get("infrastructureDefinitions") or [{}]
                infra_id = str((infras[0] or {}).get("identifier") or "")
                entry = {
                    "environmentIdentifier": env_id,
                    "environmentName": self._env_name(scope, env_id),
                    "infrastructureIdentifier": infra_id or None,
                    "status": stage.status,
                    "planExecutionId": execution.id,
                    "pipelineIdentifier": execution.pipeline_id,
                    "runSequence": execution.run_sequence,
                    "stageIdentifier": stage.identifier,
                    "startTs": stage.start_ts,
                    "endTs": stage.end_ts,
                }
                key = (env_id, infra_id)
                if key not in latest or latest[key]["startTs"] <= stage.start_ts:
                    latest[key] = entry
        deployments = sorted(latest.values(), key=lambda d: d["startTs"], reverse=True)
        last = deployments[0] if deployments else None
        return {
            "serviceIdentifier": service_id,
            "serviceName": record["entity"]["name"],
            "status": last["status"] if last else None,
            "lastDeployment": last,
            "deployments": deployments,
        }

    def _env_name(self, scope: tuple[str, ...], env_id: str) -> str:
        record = self.core.store.get("environment", scope, env_id)
        return str(record["entity"]["name"]) if record else env_id
