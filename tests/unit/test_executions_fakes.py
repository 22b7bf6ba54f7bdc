"""A scripted fake Harness (httpx.MockTransport) and fake Airflow context pieces for the executions tests.

Imported by ``test_executions_operators.py`` and ``test_executions_trigger.py``; the tests at the bottom
check the fake itself so its behaviour (which mirrors harness-api.md) is pinned.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.statuses import ENGINE_TO_DISPLAY, TERMINAL_STATUSES
from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient

API_KEY = "pat.acc.tokenid.TOPSECRETKEYVALUE42"
DISPLAY_TO_ENGINE = {display: engine for engine, display in reversed(list(ENGINE_TO_DISPLAY.items()))}
RETRYABLE = {"Failed", "Aborted", "Expired", "ApprovalRejected"}


def make_config(**overrides: Any) -> HarnessConfig:
    values: dict[str, Any] = {
        "account_id": "acc",
        "api_key": Secret(API_KEY),
        "base_url": "https://harness.test",
        "org_id": "default",
        "project_id": "proj",
        "max_retries": 0,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.02,
    }
    values.update(overrides)
    return HarnessConfig(**values)


def ok(data: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "SUCCESS", "data": data, "metaData": None, "correlationId": "c"}
    )


def harness_error(status: int, code: str, message: str) -> httpx.Response:
    kind = "ERROR" if status >= 500 or code == "INVALID_TOKEN" else "FAILURE"
    return httpx.Response(
        status, json={"status": kind, "code": code, "message": message, "correlationId": "c"}
    )


@dataclass
class FakeExecution:
    id: str
    pipeline: str
    script: list[str]
    notes: str = ""
    index: int = 0
    start_ts: int = 0
    retry_of: str | None = None
    retried: bool = False
    run_sequence: int = 1

    @property
    def status(self) -> str:
        return self.script[min(self.index, len(self.script) - 1)]

    def stages(self) -> list[tuple[str, str]]:
        """(identifier, status) of two stages build -> deploy, derived from the execution status."""
        status = self.status
        if status in ("Running", "Queued", "NotStarted"):
            return [("build", "Running"), ("deploy", "NotStarted")]
        if status in ("ApprovalWaiting", "Paused", "InterventionWaiting", "Discontinuing"):
            return [("build", "Success"), ("deploy", status)]
        if status in ("Success", "IgnoreFailed"):
            return [("build", "Success"), ("deploy", status)]
        return [("build", "Success"), ("deploy", status)]


@dataclass
class ScriptedHarness:
    """Executions whose status advances one step per details GET along a script."""

    scripts: list[list[str]] = field(default_factory=lambda: [["Running", "Success"]])
    executions: dict[str, FakeExecution] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    faults: dict[str, list[httpx.Response]] = field(default_factory=dict)
    retry_refusal: str | None = None
    log_lines: int = 40
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _clock: Any = field(default_factory=lambda: itertools.count(int(time.time() * 1000), 100_000))

    # ---- helpers used by tests -------------------------------------------------------------------

    def add(self, status_script: list[str], *, pipeline: str = "pipe", notes: str = "") -> FakeExecution:
        execution = FakeExecution(
            f"exec{next(self._ids)}", pipeline, list(status_script), notes, start_ts=next(self._clock)
        )
        execution.run_sequence = len(self.executions) + 1
        self.executions[execution.id] = execution
        return execution

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path.startswith(prefix))

    def starts(self) -> int:
        """Executions started (execute + retry calls that reached the fake)."""
        return self.count("POST", "/pipeline/api/pipeline/execute/")

    def inject(self, key: str, *responses: httpx.Response) -> None:
        """Answer the next requests whose ``METHOD path-prefix`` matches ``key`` with ``responses``."""
        self.faults.setdefault(key, []).extend(responses)

    def client(self, **config: Any) -> HarnessClient:
        return HarnessClient(make_config(**config), transport=httpx.MockTransport(self.handler))

    def async_client(self) -> AsyncHarnessClient:
        return AsyncHarnessClient(make_config(), transport=httpx.MockTransport(self.handler))

    # ---- responses -------------------------------------------------------------------------------

    def _plan(self, execution: FakeExecution) -> dict[str, Any]:
        retry = {"isRetry": execution.retry_of is not None}
        if execution.retry_of:
            retry.update(rootExecutionId=execution.retry_of, parentRetryId=execution.retry_of)
        return {
            "planExecution": {
                "uuid": execution.id,
                "status": "RUNNING",
                "metadata": {
                    "runSequence": execution.run_sequence,
                    "pipelineIdentifier": execution.pipeline,
                    "executionUuid": execution.id,
                    "retryInfo": retry,
                },
            }
        }

    def _summary(self, execution: FakeExecution) -> dict[str, Any]:
        stages = execution.stages()
        layout = {}
        for index, (identifier, status) in enumerate(stages):
            nxt = [f"u_{stages[index + 1][0]}"] if index + 1 < len(stages) else []
            node: dict[str, Any] = {
                "nodeType": "Custom",
                "nodeGroup": "STAGE",
                "nodeIdentifier": identifier,
                "name": identifier.title(),
                "nodeUuid": f"u_{identifier}",
                "status": status,
                "edgeLayoutList": {"currentNodeChildren": [], "nextIds": nxt},
            }
            if status in TERMINAL_STATUSES:  # build took 4 s, deploy 61 s (the whole run 1m 05s)
                node["startTs"] = execution.start_ts + (0 if index == 0 else 4000)
                node["endTs"] = execution.start_ts + (4000 if index == 0 else 65000)
            if status == "Failed":
                node["failureInfo"] = {
                    "message": "Shell Script execution failed. Please check execution logs."
                }
            layout[f"u_{identifier}"] = node
        return {
            "pipelineIdentifier": execution.pipeline,
            "orgIdentifier": "default",
            "projectIdentifier": "proj",
            "planExecutionId": execution.id,
            "name": execution.pipeline,
            "status": execution.status,
            "layoutNodeMap": layout,
            "startingNodeId": "u_build",
            "modules": ["cd"],
            "startTs": execution.start_ts,
            "endTs": execution.start_ts + 65000 if execution.status in TERMINAL_STATUSES else None,
            "runSequence": execution.run_sequence,
            "notesExistForPlanExecutionId": bool(execution.notes),
        }

    def _graph(self, execution: FakeExecution) -> dict[str, Any]:
        deploy_status = dict(execution.stages())["deploy"]
        return {
            "rootNodeId": "g_deploy",
            "nodeMap": {
                "g_deploy": {
                    "uuid": "g_deploy",
                    "identifier": "deploy",
                    "name": "Deploy",
                    "status": deploy_status,
                    "stepType": "CUSTOM_STAGE",
                    "baseFqn": "pipeline.stages.deploy",
                },
                "g_step": {
                    "uuid": "g_step",
                    "identifier": "rollout",
                    "name": "Rollout",
                    "status": deploy_status,
                    "stepType": "ShellScript",
                    "baseFqn": "pipeline.stages.deploy.spec.execution.steps.rollout",
                    "failureInfo": {"message": "Shell Script execution failed. Please check execution logs."}
                    if deploy_status == "Failed"
                    else {"message": ""},
                    "logBaseKey": (
                        f"acc/pipeline/{execution.pipeline}/{execution.run_sequence}/-{execution.id}/rollout"
                    ),
                },
            },
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        self.events.append(f"{request.method} {path}")
        for key, queue in self.faults.items():
            method, prefix = key.split(" ", 1)
            if queue and request.method == method and path.startswith(prefix):
                return queue.pop(0)
        params = request.url.params
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if request.method == "POST" and path.startswith("/pipeline/api/pipeline/execute/retry/"):
            return self._retry(request, parts[-1])
        if request.method == "POST" and path.startswith("/pipeline/api/pipeline/execute/"):
            pipeline = parts[4]
            script = self.scripts.pop(0) if len(self.scripts) > 1 else list(self.scripts[0])
            execution = self.add(script, pipeline=pipeline, notes=params.get("notesForPipelineExecution", ""))
            return ok(self._plan(execution))
        if request.method == "GET" and path.startswith("/pipeline/api/pipelines/execution/v2/"):
            execution = self.executions.get(parts[-1])
            if execution is None:
                return harness_error(
                    404, "ENTITY_NOT_FOUND", f"Plan Execution with id [{parts[-1]}] not found"
                )
            body: dict[str, Any] = {"pipelineExecutionSummary": self._summary(execution)}
            if params.get("renderFullBottomGraph") == "true":
                body["executionGraph"] = self._graph(execution)
            else:
                execution.index += 1
            return ok(body)
        if request.method == "PUT" and path.startswith("/pipeline/api/pipeline/execute/interrupt/"):
            execution = self.executions[parts[-1]]
            interrupt = params["interruptType"]
            if interrupt.lower() != "abortall":
                return httpx.Response(
                    400, json={"code": 400, "message": "interruptType must be one of [ABORTALL]"}
                )
            if execution.status in TERMINAL_STATUSES:
                engine = DISPLAY_TO_ENGINE.get(execution.status, execution.status.upper())
                return harness_error(
                    400,
                    "INVALID_REQUEST",
                    f"Invalid request: Execution is already finished with status: [{engine}]",
                )
            if execution.status == "Discontinuing":
                return harness_error(
                    400, "ABORT_ALL_ALREADY_NG", "Execution abort is already under progress."
                )
            execution.script = ["Discontinuing", "Aborted"]
            execution.index = 0
            return ok({"id": "int1", "type": "AbortAll", "planExecutionId": execution.id})
        if request.method == "POST" and path == "/pipeline/api/pipelines/execution/summary":
            wanted = set(params.get_list("status"))
            content = [
                self._summary(e)
                for e in sorted(self.executions.values(), key=lambda e: e.start_ts, reverse=True)
                if e.pipeline == params.get("pipelineIdentifier", e.pipeline)
                and (not wanted or e.status in wanted)
            ]
            return ok({"content": content, "last": True, "totalPages": 1})
        if request.method == "GET" and path.endswith("/notes"):
            return ok({"notes": self.executions[parts[-2]].notes})
        if request.method == "GET" and path.endswith("/retryStages"):
            execution = self.executions[parts[-2]]
            if self.retry_refusal or execution.status not in RETRYABLE or execution.retried:
                message = self.retry_refusal or "This execution is not the latest of all retried execution."
                return ok({"resumable": False, "errorMessage": message})
            groups = [
                {"info": [{"identifier": i, "name": i.title(), "status": s}]} for i, s in execution.stages()
            ]
            return ok({"resumable": True, "errorMessage": None, "groups": groups})
        if request.method == "GET" and path == "/gateway/log-service/blob":
            lines = [
                {"level": "INFO", "pos": i, "out": f"deploying part {i}\n", "time": "t"}
                for i in range(self.log_lines)
            ]
            lines.append(
                {"level": "ERROR", "pos": self.log_lines, "out": "error: rollout failed\n", "time": "t"}
            )
            return httpx.Response(200, text="\n".join(json.dumps(line) for line in lines))
        return harness_error(404, "RESOURCE_NOT_FOUND_EXCEPTION", f"HTTP 404 Not Found: {path}")

    def _retry(self, request: httpx.Request, pipeline: str) -> httpx.Response:
        params = request.url.params
        parent = self.executions.get(params["planExecutionId"])
        if parent is None:
            return harness_error(400, "INVALID_REQUEST", "Invalid request: No Plan Execution exists")
        if parent.status not in RETRYABLE or parent.retried:
            return harness_error(
                400,
                "INVALID_REQUEST",
                "Invalid request: This execution is not the latest of all retried execution. "
                "You can only retry the latest execution.",
            )
        if not params.get_list("retryStages"):
            return harness_error(
                400, "INVALID_REQUEST", "Invalid request: You need to select the stage to retry!!"
            )
        parent.retried = True
        script = self.scripts.pop(0) if len(self.scripts) > 1 else list(self.scripts[0])
        execution = self.add(script, pipeline=pipeline, notes=params.get("notesForPipelineExecution", ""))
        execution.retry_of = parent.id
        return ok(self._plan(execution))


class FakeTaskInstance:
    """Just what the operators read from ``context["ti"]``."""

    def __init__(
        self,
        events: list[str] | None = None,
        *,
        try_number: int = 1,
        task_id: str = "run",
        max_tries: int | None = None,
    ) -> None:
        self.dag_id = "harness_dag"
        self.run_id = "manual__2026-01-01T00:00:00+00:00"
        self.task_id = task_id
        self.map_index = -1
        self.try_number = try_number
        if max_tries is not None:  # what Airflow sets: retries, plus the try number at each clear
            self.max_tries = max_tries
        self.xcom: dict[str, Any] = {}
        self.events = events if events is not None else []

    def xcom_push(self, key: str, value: Any) -> None:
        self.events.append(f"xcom {key}")
        self.xcom[key] = value


class FakeStateStore:
    """Airflow 3.3's ``context["task_state_store"]``: get/set scoped to the task instance."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        json.dumps(value)  # the real store only takes JSON values
        self.values[key] = value


