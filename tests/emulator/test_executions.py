"""Execution lifecycle from pipeline YAML: success, failure, abort, pause/resume, retry, inputs, lists."""

from __future__ import annotations

import time

import pytest
from emulator_kit import Api, pipeline_yaml, shell, stage, step

from airflow_provider_harness.client.statuses import DISPLAY_STATUSES, ENGINE_TO_DISPLAY

TWO_STAGES = pipeline_yaml(
    "two",
    [
        stage("build", [shell("compile", "echo compiling\nsleep 3\necho built")]),
        stage("deploy", [shell("ship", "echo shipping")]),
    ],
    tags={"team": "data"},
)
FAILING = pipeline_yaml(
    "failing",
    [
        stage("build", [shell("ok", "echo fine")]),
        stage("test", [shell("boom", "echo about to fail\nexit 1"), shell("never", "echo unreachable")]),
        stage("deploy", [shell("ship", "echo shipping")]),
    ],
)
# Runs for 1000 s of wall time at the test time scale: "still running" is a state, not a race.
LONG = pipeline_yaml(
    "long", [stage("work", [shell("first", "sleep 100000"), shell("second", "sleep 100000")])]
)
APPROVAL = {"approvers": {"userGroups": ["account.admin"], "minimumCount": 1}}


# A step held until the test approves it: a Pause requested meanwhile provably lands at the boundary
# after it (before "second"), whatever the machine's speed.
def held_pipeline(**extra: object) -> str:
    hold = step("hold", "HarnessApproval", APPROVAL, timeout="1d")
    return pipeline_yaml("held", [stage("work", [hold, shell("second", "echo after")])], **extra)


HELD = held_pipeline()
NOTIFY_ALL = [
    {
        "name": "all",
        "identifier": "all",
        "pipelineEvents": [{"type": "AllEvents"}],
        # recorded by the emulator (handle.notifications) even though nothing listens on port 9
        "notificationMethod": {"type": "Webhook", "spec": {"webhookUrl": "http://127.0.0.1:9/hook"}},
    }
]


def test_execute_response_uses_engine_vocabulary(api: Api) -> None:
    api.create_pipeline(TWO_STAGES)
    response = api.execute("two", module="cd")
    data = response.json()["data"]["planExecution"]
    assert response.status_code == 200
    assert data["status"] == "RUNNING"
    assert data["uuid"] == data["metadata"]["executionUuid"] and len(data["uuid"]) == 22
    assert data["metadata"]["pipelineIdentifier"] == "two"
    assert data["metadata"]["runSequence"] == 1
    assert data["metadata"]["triggerInfo"]["triggerType"] == "MANUAL"
    assert data["setupAbstractions"]["projectIdentifier"] == "emulator_project"
    assert data["nodeType"] == "PLAN"
    assert api.execute("two").json()["data"]["planExecution"]["metadata"]["runSequence"] == 2


def test_successful_execution_statuses_layout_and_graph(api: Api) -> None:
    api.create_pipeline(TWO_STAGES)
    execution = api.run("two")
    summary = api.wait(execution)
    assert summary["status"] == "Success"
    # (whether a poll caught "Running" depends on the machine's speed; test_abort_... waits for it)
    assert set(summary["_seen"]) <= DISPLAY_STATUSES and "SUCCEEDED" not in summary["_seen"]
    assert summary["name"] == "two name"
    assert summary["tags"] == [{"key": "team", "value": "data"}]
    assert (summary["successfulStagesCount"], summary["totalStagesCount"], summary["failedStagesCount"]) == (
        2,
        2,
        0,
    )
    assert summary["endTs"] >= summary["startTs"]
    layout = summary["layoutNodeMap"]
    first = layout[summary["startingNodeId"]]
    assert (first["nodeIdentifier"], first["name"], first["nodeGroup"], first["status"]) == (
        "build",
        "build name",
        "STAGE",
        "Success",
    )
    second = layout[first["edgeLayoutList"]["nextIds"][0]]
    assert second["nodeIdentifier"] == "deploy" and second["edgeLayoutList"]["nextIds"] == []
    assert "executionGraph" not in api.get(f"/pipeline/api/pipelines/execution/v2/{execution}").json()["data"]

    graph = api.get(
        f"/pipeline/api/pipelines/execution/v2/{execution}", params={"stageNodeId": first["nodeUuid"]}
    ).json()["data"]["executionGraph"]
    steps = [n for n in graph["nodeMap"].values() if n["stepType"] == "ShellScript"]
    assert [s["identifier"] for s in steps] == ["compile"]
    assert steps[0]["status"] == "Success"
    assert steps[0]["logBaseKey"].endswith(
        "pipelineId:two/runSequence:1/level0:pipeline/level1:stages/level2:build/level3:spec/level4:execution"
        "/level5:steps/level6:compile"
    )
    assert graph["rootNodeId"] in graph["nodeMap"] and graph["representationStrategy"] == "camelCase"
    full = api.get(
        f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
    ).json()["data"]["executionGraph"]
    assert {n["identifier"] for n in full["nodeMap"].values()} >= {
        "pipeline",
        "build",
        "deploy",
        "compile",
        "ship",
    }


