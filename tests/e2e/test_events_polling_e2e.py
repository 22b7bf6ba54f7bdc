"""Harness execution events by polling, in a real Airflow 3 against the emulator.

* live Airflow (``live_airflow``): the example DAG ``harness_after_deploy`` is scheduled on a
  ``harness://`` asset whose watcher is ``HarnessExecutionEventTrigger``, running in a real triggerer.
  Executions ending in the emulator become asset events and DAG runs. The triggerer is stopped while
  executions end and started again: every execution must become exactly one asset event (none lost,
  none repeated). The watermark is read back where the trigger keeps it: the asset state store on
  Airflow 3.3+, an Airflow Variable on 3.0 - 3.2 (the same test runs on both ends).
* ``dag.test()`` (``run_dag``): the example's deferrable ``HarnessExecutionOutcomeSensor`` runs through the
  real ``HarnessExecutionOutcomeTrigger`` (kwargs serialized -> re-instantiated; the event resumes it).

Every wait is for a state (asset events, a stored watermark, a number of polls), never a duration.
"""

from __future__ import annotations

import contextlib
import json
import runpy
import sqlite3
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "harness_poll_for_deploys.py"
AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])
LIST_PATH = "/pipeline/api/pipelines/execution/summary"
WATERMARK_PREFIX = "harness_event_watermark."


def pipeline(pipeline_id: str, steps: list[dict[str, Any]]) -> str:
    spec = {"execution": {"steps": steps}}
    stage = {"stage": {"name": "work", "identifier": "work", "type": "Custom", "spec": spec}}
    body = {
        "name": pipeline_id,
        "identifier": pipeline_id,
        "orgIdentifier": "default",
        "projectIdentifier": "emulator_project",
        "stages": [stage],
    }
    return json.dumps({"pipeline": body})


ECHO = {
    "step": {
        "name": "deploy",
        "identifier": "deploy",
        "type": "ShellScript",
        "spec": {"shell": "Bash", "source": {"type": "Inline", "spec": {"script": "echo deployed"}}},
    }
}
APPROVAL = {
    "step": {
        "name": "hold",
        "identifier": "hold",
        "type": "HarnessApproval",
        "timeout": "1d",
        "spec": {"approvers": {"userGroups": ["account.admin"], "minimumCount": 1}},
    }
}


def wait_until(condition: Callable[[], bool], what: str, timeout: float, live: Any = None) -> None:
    """Poll ``condition`` (every 0.5 s) until true; with ``live``, fail early if a component died."""
    deadline = time.monotonic() + timeout
    while not condition():
        if live is not None:
            live.check_alive()
        if time.monotonic() > deadline:
            details = f"\n{live.diagnostics()}" if live is not None else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{details}")
        time.sleep(0.5)


# ---- the live Airflow ------------------------------------------------------------------------------


PIPELINE = "polled_service"


def example_source(account_id: str, poll_seconds: str) -> str:
    source = EXAMPLE.read_text()
    for old, new in [
        ('os.environ.get("HARNESS_ACCOUNT_ID", "YOUR_ACCOUNT_ID")', repr(account_id)),
        ('os.environ.get("HARNESS_EXAMPLE_PROJECT_ID", "payments")', '"emulator_project"'),
        ('float(os.environ.get("HARNESS_EXAMPLE_POLL_SECONDS", "60"))', poll_seconds),
        # Its own asset: the inbound e2e's DAGs, still in the session's DAGs folder, declare the
        # deploy_service asset without a watcher.
        ('/{PROJECT_ID}/deploy_service"', f'/{{PROJECT_ID}}/{PIPELINE}"'),
    ]:
        assert old in source, old
        source = source.replace(old, new)
    return source