def make_context(ti: FakeTaskInstance, store: FakeStateStore | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti, "task_instance": ti}
    if store is not None:
        context["task_state_store"] = store
    return context


# ---- tests of the fake itself ------------------------------------------------------------------------


def test_fake_advances_status_per_poll_and_refuses_abort_when_finished() -> None:
    fake = ScriptedHarness(scripts=[["Running", "Success"]])
    client = fake.client()
    execution = fake.add(["Running", "Success"])
    first = client.http.get(f"https://harness.test/pipeline/api/pipelines/execution/v2/{execution.id}")
    assert first.json()["data"]["pipelineExecutionSummary"]["status"] == "Running"
    assert execution.status == "Success"
    refused = fake.handler(
        httpx.Request(
            "PUT", f"https://h/pipeline/api/pipeline/execute/interrupt/{execution.id}?interruptType=AbortAll"
        )
    )
    assert refused.status_code == 400 and "[SUCCEEDED]" in refused.json()["message"]


def test_fake_retry_requires_latest_failed_execution() -> None:
    fake = ScriptedHarness()
    parent = fake.add(["Failed"])
    url = f"https://h/pipeline/api/pipeline/execute/retry/pipe?planExecutionId={parent.id}&retryStages=deploy"
    assert fake.handler(httpx.Request("POST", url)).status_code == 200
    assert fake.handler(httpx.Request("POST", url)).status_code == 400