def test_sleep_takes_emulated_time(api: Api) -> None:
    api.handle.set_settings(time_scale=0.001)
    api.create_pipeline(pipeline_yaml("sleepy", [stage("s", [shell("nap", "sleep 300")])]))
    started = time.monotonic()
    summary = api.wait(api.run("sleepy"), timeout=60)
    elapsed = time.monotonic() - started
    assert summary["status"] == "Success"
    # 300 emulated seconds at 0.001 = 0.3 s: never less; unscaled it would be 300 s, so a generous upper
    # bound proves the scaling without depending on the machine's speed
    assert 0.3 <= elapsed < 30


def test_failure_sets_failure_info_and_leaves_later_stages_not_started(api: Api) -> None:
    api.create_pipeline(FAILING)
    summary = api.wait(api.run("failing"))
    assert summary["status"] == "Failed"
    message = "Shell Script execution failed. Please check execution logs."
    assert summary["failureInfo"]["message"] == message
    assert summary["failureInfo"]["failureTypeList"] == ["APPLICATION_ERROR"]
    assert summary["executionErrorInfo"]["message"] == message
    by_id = {n["nodeIdentifier"]: n for n in summary["layoutNodeMap"].values()}
    assert [by_id[s]["status"] for s in ("build", "test", "deploy")] == ["Success", "Failed", "NotStarted"]
    assert by_id["test"]["failureInfo"]["message"] == message
    assert "startTs" not in by_id["deploy"] and "nodeExecutionId" not in by_id["deploy"]
    assert summary["failedStagesCount"] == 1


def test_when_condition_and_ignore_failure_strategy(api: Api) -> None:
    text = pipeline_yaml(
        "conditional",
        [
            stage(
                "main",
                [
                    shell(
                        "tolerated",
                        "exit 3",
                        failureStrategies=[
                            {"onFailure": {"errors": ["AllErrors"], "action": {"type": "Ignore"}}}
                        ],
                    ),
                    shell(
                        "skipped",
                        "echo no",
                        when={"stageStatus": "Success", "condition": "<+pipeline.variables.go> == yes"},
                    ),
                ],
            ),
            stage("cleanup", [shell("tidy", "echo tidy")], when={"pipelineStatus": "Failure"}),
        ],
        variables=[{"name": "go", "type": "String", "value": "no"}],
    )
    api.create_pipeline(text)
    execution = api.run("conditional")
    summary = api.wait(execution)
    assert summary["status"] == "Success"
    by_id = {n["nodeIdentifier"]: n for n in summary["layoutNodeMap"].values()}
    assert by_id["cleanup"]["status"] == "Skipped"
    graph = api.get(
        f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
    ).json()["data"]["executionGraph"]["nodeMap"]
    statuses = {n["identifier"]: n["status"] for n in graph.values()}
    assert statuses["tolerated"] == "IgnoreFailed" and statuses["skipped"] == "Skipped"


