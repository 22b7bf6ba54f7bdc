"""Throughput of the Harness emulator for status polls (GET /pipeline/api/pipelines/execution/v2/{id}).

Starts the emulator in its own process (``python -m airflow_provider_harness.emulator``), creates a
pipeline whose execution stays ``Running``, then hammers the status endpoint from ``--processes`` load
generator processes, each driving ``--connections`` keep-alive connections with raw asyncio sockets (a
pre-built request, a minimal response parser) so that the client is not what gets measured.

Usage::

    python bench/emulator_throughput.py                 # 5 s, 1 load process x 16 connections
    python bench/emulator_throughput.py --seconds 10 --processes 2 --connections 32
    python bench/emulator_throughput.py --url http://127.0.0.1:8181   # an emulator you started yourself

Prints requests/s, latency percentiles, errors, and the server's CPU time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from typing import Any

ACCOUNT = "emulatoraccount"
API_KEY = "pat.emulatoraccount.emulator.token"
ORG, PROJECT = "default", "emulator_project"
PIPELINE = """\
pipeline:
  name: bench
  identifier: bench
  orgIdentifier: default
  projectIdentifier: emulator_project
  stages:
    - stage:
        name: wait
        identifier: wait
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: long
                  identifier: long
                  type: ShellScript
                  spec:
                    source: {type: Inline, spec: {script: "echo start\\nsleep 86400"}}
"""


def _call(base_url: str, method: str, path: str, body: bytes | None = None, content_type: str = "") -> Any:
    query = urllib.parse.urlencode(
        {"accountIdentifier": ACCOUNT, "orgIdentifier": ORG, "projectIdentifier": PROJECT}
    )
    request = urllib.request.Request(f"{base_url}{path}?{query}", data=body, method=method)
    request.add_header("x-api-key", API_KEY)
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def prepare(base_url: str) -> str:
    """Create the pipeline (once) and start an execution that keeps running; return its id."""
    try:
        _call(base_url, "POST", "/pipeline/api/pipelines/v2", PIPELINE.encode(), "application/yaml")
    except urllib.error.HTTPError as err:  # already there when reusing an emulator
        if err.code != 400:
            raise
    data = _call(base_url, "POST", "/pipeline/api/pipeline/execute/bench", b"", "application/yaml")
    return str(data["data"]["planExecution"]["uuid"])


async def _connection(
    host: str, port: int, request: bytes, stop_at: float, latencies: list[float]
) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    done = errors = 0
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:12] == b"200":
                done += 1
            else:
                errors += 1
    finally:
        writer.close()
    return done, errors


def _load_process(url: str, execution_id: str, connections: int, seconds: float, out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    parsed = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode(
        {"accountIdentifier": ACCOUNT, "orgIdentifier": ORG, "projectIdentifier": PROJECT}
    )
    request = (
        f"GET /pipeline/api/pipelines/execution/v2/{execution_id}?{query} HTTP/1.1\r\n"
        f"Host: {parsed.netloc}\r\nx-api-key: {API_KEY}\r\nAccept: application/json\r\n\r\n"
    ).encode()

    async def main() -> tuple[int, int, list[float]]:
        latencies: list[float] = []
        stop_at = time.perf_counter() + seconds
        results = await asyncio.gather(
            *(
                _connection(parsed.hostname or "127.0.0.1", parsed.port or 80, request, stop_at, latencies)
                for _ in range(connections)
            )
        )
        return sum(r[0] for r in results), sum(r[1] for r in results), latencies

    done, errors, latencies = asyncio.run(main())
    out.put((done, errors, latencies))


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; return the figures."""
    with ExitStack() as stack:
        server_pid: int | None = None
        url = args.url
        if url is None:
            sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
            from airflow_provider_harness.emulator.server import run_emulator

            handle = stack.enter_context(run_emulator(mode="process", time_scale=1.0))
            url = handle.base_url
            server_pid = handle.process.pid if handle.process else None
        execution_id = prepare(url)
        queue: Any = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(
                target=_load_process, args=(url, execution_id, args.connections, args.seconds, queue)
            )
            for _ in range(args.processes)
        ]
        cpu_before = _cpu_seconds(server_pid) if server_pid else None
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=args.seconds + 60) for _ in workers]
        elapsed = time.perf_counter() - started
        for worker in workers:
            worker.join()
        cpu_after = _cpu_seconds(server_pid) if server_pid else None
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    latencies = sorted(latency for r in results for latency in r[2])
    figures: dict[str, Any] = {
        "requests": done,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(done / args.seconds, 1),
        "latency_ms_p50": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2) if latencies else None,
        "load_processes": args.processes,
        "connections_per_process": args.connections,
    }
    if cpu_before is not None and cpu_after is not None and done:
        figures["server_cpu_us_per_request"] = round((cpu_after - cpu_before) / done * 1e6, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to load the server (default 5)")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument(
        "--connections", type=int, default=16, help="keep-alive connections per process (default 16)"
    )
    parser.add_argument("--url", help="use a running emulator instead of starting one")
    parser.add_argument("--min-rps", type=float, default=1000.0, help="exit 1 below this rate (default 1000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"status polls: {figures['requests']} requests in {args.seconds:g} s = "
            f"{figures['requests_per_second']:.0f} req/s "
            f"(p50 {figures['latency_ms_p50']} ms, p99 {figures['latency_ms_p99']} ms, "
            f"errors {figures['errors']}; "
            f"{args.processes} load process(es) x {args.connections} connections)"
        )
        if "server_cpu_us_per_request" in figures:
            print(f"server CPU per request: {figures['server_cpu_us_per_request']} us")
    return 0 if figures["requests_per_second"] >= args.min_rps and not figures["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
