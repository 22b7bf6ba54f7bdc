"""Unit tests of client/executions.py and client/logs.py on httpx mock transports (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_harness.client import executions, logs
from airflow_provider_harness.client.config import HarnessConfig, Secret
from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient, build_request

API_KEY = "pat.acc.tokenid.SUPERSECRETVALUE"
SCOPE = {"orgIdentifier": "default", "projectIdentifier": "proj"}


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


def envelope(data: Any) -> dict[str, Any]:
    return {"status": "SUCCESS", "data": data, "metaData": None, "correlationId": "c-1"}


def layout_node(
    uuid: str, identifier: str, status: str, next_ids: list[str] | None = None, **extra: Any
) -> dict:
    node = {
        "nodeType": "Custom",
        "nodeGroup": "STAGE",
        "nodeIdentifier": identifier,
        "name": identifier.title(),
        "nodeUuid": uuid,
        "status": status,
        "edgeLayoutList": {"currentNodeChildren": [], "nextIds": next_ids or []},
    }
    node.update(extra)
    return node


def summary(execution_id: str = "exec1", status: str = "Running", **extra: Any) -> dict[str, Any]:
    """A summary with stages build -> (test_a || test_b) -> deploy, real Harness layout shape."""
    layout = {
        "u_build": layout_node("u_build", "build", "Success", ["u_par"]),
        "u_par": {
            "nodeType": "parallel",
            "nodeGroup": "STAGE",
            "nodeIdentifier": "parallelu_par",
            "name": "parallel",
            "nodeUuid": "u_par",
            "edgeLayoutList": {"currentNodeChildren": ["u_ta", "u_tb"], "nextIds": ["u_deploy"]},
        },
        "u_ta": layout_node("u_ta", "test_a", "Success"),
        "u_tb": layout_node("u_tb", "test_b", "Success"),
        "u_deploy": layout_node(
            "u_deploy", "deploy", status if status != "Success" else "Success", failureInfo={"message": ""}
        ),
    }
    body = {
        "pipelineIdentifier": "pipe",
        "orgIdentifier": "default",
        "projectIdentifier": "proj",
        "planExecutionId": execution_id,
        "name": "Pipe",
        "status": status,
        "layoutNodeMap": layout,
        "startingNodeId": "u_build",
        "modules": ["cd"],
        "startTs": 1_700_000_000_000,
        "runSequence": 7,
        "canRetry": True,
        "notesExistForPlanExecutionId": True,
    }
    body.update(extra)
    return body


def failed_graph() -> dict[str, Any]:
    base = "pipeline.stages.deploy.spec.execution.steps"
    return {
        "rootNodeId": "n_stage",
        "nodeMap": {
            "n_stage": {
                "uuid": "n_stage",
                "identifier": "deploy",
                "name": "Deploy",
                "status": "Failed",
                "stepType": "CUSTOM_STAGE",
                "baseFqn": "pipeline.stages.deploy",
                "failureInfo": {"message": "stage failed"},
            },
            "n_ok": {
                "uuid": "n_ok",
                "identifier": "prepare",
                "name": "Prepare",
                "status": "Success",
                "stepType": "ShellScript",
                "baseFqn": f"{base}.prepare",
                "logBaseKey": "acc/pipeline/pipe/7/-exec1/deploy/prepare",
            },
            "n_fail": {
                "uuid": "n_fail",
                "identifier": "rollout",
                "name": "Rollout",
                "status": "Failed",
                "stepType": "ShellScript",
                "baseFqn": f"{base}.rollout",
                "startTs": 5,
                "failureInfo": {"message": "Shell Script execution failed. Please check execution logs."},
                "logBaseKey": "acc/pipeline/pipe/7/-exec1/deploy/rollout",
            },
        },
    }


class FakeHarness:
    """A tiny router for httpx.MockTransport that records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, reply: Any, status: int = 200) -> None:
        if callable(reply):
            self.routes[(method, path)] = reply
        else:
            self.routes[(method, path)] = lambda request: httpx.Response(
                status, text=reply if isinstance(reply, str) else json.dumps(reply)
            )

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(
                404,
                json={
                    "status": "ERROR",
                    "code": "ENTITY_NOT_FOUND",
                    "message": f"no route {request.url.path}",
                },
            )
        return route(request)

    def client(self, **config: Any) -> HarnessClient:
        return HarnessClient(make_config(**config), transport=httpx.MockTransport(self.handler))

    def async_client(self, **config: Any) -> AsyncHarnessClient:
        return AsyncHarnessClient(make_config(**config), transport=httpx.MockTransport(self.handler))

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