def test_parallel_stages_run_together(api: Api) -> None:
    text = pipeline_yaml(
        "fan",
        [{"parallel": [stage("left", [shell("l", "sleep 5")]), stage("right", [shell("r", "sleep 5")])]}],
    )
    api.create_pipeline(text)
    summary = api.wait(api.run("fan"))
    layout = summary["layoutNodeMap"]
    fork = layout[summary["startingNodeId"]]
    assert fork["nodeType"] == "parallel" and len(fork["edgeLayoutList"]["currentNodeChildren"]) == 2
    left, right = (layout[i] for i in fork["edgeLayoutList"]["currentNodeChildren"])
    assert left["status"] == right["status"] == "Success"
    # both ran at once: each started before the other ended (sequential stages would not overlap)
    assert left["startTs"] < right["endTs"] and right["startTs"] < left["endTs"]


def test_abort_goes_running_discontinuing_aborted(api: Api) -> None:
    api.create_pipeline(LONG)
    execution = api.run("long")
    api.wait(execution, {"Running"})
    response = api.interrupt(execution, "AbortAll")
    assert response.status_code == 200
    assert response.json()["data"]["type"] == "AbortAll"
    assert response.json()["data"]["planExecutionId"] == execution
    assert api.summary(execution)["status"] == "Discontinuing"
    duplicate = api.interrupt(execution, "ABORTALL")
    assert duplicate.status_code == 400
    assert (duplicate.json()["code"], duplicate.json()["message"]) == (
        "ABORT_ALL_ALREADY_NG",
        "Execution abort is already under progress.",
    )
    summary = api.wait(execution)
    assert summary["status"] == "Aborted"
    assert summary["abortedBy"]["userName"]
    layout = next(iter(summary["layoutNodeMap"].values()))
    assert layout["status"] == "Aborted"
    finished = api.interrupt(execution, "abortall")
    assert finished.status_code == 400
    assert (
        finished.json()["message"] == "Invalid request: Execution is already finished with status: [ABORTED]"
    )


def test_interrupt_of_finished_and_unknown_executions(api: Api) -> None:
    api.create_pipeline(TWO_STAGES)
    execution = api.run("two")
    api.wait(execution)
    done = api.interrupt(execution, "AbortAll")
    assert done.json()["message"] == "Invalid request: Execution is already finished with status: [SUCCEEDED]"
    unknown = api.interrupt("doesNotExist", "AbortAll")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == (
        "Plan Execution Summary does not exist or has been deleted for planExecutionId: doesNotExist"
    )
    details = api.get("/pipeline/api/pipelines/execution/v2/doesNotExist")
    assert (details.status_code, details.json()["code"]) == (404, "ENTITY_NOT_FOUND")


def test_pause_is_rejected_without_legacy_interrupts(api: Api) -> None:
    api.create_pipeline(LONG)
    execution = api.run("long")
    for kind in ("Pause", "Resume", "StageRollback"):
        response = api.interrupt(execution, kind)
        assert response.status_code == 400
        assert response.json() == {"code": 400, "message": "interruptType must be one of [ABORTALL]"}
    missing = api.put(f"/pipeline/api/pipeline/execute/interrupt/{execution}")
    assert missing.status_code == 400 and missing.json()["errors"][0]["fieldId"] == "interruptType"
    assert api.summary(execution)["status"] == "Running"
    api.interrupt(execution, "AbortAll")


def _graph_statuses(api: Api, execution: str) -> dict[str, str]:
    graph = api.get(
        f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
    ).json()["data"]["executionGraph"]["nodeMap"]
    return {node["identifier"]: node["status"] for node in graph.values()}


@pytest.mark.harness_emulator(legacy_interrupts=True)
def test_pause_and_resume_with_legacy_interrupts(api: Api) -> None:
    api.create_pipeline(HELD)
    execution = api.run("held")
    api.wait(execution, {"ApprovalWaiting"})  # the step "hold" runs until approved
    paused = api.interrupt(execution, "Pause")
    assert paused.status_code == 200 and paused.json()["data"]["type"] == "Pause"
    assert api.summary(execution)["status"] == "Pausing"  # registered; the running step goes on
    again = api.interrupt(execution, "PAUSE")
    assert again.status_code == 400
    api.handle.approve(execution, step="hold")  # the step ends: the pause lands before "second"
    summary = api.wait(execution, {"Paused"})
    stages = {n["nodeIdentifier"]: n["status"] for n in summary["layoutNodeMap"].values()}
    assert stages == {"work": "Paused"}
    statuses = _graph_statuses(api, execution)
    assert statuses["hold"] == "Success"
    assert statuses.get("second", "NotStarted") == "NotStarted"  # held at the boundary, not started
    assert [d["eventType"] for d in api.handle.notifications("PipelinePaused", execution)] == []
    resumed = api.interrupt(execution, "Resume")
    assert resumed.status_code == 200 and resumed.json()["data"]["type"] == "Resume"
    summary = api.wait(execution)
    assert summary["status"] == "Success"
    assert _graph_statuses(api, execution)["second"] == "Success"
    assert api.interrupt(execution, "Resume").json()["message"] == (
        "Invalid request: Execution is already finished with status: [SUCCEEDED]"
    )


