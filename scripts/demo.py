"""The demo behind ``bash scripts/demo.sh``: the example DAGs in a real Airflow against the Harness emulator.

1. a temporary ``AIRFLOW_HOME`` with a sqlite DB (``airflow db migrate``), DAGs folder = ``example_dags/``
2. the embedded Harness emulator on 127.0.0.1; ``AIRFLOW_CONN_HARNESS_DEFAULT`` points at it
3. the demo pipelines ``deploy_service`` and ``smoke_tests``, created through the provider's own hook and
   resource ``apply`` (the same code ``HarnessApplyResourceOperator`` runs)
4. every example DAG run with ``dag.test()`` (tasks and triggers in this process), or with ``--live`` by a
   real api-server + scheduler + dag-processor + triggerer (the e2e harness of tests/e2e/conftest.py)
5. a summary: per DAG and task the state, Harness execution ids and URLs, and what the emulator saw.

Offline (127.0.0.1 only); Airflow's own output goes to ``<home>/airflow-output.log``.

    python scripts/demo.py [--live] [--keep] [--home DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "example_dags"
SECRET_VALUE = "demo-only-db-password"  # the bootstrap DAG's secret; must appear in no output
#: (dag_id, run_id, state, seconds, [(task_id, state, what it did)])
RunResult = tuple[str, str, str, float, list[tuple[str, str, str]]]

PIPELINE = """\
pipeline:
  name: {name}
  identifier: {identifier}
  orgIdentifier: default
  projectIdentifier: {project}
{variables}  stages:
{stages}"""
STAGE = """\
    - stage:
        name: {name}
        identifier: {identifier}
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: {name} step
                  identifier: {identifier}_step
                  type: ShellScript
                  spec:
                    shell: Bash
                    source:
                      type: Inline
                      spec:
                        script: "{script}"