class AssetView:
    """The watched asset: its events (read from the live Airflow's metadata DB) and the watcher's stored
    watermark (public REST API).

    Asset events are read from the DB because ``GET /api/v2/assets/events`` answers 500 on Airflow 3.3.2
    while an asset-triggered run is queued (``created_dagruns.start_date`` is None), which takes the
    single-worker api-server of ``live_airflow`` down with it.
    """

    def __init__(self, live: Any, uri: str) -> None:
        self.live = live
        self.uri = uri
        self.id: int | None = None

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        db = self.live.home / "airflow.db"
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
            return conn.execute(sql, args).fetchall()

    def find(self) -> bool:
        rows = self._rows("SELECT id FROM asset WHERE uri = ?", self.uri)
        self.id = rows[0][0] if rows else None
        return self.id is not None

    def execution_ids(self) -> list[str]:
        """``planExecutionId`` of every asset event, oldest first (repeats kept)."""
        rows = self._rows("SELECT extra FROM asset_event WHERE asset_id = ? ORDER BY id", self.id)
        extras = [json.loads(extra) if isinstance(extra, str) else extra for (extra,) in rows]
        return [(e or {}).get("payload", {}).get("planExecutionId") for e in extras]

    def watermark(self) -> dict[str, Any] | None:
        """The watcher's stored watermark: asset state store (3.3+) or Airflow Variable (3.0 - 3.2)."""
        if AIRFLOW_VERSION >= (3, 3):
            entries = self.live.api("GET", f"/api/v2/assets/{self.id}/state-store").json()
            values = [
                e["value"] for e in entries["asset_state_store"] if e["key"].startswith(WATERMARK_PREFIX)
            ]
        else:
            variables = self.live.api("GET", "/api/v2/variables", params={"limit": 100}).json()["variables"]
            values = [json.loads(v["value"]) for v in variables if v["key"].startswith(WATERMARK_PREFIX)]
        assert len(values) <= 1, values
        return values[0] if values else None

    def committed(self, execution_ids: list[str]) -> bool:
        mark = self.watermark()
        seen = {pair[0] for pair in (mark or {}).get("seen", [])}
        return set(execution_ids) <= seen


def watcher_triggers(asset: AssetView) -> int:
    """How many polling watcher triggers the metadata DB holds."""
    sql = "SELECT count(*) FROM trigger WHERE classpath LIKE '%.HarnessExecutionEventTrigger'"
    return int(asset._rows(sql)[0][0])


def cleanup(live: Any, dag_file: Path, asset: AssetView) -> None:
    """Pause the DAGs - the dag-processor then drops the watcher and Airflow deletes its trigger, so the
    triggerer stops polling - and remove them: later tests share this live Airflow and the emulator."""
    for dag_id in ("harness_after_deploy", "harness_wait_for_release"):
        with contextlib.suppress(RuntimeError):
            live.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})
    try:
        wait_until(lambda: watcher_triggers(asset) == 0, "the paused DAG's watcher to go", 120, live)
    finally:
        dag_file.unlink(missing_ok=True)
        for dag_id in ("harness_after_deploy", "harness_wait_for_release"):
            with contextlib.suppress(RuntimeError):
                live.api("DELETE", f"/api/v2/dags/{dag_id}")


def reported_by_runs(live: Any, dag_id: str) -> list[str]:
    """The execution ids the finished runs of ``dag_id`` reported (XCom of ``smoke_test``), all runs."""
    runs = live.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100}).json()["dag_runs"]
    reported: list[str] = []
    for run in runs:
        if run["state"] != "success":
            continue
        task = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/smoke_test"
        value = live.api("GET", f"{task}/xcomEntries/return_value").json()["value"]
        reported.extend(json.loads(value) if isinstance(value, str) else value)
    return reported


def test_live_watcher_turns_executions_into_asset_events_across_a_triggerer_restart(
    live_airflow: Any, live_harness_connection: Any
) -> None:
    emulator = live_harness_connection
    emulator.create_pipeline(pipeline(PIPELINE, [ECHO]))
    uri = f"harness://{emulator.account_id}/default/emulator_project/{PIPELINE}"
    dag_file = live_airflow.add_dag_file(
        example_source(emulator.account_id, "1.0"), "harness_poll_for_deploys.py"
    )
    asset = AssetView(live_airflow, uri)
    try:
        live_airflow.wait_for_dag("harness_after_deploy", timeout=120)
        wait_until(asset.find, "the asset to be registered", 120, live_airflow)
        # The watcher runs in the triggerer once its first watermark is stored (everything that ends
        # from then on is emitted).
        wait_until(lambda: asset.watermark() is not None, "the watcher's first watermark", 120, live_airflow)

        before = [emulator.execute(PIPELINE) for _ in range(2)]
        wait_until(
            lambda: set(before) <= set(asset.execution_ids()), "asset events for batch 1", 120, live_airflow
        )
        wait_until(lambda: asset.committed(before), "the watermark to include batch 1", 60, live_airflow)

        live_airflow.stop_component("triggerer")
        while_down = [emulator.execute(PIPELINE) for _ in range(2)]
        for execution_id in while_down:
            emulator.wait_for_status(execution_id)
        assert not set(while_down) & set(asset.execution_ids())
        assert live_airflow.ensure_running() == ["triggerer"]

        wait_until(
            lambda: set(while_down) <= set(asset.execution_ids()),
            "asset events for the executions that ended while no triggerer ran",
            180,
            live_airflow,
        )
        after = [emulator.execute(PIPELINE)]
        wait_until(
            lambda: set(after) <= set(asset.execution_ids()), "the asset event after", 120, live_airflow
        )
        everything = before + while_down + after
        wait_until(lambda: asset.committed(everything), "the watermark to include all", 60, live_airflow)
        polls = emulator.request_count(LIST_PATH, "POST")
        wait_until(
            lambda: emulator.request_count(LIST_PATH, "POST") >= polls + 3, "3 more polls", 60, live_airflow
        )

        emitted = asset.execution_ids()
        assert sorted(emitted) == sorted(everything), emitted  # each exactly once: none lost, none repeated
        wait_until(
            lambda: sorted(reported_by_runs(live_airflow, "harness_after_deploy")) == sorted(everything),
            "DAG runs to report every execution",
            180,
            live_airflow,
        )
        reported = reported_by_runs(live_airflow, "harness_after_deploy")
        assert len(reported) == len(set(reported)) == 5  # no event reached two runs
        triggerer_log = (live_airflow.home / "triggerer.log").read_text(errors="replace")
        assert emulator.api_key not in triggerer_log
    finally:
        cleanup(live_airflow, dag_file, asset)


