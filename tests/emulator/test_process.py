"""The emulator as a program: CLI start-up time, persistence across a restart, the plugin's helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
from emulator_kit import Api, pipeline_yaml, shell, stage

from airflow_provider_harness.emulator.server import EmulatorHandle, run_emulator


def test_cli_starts_in_under_two_seconds() -> None:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_harness.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert "listening on http://127.0.0.1:" in line
        base_url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(f"{base_url}/_emulator/health", timeout=5) as response:
            assert json.loads(response.read())["status"] == "ok"
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"start-up took {elapsed:.2f}s"
        unauthorized = httpx.get(
            f"{base_url}/ng/api/organizations", params={"accountIdentifier": "emulatoraccount"}
        )
        assert unauthorized.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert b"Traceback" not in (process.stderr.read() if process.stderr else b"")


def test_cli_help_is_fast() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_harness.emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert time.monotonic() - started < 2.0
    for flag in (
        "--port",
        "--state-file",
        "--time-scale",
        "--rate-limit",
        "--legacy-interrupts",
        "--seed",
        "--fault",
    ):
        assert flag in result.stdout


def test_state_survives_a_restart_and_running_executions_continue(tmp_path: Path) -> None:
    state = tmp_path / "state" / "harness.json"
    secret_value = "topsecret-value-9f2"
    text = pipeline_yaml("durable", [stage("s", [shell("long", "echo before\nsleep 150\necho after")])])
    with run_emulator(mode="process", state_file=state, time_scale=0.01) as harness:
        api = Api(harness)
        api.create_pipeline(text)
        secret = {
            "secret": {
                "type": "SecretText",
                "name": "db",
                "identifier": "db",
                "orgIdentifier": "default",
                "projectIdentifier": "emulator_project",
                "spec": {
                    "secretManagerIdentifier": "harnessSecretManager",
                    "valueType": "Inline",
                    "value": secret_value,
                },
            }
        }
        assert api.post("/ng/api/v2/secrets", json=secret).status_code == 200
        execution = api.run("durable", notesForPipelineExecution="marker-123")
        api.wait(execution, lambda s: s["runningStagesCount"] == 1)
        time.sleep(0.1)
    saved = state.read_text()
    assert "durable" in saved and secret_value not in saved
    persisted = {e["id"]: e for e in json.loads(saved)["executions"]}
    assert persisted[execution]["status"] == "Running"  # stopped mid-step

    with run_emulator(mode="process", state_file=state, time_scale=0.01) as harness:
        api = Api(harness)
        done = api.wait(execution, timeout=10)
        assert done["status"] == "Success"
        graph = api.get(
            f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
        ).json()["data"]["executionGraph"]
        key = next(n["logBaseKey"] for n in graph["nodeMap"].values() if n["identifier"] == "long")
        blob = api.client.get("/log-service/blob", params={"accountID": harness.account_id, "key": key}).text
        assert (blob.count("before"), blob.count("after")) == (1, 1)  # resumed, not restarted
        assert (
            api.get(f"/pipeline/api/pipelines/execution/{execution}/notes").json()["data"]["notes"]
            == "marker-123"
        )
        assert api.get("/ng/api/v2/secrets/db").json()["data"]["secret"]["spec"]["value"] is None
        assert api.execute("durable").json()["data"]["planExecution"]["metadata"]["runSequence"] == 2
        assert api.post("/pipeline/api/pipelines/v2", content=text).json()["code"] == "DUPLICATE_FIELD"


def test_seed_demo_and_extra_projects() -> None:
    with run_emulator(seed="demo", project_id="other_project", time_scale=0.01) as harness:
        api = Api(harness)
        demo = api.get("/pipeline/api/pipelines/hello", params={"projectIdentifier": "demo_project"})
        assert demo.status_code == 200 and "pipeline:" in demo.json()["data"]["yamlPipeline"]
        demo_api = Api(
            EmulatorHandle(harness.base_url, harness.account_id, harness.api_key, "default", "demo_project")
        )
        runs = {pipeline: demo_api.run(pipeline) for pipeline in ("hello", "flaky", "gated")}
        assert demo_api.wait(runs["hello"])["status"] == "Success"
        assert demo_api.wait(runs["flaky"])["status"] == "Failed"
        assert demo_api.wait(runs["gated"], {"ApprovalWaiting"})["status"] == "ApprovalWaiting"
        assert (
            api.get("/ng/api/projects/other_project", params={"projectIdentifier": None}).status_code == 200
        )


def test_handle_connection_builders_do_not_need_airflow(harness_emulator: EmulatorHandle) -> None:
    conn = json.loads(harness_emulator.connection_json())
    assert conn == {
        "conn_type": "harness",
        "host": harness_emulator.base_url,
        "password": harness_emulator.api_key,
        "extra": {"account_id": "emulatoraccount", "org_id": "default", "project_id": "emulator_project"},
    }
    uri = harness_emulator.connection_uri()
    assert uri.startswith("harness://http://:pat.emulatoraccount.emulator.token@127.0.0.1:")
    assert uri.endswith("/?account_id=emulatoraccount&org_id=default&project_id=emulator_project")
    assert list(harness_emulator.airflow_env()) == ["AIRFLOW_CONN_HARNESS_DEFAULT"]


def test_emulator_and_plugin_never_import_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_harness.emulator.pytest_plugin, airflow_provider_harness.emulator.server\n"
        "from airflow_provider_harness.emulator.app import Emulator\n"
        "Emulator()\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_handle_helpers_run_a_pipeline(harness_emulator: EmulatorHandle) -> None:
    harness_emulator.create_pipeline(pipeline_yaml("quick", [stage("s", [shell("hi", "echo hi")])]))
    execution = harness_emulator.execute("quick", notes="n1")
    assert harness_emulator.wait_for_status(execution)["status"] == "Success"
    assert harness_emulator.execution_count("quick") == 1
    assert harness_emulator.request_count("/pipeline/api/pipeline/execute/quick", "POST") == 1
