"""Log service: token, blob (NDJSON), stream (SSE), download; with and without /gateway."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx
import pytest
from emulator_kit import Api, pipeline_yaml, shell, stage, step

SCRIPT = "echo first line\nsleep 20\necho second line\nsleep 20\necho third line"


def _step_key(api: Api, execution: str, identifier: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        graph = api.get(
            f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
        ).json()["data"]["executionGraph"]
        for node in graph["nodeMap"].values():
            if node["identifier"] == identifier:
                return str(node["logBaseKey"])
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture
def talking(api: Api) -> tuple[str, str]:
    api.create_pipeline(pipeline_yaml("talk", [stage("s", [shell("speak", SCRIPT)])]))
    execution = api.run("talk")
    return execution, _step_key(api, execution, "speak")


@pytest.fixture
def held(api: Api) -> tuple[str, str]:
    """An execution whose approval step "gate" runs (and logs) until the test approves it: "the step is
    still running" is a state the test controls, not a race against a time-scaled sleep."""
    gate = step("gate", "HarnessApproval", {"approvers": {"userGroups": ["account.admin"]}}, timeout="1d")
    api.create_pipeline(pipeline_yaml("held", [stage("s", [gate], "Approval")]))
    execution = api.run("held")
    api.wait(execution, {"ApprovalWaiting"})
    return execution, _step_key(api, execution, "gate")


def test_token_is_plain_text_and_works_instead_of_the_key(api: Api, talking: tuple[str, str]) -> None:
    execution, key = talking
    base = api.handle.base_url
    account = api.handle.account_id
    token = httpx.get(
        f"{base}/gateway/log-service/token",
        params={"accountID": account},
        headers={"x-api-key": api.handle.api_key},
    )
    assert token.status_code == 200 and token.headers["content-type"].startswith("text/plain")
    assert token.text and "{" not in token.text
    api.wait(execution)
    blob = httpx.get(
        f"{base}/log-service/blob",
        params={"accountID": account, "key": key},
        headers={"X-Harness-Token": token.text},
    )
    assert blob.status_code == 200
    denied = httpx.get(
        f"{base}/log-service/blob",
        params={"accountID": account, "key": key},
        headers={"X-Harness-Token": "bad"},
    )
    assert denied.status_code == 403 and "error_msg" in denied.json()
    no_token = httpx.get(f"{base}/log-service/token", params={"accountID": account})
    assert no_token.status_code == 403
    no_account = httpx.get(
        f"{base}/log-service/blob", params={"key": key}, headers={"x-api-key": api.handle.api_key}
    )
    assert no_account.status_code == 400
    assert no_account.json() == {"error_msg": "no account ID in query params"}


def test_blob_is_404_while_the_step_runs(api: Api, held: tuple[str, str]) -> None:
    execution, key = held
    params = {"accountID": api.handle.account_id, "key": key}
    running = api.client.get("/gateway/log-service/blob", params=params)
    assert running.status_code == 404 and "error_msg" in running.json()
    api.handle.approve(execution)
    api.wait(execution)
    done = api.client.get("/gateway/log-service/blob", params=params)
    assert done.status_code == 200 and "Approval approved" in done.text


def test_blob_is_ndjson_after_the_step(api: Api, talking: tuple[str, str]) -> None:
    execution, key = talking
    params = {"accountID": api.handle.account_id, "key": key}
    api.wait(execution)
    blob = api.client.get("/gateway/log-service/blob", params=params)
    lines = [json.loads(line) for line in blob.text.splitlines()]
    outputs = [line["out"] for line in lines]
    assert [out for out in outputs if "line" in out] == ["first line\n", "second line\n", "third line\n"]
    assert outputs[-1] == "Command completed with ExitCode (0)\n"
    assert [line["pos"] for line in lines] == list(range(len(lines)))
    assert all(set(line) == {"level", "pos", "out", "time", "args"} for line in lines)
    assert lines[0]["time"].endswith("Z")
    same = api.client.get("/log-service/blob", params=params)
    assert same.text == blob.text


def test_stream_is_sse_until_eof(api: Api, held: tuple[str, str]) -> None:
    """Lines written while the stream is open arrive live; the step's end closes it with ``eof``."""
    execution, key = held
    events: list[str] = []
    with api.client.stream(
        "GET", "/gateway/log-service/stream", params={"accountID": api.handle.account_id, "key": key}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            events.append(line)
            if "waiting for a decision" in line:  # the running step's line: now end the step
                api.handle.approve(execution, comments="ship it")
            if line == "data: eof":
                break
    assert events[0] == ": ping"
    data = [json.loads(line[6:]) for line in events if line.startswith("data: {")]
    assert [d["out"] for d in data] == [
        "Approval is waiting for a decision (approve or reject via the emulator)\n",
        "Approval approved: ship it\n",
    ]
    assert [d["pos"] for d in data] == [0, 1]
    assert events[-2:] == ["event: error", "data: eof"]


def test_stream_of_a_finished_step_ends_at_once(api: Api, talking: tuple[str, str]) -> None:
    execution, key = talking
    api.wait(execution)
    response = api.client.get("/log-service/stream", params={"accountID": api.handle.account_id, "key": key})
    assert response.text.split("\n\n")[:2] == [": ping", "event: error\ndata: eof"]


def test_download_links_a_zip_of_the_execution(api: Api, talking: tuple[str, str]) -> None:
    execution, key = talking
    api.wait(execution)
    prefix = key.split("/level1:")[0]
    params = {"accountID": api.handle.account_id, "prefix": prefix}
    first = api.client.post("/gateway/log-service/blob/download", params=params).json()
    second = api.client.post("/gateway/log-service/blob/download", params=params).json()
    assert set(first) == {"link", "status", "expires", "message"}
    assert (first["status"], second["status"]) == ("queued", "success")
    archive = httpx.get(second["link"])
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        names = zipped.namelist()
        assert f"{key}.log" in names
        assert "third line" in zipped.read(f"{key}.log").decode()