@pytest.mark.harness_emulator(legacy_interrupts=True)
def test_pause_during_the_last_step_lets_the_execution_finish(api: Api) -> None:
    """No node boundary remains after the last step: the pause never lands, the execution ends normally."""
    last = step("last", "HarnessApproval", APPROVAL, timeout="1d")
    api.create_pipeline(pipeline_yaml("tail", [stage("only", [last])], notificationRules=NOTIFY_ALL))
    execution = api.run("tail")
    api.wait(execution, {"ApprovalWaiting"})
    assert api.interrupt(execution, "Pause").status_code == 200
    assert api.summary(execution)["status"] == "Pausing"
    api.handle.approve(execution)
    summary = api.wait(execution)
    assert summary["status"] == "Success"
    assert "Paused" not in summary["_seen"]
    events = [d["eventType"] for d in api.handle.notifications(plan_execution_id=execution)]
    assert "PipelinePaused" not in events  # recorded synchronously: it was never Paused, even briefly
    assert events[-2:] == ["PipelineSuccess", "PipelineEnd"]


@pytest.mark.harness_emulator(legacy_interrupts=True)
def test_pause_notification_when_the_pause_lands(api: Api) -> None:
    api.create_pipeline(held_pipeline(notificationRules=NOTIFY_ALL))
    execution = api.run("held")
    api.wait(execution, {"ApprovalWaiting"})
    api.interrupt(execution, "Pause")
    assert api.handle.notifications("PipelinePaused", execution) == []  # not yet: a step still runs
    api.handle.approve(execution)
    api.wait(execution, {"Paused"})
    paused = api.handle.notifications("PipelinePaused", execution)
    assert [d["payload"]["eventData"]["nodeStatus"] for d in paused] == ["paused"]
    api.interrupt(execution, "Resume")
    assert api.wait(execution)["status"] == "Success"


@pytest.mark.harness_emulator(legacy_interrupts=True)
def test_resume_without_pause_and_abort_while_paused(api: Api) -> None:
    api.create_pipeline(HELD)
    execution = api.run("held")
    api.wait(execution, {"ApprovalWaiting"})
    not_paused = api.interrupt(execution, "Resume")
    assert not_paused.status_code == 400
    assert not_paused.json()["message"] == "Invalid request: No PAUSE_ALL interrupt present"
    api.interrupt(execution, "Pause")
    api.handle.approve(execution)
    api.wait(execution, {"Paused"})
    assert api.interrupt(execution, "AbortAll").status_code == 200
    assert api.wait(execution)["status"] == "Aborted"


def test_legacy_interrupts_toggle_through_admin(api: Api) -> None:
    api.create_pipeline(LONG)
    execution = api.run("long")
    assert api.interrupt(execution, "Pause").status_code == 400
    api.handle.set_settings(legacy_interrupts=True)
    assert api.interrupt(execution, "Pause").status_code == 200
    api.interrupt(execution, "AbortAll")