"""


def pipeline_yaml(identifier: str, project: str, stages: list[tuple[str, str]], variables: str = "") -> str:
    body = "".join(STAGE.format(name=s.title(), identifier=s, script=script) for s, script in stages)
    return PIPELINE.format(
        name=identifier, identifier=identifier, project=project, variables=variables, stages=body
    )


def demo_pipelines(project: str) -> list[str]:
    image_tag = "  variables:\n    - name: image_tag\n      type: String\n      value: <+input>\n"
    return [
        pipeline_yaml(
            "deploy_service",
            project,
            [
                ("build", "echo building image <+pipeline.variables.image_tag>\\nsleep 20"),
                ("deploy", "echo deploying <+pipeline.variables.image_tag>\\nsleep 20"),
            ],
            image_tag,
        ),
        pipeline_yaml("smoke_tests", project, [("smoke", "echo running smoke tests\\nsleep 10")]),
    ]


# ---------------------------------------------------------------------------------------------- setup


def configure_airflow(home: Path) -> None:
    """Airflow reads these when first imported: call before anything imports airflow."""
    (home / "logs").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "HARNESS_EXAMPLE_POLL_SECONDS": "0.2",  # the example DAGs poll every 0.2 s instead of 30 s
            "HARNESS_BOOTSTRAP_DB_PASSWORD": SECRET_VALUE,
        }
    )


def migrate_db() -> None:
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def create_demo_pipelines(project: str) -> list[str]:
    """Create (or leave unchanged) the demo pipelines with the provider's hook and resource apply."""
    from airflow_provider_harness.client import resources
    from airflow_provider_harness.hooks.harness import HarnessHook

    hook = HarnessHook("harness_default")
    client = hook.get_client()
    lines = []
    for text in demo_pipelines(project):
        result = resources.apply(client, resources.parse_spec(text, hook.config))
        lines.append(f"{result.action} pipeline {result.identifier}")
    return lines


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """Send everything written to stdout/stderr (fd level: Airflow's loggers too) to ``log_path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# ------------------------------------------------------------------------------------------ DAG runs


def demo_runs(started: datetime) -> list[tuple[str, dict[str, Any]]]:
    """(example DAG file, run conf) in the order the demo runs them."""
    return [
        ("harness_bootstrap_project.py", {}),
        ("harness_run_pipeline.py", {"image_tag": "2.5.1"}),
        # Waits for a deploy_service execution that succeeded after the demo started: the one above.
        ("harness_cross_system_wait.py", {"after": started.isoformat()}),
    ]


def task_summary(dag_id: str, run_id: str) -> list[tuple[str, str, str]]:
    """``(task_id, state, what it did)`` from the metadata DB and XCom."""
    from airflow.models import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    rows = []
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one()
        xcoms: dict[tuple[str, str], Any] = {}
        for row in session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id):
            xcoms[(row.task_id, row.key)] = XComModel.deserialize_value(row)
        tis = sorted(run.get_task_instances(session=session), key=lambda ti: ti.start_date or run.start_date)
        for ti in tis:
            rows.append((ti.task_id, str(ti.state), describe(ti.task_id, xcoms)))
    return rows


def describe(task_id: str, xcoms: dict[tuple[str, str], Any]) -> str:
    execution_id = xcoms.get((task_id, "execution_id"))
    if execution_id:
        return f"Harness execution {execution_id}  {xcoms.get((task_id, 'execution_url'), '')}".rstrip()
    value = xcoms.get((task_id, "return_value"))
    if isinstance(value, dict) and "action" in value:
        return f"{value['action']} {value.get('kind', '')} {value.get('identifier', '')}".strip()
    if isinstance(value, dict) and value.get("deleted") is not None:
        return f"deleted {value.get('kind', '')} {value.get('identifier', '')}".strip()
    if isinstance(value, list):
        return f"found {', '.join(map(str, value))}"
    return "" if value is None else f"returned {value}"


def run_with_dag_test(file_name: str, conf: dict[str, Any], log_path: Path) -> tuple[str, str, str]:
    dag = runpy.run_path(str(EXAMPLES / file_name), run_name=Path(file_name).stem)["dag"]
    with output_to(log_path):
        dag_run = dag.test(run_conf=conf)
    return dag.dag_id, dag_run.run_id, str(dag_run.state)


# ---------------------------------------------------------------------------------------------- main


def print_summary(results: list[RunResult], harness: Any) -> None:
    print("\n" + "=" * 100)
    for dag_id, run_id, state, seconds, tasks in results:
        print(f"{dag_id}  ->  {state.upper()}  ({seconds:.1f} s, run {run_id})")
        for task_id, task_state, what in tasks:
            print(f"    {task_id:<24} {task_state:<16} {what}")
    print("-" * 100)
    executions = harness.executions()
    by_pipeline = Counter((e.get("pipelineIdentifier"), e.get("status")) for e in executions)
    requests = harness.request_count()
    print(f"Emulator at {harness.base_url}: {len(executions)} executions, {requests} API requests")
    for (pipeline, status), count in sorted(by_pipeline.items()):
        print(f"    {pipeline:<24} {status:<16} x{count}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live", action="store_true", help="run the DAGs in a live scheduler + triggerer")
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME (logs, DB)")
    parser.add_argument("--home", help="AIRFLOW_HOME to use (kept); default: a new temporary folder")
    parser.add_argument("--time-scale", type=float, default=0.05, help="emulator wall s per emulated s")
    args = parser.parse_args()

    try:
        from airflow_provider_harness.emulator import run_emulator
    except ImportError as exc:
        print(f"demo: the Harness emulator is not available yet ({exc}); nothing to demo.")
        return 0

    home = Path(args.home).resolve() if args.home else Path(tempfile.mkdtemp(prefix="harness-demo-"))
    configure_airflow(home)
    log_path = home / "airflow-output.log"
    started = datetime.now(UTC)
    t0 = time.monotonic()
    print(f"AIRFLOW_HOME {home} (Airflow output: {log_path})")
    print("airflow db migrate ...", flush=True)
    migrate_db()
    print(f"    done in {time.monotonic() - t0:.1f} s")
    status = 0
    try:
        with run_emulator(time_scale=args.time_scale) as harness:
            os.environ.update(harness.airflow_env())
            print(f"Harness emulator on {harness.base_url} (account {harness.account_id}); demo pipelines:")
            with output_to(log_path):
                created = create_demo_pipelines(harness.project_id)
            for line in created:
                print(f"    {line}")
            runner = run_live if args.live else run_in_process
            results = runner(demo_runs(started), home, log_path, harness)
            print_summary(results, harness)
            status = 0 if all(state == "success" for _, _, state, _, _ in results) else 1
        if SECRET_VALUE in log_path.read_text(errors="replace"):
            print("demo: the bootstrap secret's value appeared in Airflow's output!")
            status = 1
    finally:
        if args.keep or args.home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    print(f"demo finished in {time.monotonic() - t0:.1f} s: {'OK' if status == 0 else 'FAILED'}")
    return status


def run_in_process(
    runs: list[tuple[str, dict[str, Any]]], home: Path, log_path: Path, harness: Any
) -> list[RunResult]:
    results = []
    for file_name, conf in runs:
        print(f"dag.test() {file_name} conf={conf} ...", flush=True)
        t = time.monotonic()
        dag_id, run_id, state = run_with_dag_test(file_name, conf, log_path)
        results.append((dag_id, run_id, state, time.monotonic() - t, task_summary(dag_id, run_id)))
        print(f"    {state} in {time.monotonic() - t:.1f} s")
    return results


def run_live(
    runs: list[tuple[str, dict[str, Any]]], home: Path, log_path: Path, harness: Any
) -> list[RunResult]:
    """The same runs in a real Airflow: api-server, scheduler (LocalExecutor), dag-processor, triggerer."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("e2e_harness", REPO / "tests" / "e2e" / "conftest.py")
    assert spec and spec.loader
    e2e = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = e2e
    spec.loader.exec_module(e2e)

    template = home / "migrated-template.db"
    shutil.copyfile(home / "airflow.db", template)
    live = e2e.LiveAirflow(home / "live", template)
    print("starting api-server, scheduler, dag-processor, triggerer ...", flush=True)
    try:
        print(f"    up in {live.start():.1f} s; UI and API at {live.base_url} (logs in {live.home})")
        live.set_connection("harness_default", harness.connection_json())
        for file_name, _ in runs:
            live.add_dag_file(EXAMPLES / file_name)
        results = []
        for file_name, conf in runs:
            dag_id = Path(file_name).stem
            print(f"trigger {dag_id} conf={conf} ...", flush=True)
            t = time.monotonic()
            run_id = live.trigger(dag_id, conf=conf, timeout=120)
            state = live.wait_for_run(dag_id, run_id, timeout=300)
            tis = live.task_instances(dag_id, run_id)
            tasks = [
                (task_id, str(ti["state"]), live_xcoms(live, dag_id, run_id, task_id))
                for task_id, ti in tis.items()
            ]
            results.append((dag_id, run_id, state, time.monotonic() - t, tasks))
            print(f"    {state} in {time.monotonic() - t:.1f} s")
        return results
    finally:
        live.stop()


def live_xcoms(live: Any, dag_id: str, run_id: str, task_id: str) -> str:
    """``describe()`` of a task's XComs as the live API serves them."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries"
    xcoms = {}
    for entry in live.api("GET", path).json().get("xcom_entries", []):
        value = live.api("GET", f"{path}/{entry['key']}", params={"deserialize": "true"}).json()["value"]
        xcoms[(task_id, entry["key"])] = value
    return describe(task_id, xcoms)


if __name__ == "__main__":
    sys.exit(main())