# ---- dag.test() ------------------------------------------------------------------------------------


def load_wait_dag(monkeypatch: pytest.MonkeyPatch, account_id: str) -> Any:
    monkeypatch.setenv("HARNESS_ACCOUNT_ID", account_id)
    monkeypatch.setenv("HARNESS_EXAMPLE_PROJECT_ID", "emulator_project")
    monkeypatch.setenv("HARNESS_EXAMPLE_POLL_SECONDS", "0.2")
    return runpy.run_path(str(EXAMPLE), run_name="example_harness_poll_for_deploys")["wait_dag"]


def decide_after_polls(emulator: Any, execution_id: str, polls: int, action: str) -> threading.Thread:
    """Approve/reject ``execution_id`` once the list was read ``polls`` times (the sensor is waiting)."""

    def act() -> None:
        deadline = time.monotonic() + 120
        while emulator.request_count(LIST_PATH, "POST") < polls and time.monotonic() < deadline:
            time.sleep(0.05)
        getattr(emulator, action)(execution_id)

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


def test_dag_test_outcome_sensor_defers_through_the_real_trigger(
    run_dag: Any, harness_connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = harness_connection
    emulator.create_pipeline(pipeline("release", [APPROVAL, ECHO]))
    dag = load_wait_dag(monkeypatch, emulator.account_id)
    execution_id = emulator.execute("release")  # waits for its approval
    emulator.clear_counters()
    # One list call by the poke before deferring, then the trigger's: approve once the trigger polled.
    approver = decide_after_polls(emulator, execution_id, 3, "approve")

    result = run_dag(dag)
    approver.join(timeout=5)

    assert result.state == "success", result.output[-3000:]
    assert result.task_states == {"released": "success", "announce": "success"}
    payload = result.xcom("released")
    assert payload["planExecutionId"] == execution_id and payload["eventType"] == "PipelineSuccess"
    assert payload["source"] == "poll" and payload["nodeStatus"] == "completed"
    assert result.xcom("released", key="execution_id") == execution_id
    assert result.xcom("announce") == execution_id
    assert emulator.request_count(LIST_PATH, "POST") >= 3
    assert emulator.request_count("/pipeline/api/pipelines/execution/v2", "GET") == 0
    assert emulator.api_key not in result.output


def test_dag_test_outcome_sensor_fails_on_a_fail_status(
    run_dag: Any, harness_connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = harness_connection
    emulator.create_pipeline(pipeline("release", [APPROVAL, ECHO]))
    dag = load_wait_dag(monkeypatch, emulator.account_id)
    execution_id = emulator.execute("release")
    emulator.clear_counters()
    rejecter = decide_after_polls(emulator, execution_id, 3, "reject")

    result = run_dag(dag)
    rejecter.join(timeout=5)

    assert result.state == "failed"
    assert result.task_states["released"] == "failed"
    # (Airflow 3.0 prints the exception in a wrapped rich box: look for its parts.)
    assert execution_id in result.output and "of release ended ApprovalRejected" in result.output