def test_retry_failed_stage_and_history(api: Api) -> None:
    api.create_pipeline(FAILING)
    first = api.run("failing")
    assert api.wait(first)["status"] == "Failed"
    stages = api.get(
        f"/pipeline/api/pipeline/execute/{first}/retryStages", params={"pipelineIdentifier": "failing"}
    )
    info = stages.json()["data"]
    assert info["resumable"] is True
    assert [[s["identifier"] for s in g["info"]] for g in info["groups"]] == [["build"], ["test"], ["deploy"]]
    assert [g["info"][0]["status"] for g in info["groups"]] == ["Success", "Failed", "NotStarted"]
    assert (
        api.get(
            f"/pipeline/api/pipeline/execute/retryHistory/{first}", params={"pipelineIdentifier": "failing"}
        ).json()["data"]["errorMessage"]
        == "Nothing to show in retry history"
    )

    # the second try succeeds: fix the script, keep the stage identifiers
    api.put(
        "/pipeline/api/pipelines/v2/failing",
        content=FAILING.replace("exit 1", "exit 0"),
        headers={"content-type": "application/yaml"},
    )
    response = api.post(
        "/pipeline/api/pipeline/execute/retry/failing",
        params=[
            ("accountIdentifier", api.handle.account_id),
            ("orgIdentifier", "default"),
            ("projectIdentifier", "emulator_project"),
            ("planExecutionId", first),
            ("retryStages", "test"),
            ("runAllStages", "true"),
        ],
        scoped=False,
        content="",
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    plan = response.json()["data"]["planExecution"]
    assert plan["status"] == "RUNNING"
    assert plan["metadata"]["retryInfo"] == {
        "isRetry": True,
        "rootExecutionId": first,
        "parentRetryId": first,
    }
    second = plan["uuid"]
    assert second != first and plan["metadata"]["runSequence"] == 2
    summary = api.wait(second)
    assert summary["status"] == "Success"
    assert summary["showRetryHistory"] is True
    assert summary["retryExecutionMetadata"]["parentExecutionId"] == first

    history = api.get(
        f"/pipeline/api/pipeline/execute/retryHistory/{first}", params={"pipelineIdentifier": "failing"}
    ).json()["data"]
    assert history["latestExecutionId"] == second
    assert [e["uuid"] for e in history["executionInfos"]] == [second, first]
    assert [e["status"] for e in history["executionInfos"]] == ["Success", "Failed"]
    assert history["retryStagesMetadata"]["retryStagesIdentifier"] == ["test"]
    assert history["retryStagesMetadata"]["skipStagesIdentifier"] == ["build"]
    latest = api.get(
        f"/pipeline/api/pipeline/execute/latestExecutionId/{first}", params={"pipelineIdentifier": "failing"}
    ).json()["data"]
    assert latest == {"latestExecutionId": second, "errorMessage": None}

    again = api.post(
        "/pipeline/api/pipeline/execute/retry/failing",
        params={"planExecutionId": first, "retryStages": "test"},
        content="",
    )
    assert again.status_code == 400
    assert again.json()["message"] == (
        "Invalid request: This execution is not the latest of all retried execution. "
        "You can only retry the latest execution."
    )


def test_retry_errors(api: Api) -> None:
    api.create_pipeline(TWO_STAGES)
    ok = api.run("two")
    api.wait(ok)
    no_stages = api.post(
        "/pipeline/api/pipeline/execute/retry/two", params={"planExecutionId": ok}, content=""
    )
    assert no_stages.json()["message"] == "Invalid request: You need to select the stage to retry!!"
    succeeded = api.post(
        "/pipeline/api/pipeline/execute/retry/two",
        params={"planExecutionId": ok, "retryStages": "build"},
        content="",
    )
    assert succeeded.status_code == 400 and succeeded.json()["code"] == "INVALID_REQUEST"
    unknown = api.post(
        "/pipeline/api/pipeline/execute/retry/two",
        params={"planExecutionId": "nope", "retryStages": "x"},
        content="",
    )
    assert unknown.json()["message"] == "Invalid request: No Plan Execution exists for id nope"


def test_runtime_inputs_must_be_supplied(api: Api) -> None:
    text = pipeline_yaml(
        "inputs",
        [stage("s", [shell("say", "echo tag=<+pipeline.variables.tag> env=<+pipeline.variables.env>")])],
        variables=[
            {"name": "tag", "type": "String", "value": "<+input>"},
            {"name": "env", "type": "String", "value": "<+input>.default(dev).allowedValues(dev,prod)"},
        ],
    )
    api.create_pipeline(text)
    missing = api.execute("inputs")
    assert missing.status_code == 400
    assert missing.json()["code"] == "INVALID_REQUEST"
    assert "Value not provided for required variable" in missing.json()["message"]
    assert "pipeline.variables.tag" in missing.json()["message"]
    not_allowed = api.execute(
        "inputs",
        "pipeline:\n  identifier: inputs\n  variables:\n    - name: tag\n      value: v1\n"
        "    - name: env\n      value: qa\n",
    )
    assert not_allowed.status_code == 400
    execution = api.run(
        "inputs",
        "pipeline:\n  identifier: inputs\n  variables:\n    - name: tag\n      type: String\n"
        "      value: v1.2\n",
    )
    summary = api.wait(execution)
    assert summary["status"] == "Success"
    key = next(
        n["logBaseKey"]
        for n in api.get(
            f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
        )
        .json()["data"]["executionGraph"]["nodeMap"]
        .values()
        if n["identifier"] == "say"
    )
    blob = api.client.get("/log-service/blob", params={"accountID": api.handle.account_id, "key": key})
    assert "tag=v1.2 env=dev" in blob.text


def test_execute_with_input_sets_and_selected_stages(api: Api) -> None:
    text = pipeline_yaml(
        "sets",
        [stage("a", [shell("one", "echo <+pipeline.variables.who>")]), stage("b", [shell("two", "echo b")])],
        variables=[{"name": "who", "type": "String", "value": "<+input>"}],
        allowStageExecutions=True,
    )
    api.create_pipeline(text)
    input_set = """\
inputSet:
  name: prod
  identifier: prod
  orgIdentifier: default
  projectIdentifier: emulator_project
  pipeline:
    identifier: sets
    variables:
      - name: who
        type: String
        value: prod
"""
    created = api.post(
        "/pipeline/api/inputSets",
        params={"pipelineIdentifier": "sets"},
        content=input_set,
        headers={"content-type": "application/yaml"},
    )
    assert created.status_code == 200, created.text
    assert created.json()["data"]["identifier"] == "prod"
    listed = api.get("/pipeline/api/inputSets", params={"pipelineIdentifier": "sets"}).json()["data"]
    assert listed["totalItems"] == 1 and listed["content"][0]["inputSetType"] == "INPUT_SET"

    response = api.post(
        "/pipeline/api/pipeline/execute/sets/inputSetList", json={"inputSetReferences": ["prod"]}
    )
    assert response.status_code == 200, response.text
    assert api.wait(response.json()["data"]["planExecution"]["uuid"])["status"] == "Success"

    ghost = api.post(
        "/pipeline/api/pipeline/execute/sets/inputSetList", json={"inputSetReferences": ["ghost"]}
    )
    assert ghost.status_code == 404 and ghost.json()["code"] == "ENTITY_NOT_FOUND"

    only_b = api.post(
        "/pipeline/api/pipeline/execute/sets/stages",
        json={
            "stageIdentifiers": ["b"],
            "runtimeInputYaml": "pipeline:\n  variables:\n    - {name: who, value: me}\n",
        },
    )
    assert only_b.status_code == 200, only_b.text
    summary = api.wait(only_b.json()["data"]["planExecution"]["uuid"])
    assert summary["stagesExecution"] is True and summary["stagesExecuted"] == ["b"]
    assert [n["nodeIdentifier"] for n in summary["layoutNodeMap"].values()] == ["b"]


def test_stage_execution_not_allowed(api: Api) -> None:
    api.create_pipeline(TWO_STAGES)
    response = api.post("/pipeline/api/pipeline/execute/two/stages", json={"stageIdentifiers": ["build"]})
    assert response.status_code == 400
    assert (
        response.json()["message"] == "Invalid request: Stage executions are not allowed for pipeline [two]"
    )


def test_execute_missing_pipeline_is_400(api: Api) -> None:
    response = api.execute("ghost")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Invalid request: Pipeline with the given ID: ghost does not exist or has been deleted"
    )


