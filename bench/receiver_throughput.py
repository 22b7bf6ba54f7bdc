"""Throughput of the Harness notification receiver: accepted events per second on 127.0.0.1.

Sets up a throw-away Airflow home (SQLite metadata DB, ``airflow db migrate``), writes one DAG scheduled
on ``harness://benchaccount/default/bench/deploy`` to it (as the dag-processor would), starts the
receiver app (``airflow_provider_harness.plugins.receiver:create_app``) under uvicorn in its own
process, and posts distinct ``PipelineSuccess`` notifications to it from ``--concurrency`` keep-alive
connections until ``--requests`` were sent or ``--seconds`` passed. ``--repeat-every N`` re-sends every
Nth notification (a Harness double delivery), which must be answered ``duplicate``.

Each accepted notification is a full store: connection lookup (cached), row lock, dedupe search,
``AssetManager.register_asset_change`` (asset event + a queued DAG run), commit. Airflow's API server adds
its middleware on top; SQLite serializes writes, so a PostgreSQL metadata DB behaves differently.

Usage::

    python bench/receiver_throughput.py                        # 2000 requests max, 20 s max, 8 connections
    python bench/receiver_throughput.py --requests 500 --concurrency 4 --repeat-every 10

Prints accepted events/s, duplicates, errors, latency percentiles, and the asset events in the DB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # loopback only
TOKEN = "bench-receiver-token-0123456789"
ACCOUNT, ORG, PROJECT, PIPELINE = "benchaccount", "default", "bench", "deploy"
DAG_ID = "bench_on_deploy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_HARNESS_EVENTS": json.dumps({"conn_type": "generic", "password": TOKEN}),
        }
    )
    return env


def prepare(home: Path) -> None:
    """Migrate the DB and write the DAG scheduled on the bench asset (in this process, env already set)."""
    (home / "dags").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    import inspect

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.models.dag import DagModel
    from airflow.sdk import DAG, Asset
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    from airflow_provider_harness.assets import harness_asset_uri

    with DAG(DAG_ID, schedule=[Asset(harness_asset_uri(ACCOUNT, ORG, PROJECT, PIPELINE))]) as dag:
        pass
    dag.relative_fileloc = "bench_on_deploy.py"
    if hasattr(LazyDeserializedDAG, "from_dag"):
        lazy = LazyDeserializedDAG.from_dag(dag)
    else:
        from airflow.serialization.serialized_objects import SerializedDAG

        lazy = LazyDeserializedDAG(data=SerializedDAG.to_dict(dag))
    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        if "parse_duration" in inspect.signature(update_dag_parsing_results_in_db).parameters:
            update_dag_parsing_results_in_db("dags-folder", None, [lazy], {}, None, set(), session=session)
        else:
            update_dag_parsing_results_in_db("dags-folder", None, [lazy], {}, set(), session=session)
        session.flush()
        session.query(DagModel).filter(DagModel.dag_id == DAG_ID).update({"is_paused": False})


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "airflow_provider_harness.plugins.receiver:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log = (home / "receiver.log").open("wb")
    return subprocess.Popen(command, env=airflow_env(home), stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the receiver exited {server.returncode}")
        try:
            if httpx.get(f"http://{HOST}:{port}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the receiver did not start")
        time.sleep(0.1)


def bodies(count: int, repeat_every: int) -> list[bytes]:
    """Distinct notifications; every ``repeat_every``-th one repeats the one before it."""
    now = int(time.time())
    out: list[bytes] = []
    for index in range(count):
        number = index - 1 if repeat_every and index and index % repeat_every == 0 else index
        data = {
            "accountIdentifier": ACCOUNT,
            "orgIdentifier": ORG,
            "projectIdentifier": PROJECT,
            "pipelineIdentifier": PIPELINE,
            "pipelineName": "Deploy",
            "planExecutionId": f"bench_{number:08d}",
            "eventType": "PipelineSuccess",
            "nodeStatus": "completed",
            "startTs": now - 60,
            "endTs": now - 1,
        }
        out.append(json.dumps({"eventData": data}).encode())
    return out


async def load(port: int, payloads: list[bytes], concurrency: int, seconds: float) -> dict[str, Any]:
    import httpx

    statuses: dict[int, int] = {}
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    stop_at = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json", "X-Harness-Webhook-Token": TOKEN}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits, timeout=60) as client:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                try:
                    payload = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                response = await client.post("/v1/notifications", content=payload, headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "elapsed": elapsed,
        "statuses": statuses,
        "p50": statistics.median(latencies) if latencies else None,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="at most this many requests (default 2000)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument(
        "--repeat-every", type=int, default=0, help="re-send every Nth notification (0 = never; default)"
    )
    args = parser.parse_args()
    if args.requests <= 0 or args.seconds <= 0 or args.concurrency <= 0:
        parser.error("--requests, --seconds and --concurrency must be positive")

    with tempfile.TemporaryDirectory(prefix="harness-receiver-bench-") as folder:
        home = Path(folder)
        os.environ.update(airflow_env(home))  # before Airflow is imported (prepare)
        prepare(home)
        port = free_port()
        server = start_server(home, port)
        try:
            wait_ready(port, server)
            result = asyncio.run(
                load(port, bodies(args.requests, args.repeat_every), args.concurrency, args.seconds)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        with sqlite3.connect(home / "airflow.db") as db:
            stored = db.execute("SELECT COUNT(*) FROM asset_event").fetchone()[0]
            queued = db.execute("SELECT COUNT(*) FROM asset_dag_run_queue").fetchone()[0]

    statuses = result["statuses"]
    accepted, duplicates = statuses.get(201, 0), statuses.get(200, 0)
    errors = sum(count for status, count in statuses.items() if status not in (200, 201))
    figures = {
        "requests": sum(statuses.values()),
        "accepted": accepted,
        "duplicates": duplicates,
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(result["elapsed"], 2),
        "accepted_events_per_second": round(accepted / result["elapsed"], 1) if result["elapsed"] else None,
        "requests_per_second": round(sum(statuses.values()) / result["elapsed"], 1)
        if result["elapsed"]
        else None,
        "latency_ms_p50": round(result["p50"] * 1000, 2) if result["p50"] is not None else None,
        "latency_ms_p99": round(result["p99"] * 1000, 2) if result["p99"] is not None else None,
        "concurrency": args.concurrency,
        "asset_events_in_db": stored,
        "queued_dag_runs_in_db": queued,
        "db": "sqlite",
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    if stored != accepted:
        print(f"MISMATCH: {accepted} accepted answers but {stored} asset events stored", file=sys.stderr)
        return 1
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