@pytest.fixture
def fake() -> FakeHarness:
    return FakeHarness()


# ---- call builders -------------------------------------------------------------------------------


def test_execute_call_sends_yaml_body_notes_and_is_not_repeatable() -> None:
    call = executions.execute_call(
        SCOPE, "pipe", "pipeline:\n  identifier: pipe\n", notes="n\nairflow:d/r/t/-1"
    )
    request = build_request(make_config(), call)
    assert request.method == "POST"
    assert request.url.path == "/pipeline/api/pipeline/execute/pipe"
    assert request.headers["content-type"] == "application/yaml"
    assert request.content == b"pipeline:\n  identifier: pipe\n"
    assert request.url.params["notesForPipelineExecution"] == "n\nairflow:d/r/t/-1"
    assert request.url.params["accountIdentifier"] == "acc"
    assert request.url.params["orgIdentifier"] == "default"
    assert call.repeatable is False
    assert call.permission == "core_pipeline_execute"


def test_execute_with_input_sets_and_stages_bodies() -> None:
    call = executions.start_call(
        SCOPE, "pipe", "pipeline: {}", input_set_refs=["is1", "is2"], stage_ids=["deploy"]
    )
    assert call.path == "/pipeline/api/pipeline/execute/pipe/inputSetList"
    assert call.json == {
        "inputSetReferences": ["is1", "is2"],
        "withMergedPipelineYaml": False,
        "lastYamlToMerge": "pipeline: {}",
        "stageIdentifiers": ["deploy"],
    }
    assert call.repeatable is False
    stages = executions.start_call(SCOPE, "pipe", "", stage_ids=["build", "deploy"])
    assert stages.path == "/pipeline/api/pipeline/execute/pipe/stages"
    assert stages.json == {
        "runtimeInputYaml": "",
        "stageIdentifiers": ["build", "deploy"],
        "expressionValues": {},
    }
    plain = executions.start_call(SCOPE, "pipe", "")
    assert plain.path == "/pipeline/api/pipeline/execute/pipe" and plain.content == ""


def test_interrupt_retry_list_calls_match_harness_shapes() -> None:
    config = make_config()
    interrupt = build_request(config, executions.interrupt_call(SCOPE, "exec1"))
    assert (interrupt.method, interrupt.url.path) == ("PUT", "/pipeline/api/pipeline/execute/interrupt/exec1")
    assert interrupt.url.params["interruptType"] == "AbortAll"
    assert interrupt.content == b""

    retry = build_request(
        config, executions.retry_call(SCOPE, "pipe", "exec1", ["a", "b"], run_all_stages=False)
    )
    assert retry.url.path == "/pipeline/api/pipeline/execute/retry/pipe"
    assert retry.url.params.get_list("retryStages") == ["a", "b"]
    assert retry.url.params["runAllStages"] == "false"
    assert retry.url.params["planExecutionId"] == "exec1"
    assert retry.headers["content-type"] == "application/yaml"

    listing = executions.list_executions_call(SCOPE, "pipe", statuses=["Running", "APPROVAL_WAITING"])
    request = build_request(config, listing.with_page(0, 50))
    assert (request.method, request.url.path) == ("POST", "/pipeline/api/pipelines/execution/summary")
    assert request.url.params.get_list("status") == ["ApprovalWaiting", "Running"]
    assert request.url.params["pipelineIdentifier"] == "pipe"
    assert request.url.params["page"] == "0" and request.url.params["size"] == "50"
    assert json.loads(request.content) == {"filterType": "PipelineExecution"}

    details = build_request(config, executions.details_call(SCOPE, "exec1", graph=True))
    assert details.url.path == "/pipeline/api/pipelines/execution/v2/exec1"
    assert details.url.params["renderFullBottomGraph"] == "true"
    assert "renderFullBottomGraph" not in build_request(config, executions.status_call(SCOPE, "e")).url.params

    stages = build_request(config, executions.retry_stages_call(SCOPE, "exec1", "pipe"))
    assert stages.url.path == "/pipeline/api/pipeline/execute/exec1/retryStages"
    assert stages.url.params["pipelineIdentifier"] == "pipe"
    notes = build_request(config, executions.notes_call("exec1"))
    assert notes.url.path == "/pipeline/api/pipelines/execution/exec1/notes"