def test_execution_list_filters_sort_and_notes(api: Api) -> None:
    api.create_pipeline(TWO_STAGES)
    api.create_pipeline(FAILING)
    ok = api.run("two", notesForPipelineExecution="airflow:dag=d1:run=r1")
    bad = api.run("failing")
    api.wait(ok)
    api.wait(bad)
    newest = api.run("two")
    api.wait(newest)
    page = api.post("/pipeline/api/pipelines/execution/summary", json={"filterType": "PipelineExecution"})
    data = page.json()["data"]
    assert {
        "content",
        "pageable",
        "last",
        "totalPages",
        "totalElements",
        "first",
        "number",
        "sort",
        "numberOfElements",
        "size",
        "empty",
    } == set(data)
    assert data["totalElements"] == 3 and data["size"] == 10
    assert [e["planExecutionId"] for e in data["content"]] == [newest, bad, ok]  # startTs DESC
    only_two = api.post(
        "/pipeline/api/pipelines/execution/summary", params={"pipelineIdentifier": "two"}, json={}
    ).json()["data"]
    assert {e["planExecutionId"] for e in only_two["content"]} == {ok, newest}
    failed = api.post(
        "/pipeline/api/pipelines/execution/summary",
        json={"filterType": "PipelineExecution", "status": ["Failed"]},
    ).json()["data"]
    assert [e["planExecutionId"] for e in failed["content"]] == [bad]
    query_status = api.post("/pipeline/api/pipelines/execution/summary", params={"status": "Success"}).json()[
        "data"
    ]
    assert query_status["totalElements"] == 2
    searched = api.post("/pipeline/api/pipelines/execution/summary", params={"searchTerm": "FAIL"}).json()[
        "data"
    ]
    assert [e["pipelineIdentifier"] for e in searched["content"]] == ["failing"]
    paged = api.post("/pipeline/api/pipelines/execution/summary", params={"size": 2, "page": 1}).json()[
        "data"
    ]
    assert (paged["numberOfElements"], paged["last"], paged["first"]) == (1, True, False)
    too_big = api.post("/pipeline/api/pipelines/execution/summary", params={"size": 1001})
    assert too_big.status_code == 400 and too_big.json()["code"] == "INVALID_REQUEST"

    marked = [e for e in data["content"] if e["notesExistForPlanExecutionId"]]
    assert [e["planExecutionId"] for e in marked] == [ok]
    notes = api.get(f"/pipeline/api/pipelines/execution/{ok}/notes").json()["data"]
    assert notes == {"notes": "airflow:dag=d1:run=r1"}
    api.put(
        f"/pipeline/api/pipelines/execution/{newest}/notes", params={"notesForPipelineExecution": "later"}
    )
    assert api.summary(newest)["notesExistForPlanExecutionId"] is True


