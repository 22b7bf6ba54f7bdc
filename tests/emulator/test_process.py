"""The emulator as a program: CLI start-up time, persistence across a restart, the plugin's helpers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
from emulator_kit import Api, pipeline_yaml, shell, stage

from airflow_provider_harness.emulator.server import EmulatorHandle, run_emulator


def _reap(process: subprocess.Popen[bytes]) -> float:
    """Wait for ``process`` and return the CPU seconds it used (user + system).

    Start-up cost is judged by CPU time, not wall time: on a busy 2-core machine the wall time of the
    same start-up can be several times longer, its CPU time hardly changes.
    """
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return float(usage.ru_utime + usage.ru_stime)


@contextlib.contextmanager
def _cli(*args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m airflow_provider_harness.emulator --port 0 ARGS``: yields its base URL and process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_harness.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert "listening on http://127.0.0.1:" in line, line
        yield line.split("listening on ", 1)[1].split(" ", 1)[0], process
    finally:
        if process.returncode is None and process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_cli_starts_in_under_two_seconds_of_cpu() -> None:
    with _cli() as (base_url, process):
        with urllib.request.urlopen(f"{base_url}/_emulator/health", timeout=30) as response:
            assert json.loads(response.read())["status"] == "ok"
        unauthorized = httpx.get(
            f"{base_url}/ng/api/organizations", params={"accountIdentifier": "emulatoraccount"}
        )
        assert unauthorized.status_code == 401
        process.terminate()
        cpu = _reap(process)
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()
    assert cpu < 2.0, f"start-up, two requests and shut-down took {cpu:.2f}s of CPU"


def test_cli_help_is_fast() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_harness.emulator", "--help"], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    with process.stdout:
        stdout = process.stdout.read()  # until the process closes it (exits)
    cpu = _reap(process)
    assert process.returncode == 0
    assert cpu < 2.0, f"--help took {cpu:.2f}s of CPU"
    for flag in (
        "--port",
        "--state-file",
        "--time-scale",
        "--rate-limit",
        "--legacy-interrupts",
        "--seed",
        "--fault",
        "--no-default-project",
    ):
        assert flag in stdout.decode()


def test_cli_creates_the_default_project() -> None:
    """The documented connection (org default, project emulator_project) works without --project."""
    headers = {"x-api-key": "pat.emulatoraccount.emulator.token"}
    scope = {"accountIdentifier": "emulatoraccount", "orgIdentifier": "default"}
    with _cli() as (base_url, _):
        project = httpx.get(f"{base_url}/ng/api/projects/emulator_project", params=scope, headers=headers)
        assert project.status_code == 200, project.text
        assert project.json()["data"]["project"]["orgIdentifier"] == "default"
    with _cli("--project", "other/extra") as (base_url, _):
        for org, name in (("default", "emulator_project"), ("other", "extra")):
            found = httpx.get(
                f"{base_url}/ng/api/projects/{name}", params={**scope, "orgIdentifier": org}, headers=headers
            )
            assert found.status_code == 200, found.text
    with _cli("--no-default-project") as (base_url, _):
        missing = httpx.get(f"{base_url}/ng/api/projects/emulator_project", params=scope, headers=headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "ENTITY_NOT_FOUND")
    with run_emulator(mode="process", project_id=None) as harness:  # run_emulator decides, not the CLI
        status, _ = harness.request(
            "GET", "/ng/api/projects/emulator_project", params={"orgIdentifier": "default"}
        )
        assert status == 404


def _step_status(api: Api, execution: str, identifier: str) -> str | None:
    graph = api.get(
        f"/pipeline/api/pipelines/execution/v2/{execution}", params={"renderFullBottomGraph": "true"}
    ).json()["data"]["executionGraph"]
    return next((n["status"] for n in graph["nodeMap"].values() if n["identifier"] == identifier), None)


def test_state_survives_a_restart_and_running_executions_continue(tmp_path: Path) -> None:
    state = tmp_path / "state" / "harness.json"
    secret_value = "topsecret-value-9f2"
    # 100000 emulated seconds: 1000 s of wall time at 0.01, so the first emulator surely stops mid-step;
    # the second one runs at 0.00001, where the whole step is at most 1 s, whatever already passed.
    text = pipeline_yaml(
        "durable", [stage("s", [shell("long", "echo before\nsleep 100000\necho after", timeout="2d")])]
    )
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
        deadline = time.monotonic() + 30
        while _step_status(api, execution, "long") != "Running":  # "before" is logged by then
            assert time.monotonic() < deadline
            time.sleep(0.01)
    saved = state.read_text()
    assert "durable" in saved and secret_value not in saved
    persisted = {e["id"]: e for e in json.loads(saved)["executions"]}
    assert persisted[execution]["status"] == "Running"  # stopped mid-step

    with run_emulator(mode="process", state_file=state, time_scale=0.00001) as harness:
        api = Api(harness)
        done = api.wait(execution, timeout=60)
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
