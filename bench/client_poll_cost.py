"""What status polling costs with the project's own async client path (the one triggers use).

N executions run in the Harness emulator (its own process, so its CPU is not counted here). One asyncio
loop then polls every execution once per ``--interval`` seconds for ``--seconds`` seconds, like N
``HarnessExecutionTrigger``s in one triggerer: each poller has its own ``AsyncHarnessClient`` (sharing
the per-loop httpx pool) and calls ``executions.status_fetcher()`` - ``fetch_execution_status``, one
``GET /pipeline/api/pipelines/execution/v2/{id}`` - then sleeps ``--interval``.

Usage::

    python bench/client_poll_cost.py                      # n=500, 1 s interval, 20 s
    python bench/client_poll_cost.py --n 100 --seconds 20 --interval 1
    python bench/client_poll_cost.py --anchor /work/shared/bench/anchor_poll_cost.py   # + 'floor' row

Reports polls asked vs done, client CPU per poll (CPU time of this process / polls), requests per
minute against Harness's budget of 1000 requests/min per API key, and p50/p95 latency of one status
check. Bounded: every loop ends at a deadline; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

HARNESS_BUDGET_PER_MINUTE = 1000  # requests per minute per API key (harness-api.md §14)
#: perf-notes.md, measured on the reference 2-core machine (500 pollers, 1 s interval, 20 s).
REFERENCE_ROWS = [
    ("500", "one shared httpx.AsyncClient, one request per poller per interval", 5.0, "perf-notes.md"),
    ("500", "HTTP provider's HttpSensorTrigger (new aiohttp session per poll)", 2.7, "perf-notes.md"),
]
PIPELINE = """\
pipeline:
  name: poll bench
  identifier: poll_bench
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
                  timeout: 2d
                  spec:
                    shell: Bash
                    source: {type: Inline, spec: {script: "sleep 100000"}}
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of another process (Linux /proc), 0.0 when unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    not_running: int = 0