def test_approval_waits_for_a_decision(api: Api) -> None:
    approval = step("gate", "HarnessApproval", {"approvers": {"userGroups": ["account.admin"]}}, timeout="1d")
    text = pipeline_yaml(
        "gated", [stage("approve", [approval], "Approval"), stage("go", [shell("go", "echo go")])]
    )
    api.create_pipeline(text)
    approved = api.run("gated")
    waiting = api.wait(approved, {"ApprovalWaiting"})
    assert next(iter(waiting["layoutNodeMap"].values()))["status"] == "ApprovalWaiting"
    assert api.handle.approve(approved, comments="lgtm")["approved"] is True
    assert api.wait(approved)["status"] == "Success"

    rejected = api.run("gated")
    api.wait(rejected, {"ApprovalWaiting"})
    api.handle.reject(rejected, step="gate")
    summary = api.wait(rejected)
    assert summary["status"] == "ApprovalRejected"
    assert ENGINE_TO_DISPLAY["APPROVAL_REJECTED"] == summary["status"]


def test_wait_step_and_timeout_expiry(api: Api) -> None:
    text = pipeline_yaml(
        "waits",
        [stage("s", [step("pause", "Wait", {"duration": "5s"}), shell("slow", "sleep 100", timeout="2s")])],
    )
    api.create_pipeline(text)
    execution = api.run("waits")
    summary = api.wait(execution)
    assert summary["status"] == "Expired"
    assert summary["failureInfo"]["failureTypeList"] == ["TIMEOUT_ERROR"]


def test_pipeline_summary_shows_last_execution(api: Api) -> None:
    api.create_pipeline(TWO_STAGES)
    execution = api.run("two")
    api.wait(execution)
    listed = api.post("/pipeline/api/pipelines/list", json={"filterType": "PipelineSetup"}).json()["data"]
    item = listed["content"][0]
    assert item["identifier"] == "two" and item["numOfStages"] == 2
    assert item["executionSummaryInfo"]["lastExecutionId"] == execution
    assert item["executionSummaryInfo"]["lastExecutionStatus"] == "Success"
    assert api.handle.execution_count("two") == 1