@pytest.mark.parametrize(
    ("builder", "field"),
    [
        (lambda: executions.execute_call(SCOPE, "1bad"), "pipeline_id"),
        (lambda: executions.execute_call(SCOPE, "has$dollar"), "pipeline_id"),
        (lambda: executions.start_call(SCOPE, "p", input_set_refs=["bad id"]), "input_set_refs"),
        (lambda: executions.start_call(SCOPE, "p", stage_ids=["stage-1"]), "stage_ids"),
        (lambda: executions.details_call(SCOPE, "a/b"), "execution_id"),
        (lambda: executions.retry_call(SCOPE, "p", "e", []), "retry_stages"),
        (lambda: executions.interrupt_call(SCOPE, "e", " "), "interrupt_type"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(builder: Callable[[], Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        builder()


# ---- parsing ---------------------------------------------------------------------------------------


def test_parse_started_uses_engine_vocabulary_and_retry_info() -> None:
    data = {
        "planExecution": {
            "uuid": "new1",
            "status": "QUEUED",
            "metadata": {
                "runSequence": 3,
                "pipelineIdentifier": "pipe",
                "retryInfo": {"isRetry": True, "rootExecutionId": "root", "parentRetryId": "old"},
            },
        }
    }
    started = executions.parse_started(data)
    assert started == executions.StartedExecution("new1", "Queued", 3, "pipe", True, "root", "old")
    with pytest.raises(ValueError, match=r"planExecution\.uuid"):
        executions.parse_started({"planExecution": {}})


def test_parse_details_orders_stages_through_parallel_groups() -> None:
    snap = executions.parse_details({"pipelineExecutionSummary": summary(status="Running")})
    assert [s.identifier for s in snap.stages] == ["build", "test_a", "test_b", "deploy"]
    assert snap.status == "Running" and snap.run_sequence == 7 and snap.module == "cd"
    assert snap.outcome().terminal is False
    assert (
        executions.parse_details({"pipelineExecutionSummary": summary(status="IgnoreFailed")})
        .outcome()
        .succeeded
    )


def test_summarize_failure_finds_stage_step_and_message() -> None:
    body = summary(status="Failed")
    body["layoutNodeMap"]["u_deploy"]["status"] = "Failed"
    snap = executions.parse_details({"pipelineExecutionSummary": body, "executionGraph": failed_graph()})
    result = executions.summarize_failure(snap)
    assert result.stage is not None and result.stage.identifier == "deploy"
    assert result.step is not None and result.step.identifier == "rollout"
    assert result.message == "Shell Script execution failed. Please check execution logs."
    assert result.headline() == (
        'Harness execution exec1 ended Failed in stage "Deploy", step "Rollout": '
        "Shell Script execution failed. Please check execution logs."
    )


def test_runtime_input_yaml_validation() -> None:
    assert executions.runtime_input_yaml(None) == ""
    assert executions.runtime_input_yaml({}) == ""
    assert executions.runtime_input_yaml("  ") == ""
    assert executions.runtime_input_yaml({"pipeline": {"identifier": "p"}}) == "pipeline:\n  identifier: p\n"
    with pytest.raises(ValueError, match=r"runtime_inputs: not valid YAML at line 3, column 4: "):
        executions.runtime_input_yaml("pipeline:\n  x: [1, 2\n  y: 3\n")
    with pytest.raises(ValueError, match="top-level 'pipeline' key"):
        executions.runtime_input_yaml("stages: []")
    with pytest.raises(ValueError, match="top-level 'pipeline' key"):
        executions.runtime_input_yaml("- a\n- b\n")
    with pytest.raises(ValueError, match="expected YAML text or a dict"):
        executions.runtime_input_yaml(42)  # type: ignore[arg-type]


def test_execution_url_follows_harness_notification_format() -> None:
    config = make_config(base_url="https://harness.example.com/gateway/")
    url = executions.execution_url(
        config, org_id="default", project_id="proj", pipeline_id="pipe", execution_id="abc_-1", module="ci"
    )
    assert (
        url
        == "https://harness.example.com/ng/#/account/acc/ci/orgs/default/projects/proj/pipelines/pipe/executions/abc_-1/pipeline"
    )


def test_marker_matching_is_exact_per_line() -> None:
    marker = executions.execution_marker("dag", "run", "task", 1)
    notes = executions.notes_with_marker("user notes\nmore", marker)
    assert notes.startswith("user notes\nmore\n") and executions.notes_have_marker(notes, marker)
    assert not executions.notes_have_marker(executions.notes_with_marker(None, marker + "0"), marker)
    assert executions.notes_with_marker("", marker) == marker


def test_choose_retry_stages() -> None:
    stage = executions.RetryStage
    serial = executions.RetryInfo(True, None, ((stage("b", "B", "Success"),), (stage("d", "D", "Failed"),)))
    assert executions.choose_retry_stages(serial) == (["d"], True)
    parallel_all_failed = executions.RetryInfo(
        True, None, ((stage("x", "X", "Failed"), stage("y", "Y", "Aborted")),)
    )
    assert executions.choose_retry_stages(parallel_all_failed) == (["x", "y"], True)
    with pytest.raises(executions.RetryNotPossible, match="not the latest"):
        executions.choose_retry_stages(executions.RetryInfo(False, "This execution is not the latest", ()))
    with pytest.raises(executions.RetryNotPossible, match="nothing to retry"):
        executions.choose_retry_stages(executions.RetryInfo(True, None, ((stage("b", "B", "Success"),),)))


def test_stage_progress_lines_and_error_budget() -> None:
    progress = executions.StageProgress()
    running = executions.parse_summary(summary(status="Running"))
    lines = progress.update(running)
    assert lines[0] == "Execution exec1 is Running"
    assert 'Stage 4/4 "Deploy" Running' in lines and 'Stage 1/4 "Build" Success' in lines
    assert progress.update(running) == []
    waiting = executions.parse_summary(summary(status="ApprovalWaiting"))
    assert progress.update(waiting)[0].startswith("Execution exec1 is ApprovalWaiting (waiting for someone")

    budget = executions.ErrorBudget(max_errors=3, max_seconds=100)
    assert [budget.record_error(now=t) for t in (0, 1)] == [False, False]
    budget.record_success()
    assert budget.record_error(now=500) is False and budget.record_error(now=601) is True


# ---- sending ---------------------------------------------------------------------------------------


async def test_sync_and_async_status_checks_send_the_same_request(fake: FakeHarness) -> None:
    fake.on(
        "GET", "/pipeline/api/pipelines/execution/v2/exec1", envelope({"pipelineExecutionSummary": summary()})
    )
    sync_snap = executions.get_execution_status(fake.client(), SCOPE, "exec1")
    async_snap = await executions.fetch_execution_status(fake.async_client(), SCOPE, "exec1")
    assert sync_snap == async_snap
    first, second = fake.requests
    assert (first.method, str(first.url)) == (second.method, str(second.url))
    assert first.headers["x-api-key"] == API_KEY


async def test_status_fetcher_seam_can_be_replaced() -> None:
    seen: list[str] = []

    async def coalescing(client: Any, scope: Any, execution_id: str) -> executions.ExecutionSnapshot:
        seen.append(execution_id)
        return executions.ExecutionSnapshot(execution_id, "p", "Success")

    previous = executions.use_status_fetcher(coalescing)
    try:
        snap = await executions.status_fetcher()(None, SCOPE, "e9")  # type: ignore[arg-type]
    finally:
        executions.use_status_fetcher(previous)
    assert seen == ["e9"] and snap.status == "Success"
    assert executions.status_fetcher() is executions.fetch_execution_status


def test_find_marked_execution_reads_notes_of_candidates_only(fake: FakeHarness) -> None:
    marker = executions.execution_marker("dag", "run", "task", -1)
    items = [
        summary("newest", "Running", startTs=30, notesExistForPlanExecutionId=False),
        summary("other", "Running", startTs=20),
        summary("mine", "Running", startTs=10),
    ]
    fake.on("POST", "/pipeline/api/pipelines/execution/summary", envelope({"content": items, "last": True}))
    notes = {"other": "deploy by hand", "mine": f"nightly\n{marker}"}
    fake.on(
        "GET",
        "/pipeline/api/pipelines/execution/other/notes",
        envelope({"notes": notes["other"]}),
    )
    fake.on("GET", "/pipeline/api/pipelines/execution/mine/notes", envelope({"notes": notes["mine"]}))
    found = executions.find_marked_execution(
        fake.client(), SCOPE, "pipe", marker, statuses=executions.NON_TERMINAL_STATUSES
    )
    assert found is not None and found.execution_id == "mine"
    assert "GET /pipeline/api/pipelines/execution/newest/notes" not in fake.paths()
    listing = fake.requests[0]
    assert "Running" in listing.url.params.get_list(
        "status"
    ) and "Success" not in listing.url.params.get_list("status")
    assert "Discontinuing" in listing.url.params.get_list("status")


def test_find_marked_execution_is_bounded_to_max_pages(fake: FakeHarness) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params["page"])
        content = [summary(f"e{index}_{i}", "Running", notesExistForPlanExecutionId=False) for i in range(2)]
        return httpx.Response(200, json=envelope({"content": content, "last": False}))

    fake.on("POST", "/pipeline/api/pipelines/execution/summary", page)
    found = executions.find_marked_execution(
        fake.client(), SCOPE, "pipe", "airflow:x", max_pages=2, page_size=2
    )
    assert found is None
    assert fake.paths().count("POST /pipeline/api/pipelines/execution/summary") == 2


def test_failure_summary_adds_log_tail(fake: FakeHarness) -> None:
    body = summary(status="Failed")
    body["layoutNodeMap"]["u_deploy"]["status"] = "Failed"
    fake.on(
        "GET",
        "/pipeline/api/pipelines/execution/v2/exec1",
        envelope({"pipelineExecutionSummary": body, "executionGraph": failed_graph()}),
    )
    lines = [{"level": "INFO", "pos": i, "out": f"line {i}\n", "time": "t"} for i in range(50)]
    lines.append({"level": "ERROR", "pos": 50, "out": "exit status 1\n", "time": "t"})
    fake.on("GET", "/gateway/log-service/blob", "\n".join(json.dumps(line) for line in lines))
    result = executions.failure_summary(fake.client(), SCOPE, "exec1", log_lines=3)
    assert result.log_tail == ("line 48", "line 49", "exit status 1")
    blob = fake.requests[-1]
    assert blob.url.params["key"] == "acc/pipeline/pipe/7/-exec1/deploy/rollout"
    assert blob.url.params["accountID"] == "acc"
    assert fake.requests[0].url.params["renderFullBottomGraph"] == "true"
    text = "\n".join(result.lines())
    assert "Last 3 log lines of that step:" in text and API_KEY not in text


def test_tail_step_log_falls_back_to_token_then_gives_up_quietly(fake: FakeHarness) -> None:
    def blob(request: httpx.Request) -> httpx.Response:
        if request.headers.get("X-Harness-Token") != "tok123":
            return httpx.Response(403, json={"error_msg": "apikey in request not authorized"})
        return httpx.Response(200, text='{"level":"INFO","pos":0,"out":"hello\\n","time":"t"}\n')

    fake.on("GET", "/gateway/log-service/blob", blob)
    fake.on("GET", "/gateway/log-service/token", "tok123\n")
    assert logs.tail_step_log(fake.client(), "key1", lines=5) == ["hello"]

    broken = FakeHarness()
    broken.on("GET", "/gateway/log-service/blob", {"error_msg": "boom"}, status=500)
    assert logs.tail_step_log(broken.client(max_retries=3), "key1", lines=5) == []
    assert len(broken.requests) == 2  # quick retry budget for best-effort logs
    assert logs.tail_step_log(FakeHarness().client(), "key1", lines=5) == []


def test_tail_step_log_reads_command_units_when_the_step_key_is_empty(fake: FakeHarness) -> None:
    def blob(request: httpx.Request) -> httpx.Response:
        if request.url.params["key"].endswith("-commandUnit:Execute"):
            return httpx.Response(200, text='{"level":"ERROR","pos":0,"out":"unit failed\\n","time":"t"}')
        return httpx.Response(404, json={"error_msg": "cannot find stream"})

    fake.on("GET", "/gateway/log-service/blob", blob)
    assert logs.tail_step_log(fake.client(), "base", lines=5, units=["Execute"]) == ["unit failed"]