async def poll_all(
    handle: Any,
    execution_ids: list[str],
    seconds: float,
    interval: float,
    spread: float,
    requests_per_minute: float | None = None,
    coalesce: bool = False,
) -> tuple[Tally, float, float]:
    """Poll every execution until the deadline; returns the tally, client CPU and wall seconds used."""
    from airflow_provider_harness.client import executions
    from airflow_provider_harness.client.config import HarnessConfig, Secret
    from airflow_provider_harness.client.errors import HarnessError
    from airflow_provider_harness.client.transport import AsyncHarnessClient, close_shared_async_clients

    config = HarnessConfig(
        account_id=handle.account_id,
        api_key=Secret(handle.api_key),
        base_url=handle.base_url,
        org_id=handle.org_id,
        project_id=handle.project_id,
        requests_per_minute=requests_per_minute,
    )
    scope = config.scope_params("project", what="an execution")
    fetch = executions.status_fetcher()
    if coalesce:
        from airflow_provider_harness.client.coalesce import coalesced_fetcher

        fetch = coalesced_fetcher(max_age=interval)  # as a trigger polls: a list at most one interval old
    tally = Tally()
    n = len(execution_ids)

    async def poller(index: int, execution_id: str, deadline: float) -> None:
        client = AsyncHarnessClient(config)  # one per trigger, as HarnessExecutionTrigger does
        try:
            if spread:
                await asyncio.sleep(min(spread * index / n, max(0.0, deadline - time.monotonic())))
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    snapshot = await fetch(client, scope, execution_id)
                except (HarnessError, ValueError) as exc:
                    name = type(exc).__name__
                    tally.errors[name] = tally.errors.get(name, 0) + 1
                else:
                    tally.latencies.append(time.perf_counter() - started)
                    if snapshot.status != "Running":
                        tally.not_running += 1
                await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        finally:
            await client.aclose()

    cpu0, wall0 = cpu_seconds(), time.monotonic()
    deadline = wall0 + seconds
    tasks = [asyncio.create_task(poller(i, e, deadline)) for i, e in enumerate(execution_ids)]
    # A request in flight at the deadline may finish a little later; give it bounded grace.
    _, pending = await asyncio.wait(tasks, timeout=seconds + 60)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    cpu_used, wall_used = cpu_seconds() - cpu0, time.monotonic() - wall0
    await close_shared_async_clients()
    return tally, cpu_used, wall_used


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_anchor(script: str, n: int, seconds: float, interval: float) -> dict[str, Any] | None:
    """Run the anchor's 'floor' kind with the same parameters (its own trivial server)."""
    command = [sys.executable, script, "--kinds", "floor", "--n", str(n), "--seconds", str(seconds)]
    command += ["--interval", str(interval)]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"anchor run failed: {exc}", file=sys.stderr)
        return None
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            row: dict[str, Any] = json.loads(line)
            return row
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="executions polled at once (default 500)")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval in seconds (default 1)")
    parser.add_argument("--seconds", type=float, default=20.0, help="polling duration (default 20)")
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="start the pollers spread over this many seconds (default 0: all at once, like the anchor)",
    )
    parser.add_argument(
        "--requests-per-minute",
        type=float,
        default=None,
        help="the client's request budget per key (default: none, to measure the client's own cost)",
    )
    parser.add_argument(
        "--coalesce", action="store_true", help="poll through the coalescing project poller (coalesce_polls)"
    )
    parser.add_argument("--anchor", help="path of anchor_poll_cost.py: also run its 'floor' kind here")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line too")
    args = parser.parse_args(argv)
    if args.n < 1 or args.interval <= 0 or args.seconds <= 0:
        parser.error("--n, --interval and --seconds must be positive")

    from airflow_provider_harness.emulator import run_emulator

    with run_emulator(mode="process", host="127.0.0.1", time_scale=1.0, startup_timeout=30) as handle:
        handle.create_pipeline(PIPELINE)
        t0 = time.monotonic()
        execution_ids = [handle.execute("poll_bench") for _ in range(args.n)]
        start_seconds = time.monotonic() - t0
        handle.wait_for_status(execution_ids[-1], {"Running"}, timeout=30)
        handle.clear_counters()
        assert handle.process is not None
        server_cpu0 = process_cpu_seconds(handle.process.pid)
        tally, cpu_used, wall_used = asyncio.run(
            poll_all(
                handle,
                execution_ids,
                args.seconds,
                args.interval,
                args.spread,
                args.requests_per_minute,
                args.coalesce,
            )
        )
        server_cpu = process_cpu_seconds(handle.process.pid) - server_cpu0
        served = handle.request_count("/pipeline/api/pipelines/execution/v2/", "GET")
        listed = handle.request_count("/pipeline/api/pipelines/execution/summary", "POST")

    done = len(tally.latencies)
    asked = int(args.n * args.seconds / args.interval)
    rpm = done / wall_used * 60
    asked_rpm = args.n * 60 / args.interval
    per_key = HARNESS_BUDGET_PER_MINUTE * args.interval / 60
    result = {
        "n": args.n,
        "interval_s": args.interval,
        "seconds": args.seconds,
        "polls_asked": asked,
        "polls_done": done,
        "done_pct": round(100 * done / asked, 1),
        "requests_served": served,
        "list_requests": listed,
        "harness_requests_per_min": round((served + listed) / wall_used * 60),
        "coalesced": args.coalesce,
        "errors": tally.errors,
        "not_running": tally.not_running,
        "client_cpu_s": round(cpu_used, 3),
        "client_cpu_ms_per_poll": round(1000 * cpu_used / max(done, 1), 3),
        "client_cpu_pct_of_core": round(100 * cpu_used / wall_used, 1),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(served, 1), 3),
        "requests_per_min_done": round(rpm),
        "requests_per_min_asked": round(asked_rpm),
        "x_harness_budget_asked": round(asked_rpm / HARNESS_BUDGET_PER_MINUTE, 1),
        "executions_one_key_can_follow": round(per_key, 1),
        "latency_p50_ms": round(1000 * percentile(tally.latencies, 50), 2),
        "latency_p95_ms": round(1000 * percentile(tally.latencies, 95), 2),
        "start_executions_s": round(start_seconds, 2),
    }
    anchor = run_anchor(args.anchor, args.n, args.seconds, args.interval) if args.anchor else None

    print("\nStatus polling with AsyncHarnessClient + status_fetcher() against the emulator (own process)")
    print(f"n={args.n} interval={args.interval}s for {args.seconds}s, {os.cpu_count()} CPUs\n")
    print("| pollers | way of polling | CPU per poll | polls done / asked | notes |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.n} | project client: AsyncHarnessClient per poller, shared httpx pool, "
        f"fetch_execution_status | {result['client_cpu_ms_per_poll']} ms | {done} / {asked} "
        f"({result['done_pct']}%) | this machine; p50 {result['latency_p50_ms']} ms, "
        f"p95 {result['latency_p95_ms']} ms; client at {result['client_cpu_pct_of_core']}% of a core |"
    )
    if anchor:
        anchor_asked = int(args.n * args.seconds / args.interval)
        print(
            f"| {args.n} | anchor 'floor': one shared httpx.AsyncClient, trivial server | "
            f"{anchor['cpu_ms_per_poll']} ms | {anchor['polls']} / {anchor_asked} | this machine |"
        )
    for pollers, way, ms, source in REFERENCE_ROWS:
        print(f"| {pollers} | {way} | {ms} ms | | {source} (reference machine) |")
    print()
    print(
        f"Requests Harness served: {served} details + {listed} list calls = "
        f"{result['harness_requests_per_min']}/min (coalesced: {args.coalesce})"
    )
    print(
        f"Requests/min: {result['requests_per_min_done']} done, {result['requests_per_min_asked']} asked "
        f"= {result['x_harness_budget_asked']}x Harness's {HARNESS_BUDGET_PER_MINUTE}/min per API key; "
        f"one key can follow about {result['executions_one_key_can_follow']} executions at a "
        f"{args.interval}s interval."
    )
    print(
        f"Server (emulator) CPU per request: {result['server_cpu_ms_per_request']} ms; "
        f"errors: {tally.errors or 'none'}; executions not Running: {tally.not_running}"
    )
    if args.json:
        print(json.dumps({**result, "anchor": anchor}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
