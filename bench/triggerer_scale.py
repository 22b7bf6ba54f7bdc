"""N execution triggers in one asyncio loop, as in one triggerer, against the emulator enforcing a rate limit.

Executions are spread over ``--projects`` projects and finish at random times within ``--window`` seconds
(a shell step sleeping a random number of seconds, emulator at time scale 1). N real
``HarnessExecutionTrigger``s follow them (polls coalesced as by default, the connection's request budget);
then, in the same run, N ``HttpSensorTrigger``s of the HTTP provider poll the same details endpoint (of
executions that do not exist, so they keep polling: the lightest alternative's cost per check) for as long,
with the emulator's limit off (that trigger sleeps only after a 404 and would resend every 429 at once).

Prints for both: requests per minute Harness served, CPU seconds per 1,000 status checks, RSS per trigger,
status checks done vs asked, 429s seen; for the Harness triggers also the detection latency (event time
minus the execution's end, median / p95 / max) and whether every trigger yielded its event.

Needs the HTTP provider for the second half (``pip install apache-airflow-providers-http``; without it that
half is skipped). Usage::

    python bench/triggerer_scale.py --n 1000 --projects 10 --interval 5 --window 60
    python bench/triggerer_scale.py --n 5000 --interval 30 --window 1200 --rate-limit 1000   # the target run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
from typing import Any

PIPELINE = """\
pipeline:
  name: work
  identifier: work
  orgIdentifier: default
  projectIdentifier: {project}
  variables:
    - name: secs
      type: String
      value: <+input>
  stages:
    - stage:
        name: work
        identifier: work
        type: Custom
        spec:
          execution:
            steps:
              - step:
                  name: sleep
                  identifier: sleep
                  type: ShellScript
                  timeout: 1d
                  spec:
                    shell: Bash
                    source: {{type: Inline, spec: {{script: "sleep <+pipeline.variables.secs>"}}}}
"""
INPUTS = (
    "pipeline:\n  identifier: work\n  variables:\n    - name: secs\n      type: String\n"
    "      value: '{secs}'\n"
)
DETAILS = "/pipeline/api/pipelines/execution/v2/"
LIST = "/pipeline/api/pipelines/execution/summary"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Counted:
    """Counts status checks and 429s through the follow machine every trigger drives."""

    checks = 0
    rate_limited = 0

    @classmethod
    def install(cls) -> None:
        from airflow_provider_harness.client import follow
        from airflow_provider_harness.client.errors import HarnessRateLimitError

        original = follow.ExecutionFollow.step

        def step(self: Any, result: Any, now: float) -> Any:
            cls.checks += 1
            if isinstance(result, HarnessRateLimitError):
                cls.rate_limited += 1
            return original(self, result, now)

        follow.ExecutionFollow.step = step  # type: ignore[method-assign]


async def harness_half(handle: Any, ids: list[tuple[str, str]], interval: float) -> dict[str, Any]:
    from airflow_provider_harness.client.transport import close_shared_async_clients
    from airflow_provider_harness.triggers.executions import HarnessExecutionTrigger

    events: list[tuple[float, dict[str, Any]]] = []
    rss0, cpu0, wall0 = rss_kib(), cpu_seconds(), time.time()
    handle.clear_counters()

    async def follow_one(execution_id: str, project: str) -> None:
        trigger = HarnessExecutionTrigger(
            execution_id, project_id=project, poll_interval=interval, deadline=time.time() + 86_400
        )
        async for event in trigger.run():
            events.append((time.time(), event.payload))
            return

    tasks = [asyncio.ensure_future(follow_one(e, p)) for e, p in ids]
    peak = rss0
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1.0)
        peak = max(peak, rss_kib())
    wall = time.time() - wall0
    cpu = cpu_seconds() - cpu0
    served = handle.request_count(DETAILS, "GET") + handle.request_count(LIST, "POST")
    await close_shared_async_clients()
    latencies = []
    project_of = dict(ids)
    for at, payload in events:
        status, body = handle.request(
            "GET",
            DETAILS + payload["execution_id"],
            params={"projectIdentifier": project_of[payload["execution_id"]]},
        )
        summary = body["data"]["pipelineExecutionSummary"] if status == 200 else {}
        if summary.get("endTs"):
            latencies.append(at - summary["endTs"] / 1000)
    return {
        "events": len(events),
        "successes": sum(1 for _, p in events if p["status"] == "success"),
        "wall_s": round(wall, 1),
        "requests_per_min": round(served / wall * 60),
        "checks": Counted.checks,
        "cpu_s_per_1000_checks": round(1000 * cpu / max(Counted.checks, 1), 3),
        "rss_kib_per_trigger": round((peak - rss0) / len(ids), 1),
        "latency_median_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p95_s": round(pct(latencies, 95), 2),
        "latency_max_s": round(max(latencies), 2) if latencies else None,
        "rate_limited_checks": Counted.rate_limited,
    }


async def http_half(handle: Any, n: int, interval: float, seconds: float) -> dict[str, Any] | None:
    try:
        from airflow.providers.http.triggers.http import HttpSensorTrigger
    except ImportError:
        return None
    os.environ["AIRFLOW_CONN_HTTP_BENCH"] = json.dumps(
        {
            "conn_type": "http",
            "host": handle.base_url,
            "extra": {"x-api-key": handle.api_key, "Harness-Account": handle.account_id},
        }
    )
    handle.clear_counters()
    rss0, cpu0, wall0 = rss_kib(), cpu_seconds(), time.time()

    async def poll(index: int) -> None:
        trigger = HttpSensorTrigger(
            endpoint=f"{DETAILS}missing{index}", http_conn_id="http_bench", poke_interval=interval
        )
        async for _ in trigger.run():
            return

    tasks = [asyncio.ensure_future(poll(i)) for i in range(n)]
    peak = rss0
    deadline = time.time() + seconds
    while time.time() < deadline:
        await asyncio.sleep(1.0)
        peak = max(peak, rss_kib())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.time() - wall0
    cpu = cpu_seconds() - cpu0
    served = handle.request_count(DETAILS, "GET")
    return {
        "wall_s": round(wall, 1),
        "requests_per_min": round(served / wall * 60),
        "checks": served,
        "checks_asked": int(n * seconds / interval),
        "cpu_s_per_1000_checks": round(1000 * cpu / max(served, 1), 3),
        "rss_kib_per_trigger": round((peak - rss0) / n, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval of every trigger (s)")
    parser.add_argument("--window", type=float, default=60.0, help="executions end at random within it (s)")
    parser.add_argument("--rate-limit", type=int, default=1000, help="emulator's requests/min per key")
    parser.add_argument("--requests-per-minute", type=int, default=900, help="the connection's budget")
    parser.add_argument("--no-coalesce", action="store_true", help="one details call per trigger and poll")
    args = parser.parse_args(argv)

    from airflow_provider_harness.emulator import run_emulator

    random.seed(7)
    with run_emulator(mode="process", time_scale=1.0, rate_limit=args.rate_limit, startup_timeout=60) as h:
        projects = [f"bench_{i}" for i in range(args.projects)]
        h.set_settings(rate_limit=0)  # setting up is not measured
        for project in projects:
            h.create_project(project)
            h.create_pipeline(PIPELINE.format(project=project), project_id=project)
        ids = []
        for index in range(args.n):
            project = projects[index % len(projects)]
            secs = random.uniform(args.window / 10, args.window)
            ids.append(
                (h.execute("work", INPUTS.format(secs=round(secs, 1)), projectIdentifier=project), project)
            )
        h.set_settings(rate_limit=args.rate_limit)
        connection = h.connection_dict()
        connection["extra"].update({"requests_per_minute": args.requests_per_minute, "max_retries": 0})
        if args.no_coalesce:
            connection["extra"]["coalesce_polls"] = False  # else the default: automatic
        os.environ["AIRFLOW_CONN_HARNESS_DEFAULT"] = json.dumps(connection)
        Counted.install()
        harness = asyncio.run(harness_half(h, ids, args.interval))
        # HttpSensorTrigger sleeps only after a 404: under the rate limit it would resend every 429 at once,
        # so its per-check cost is measured with the limit off (what it costs when it behaves).
        h.set_settings(rate_limit=0)
        http = asyncio.run(http_half(h, args.n, args.interval, min(harness["wall_s"], 120.0)))

    asked = sum(1 for _ in ids) * harness["wall_s"] / args.interval
    print(
        f"\nN={args.n} over {args.projects} projects, interval {args.interval}s, ends within {args.window}s,"
    )
    print(
        f"emulator limit {args.rate_limit}/min per key, budget {args.requests_per_minute}/min, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| triggers | requests/min | CPU s per 1,000 checks | RSS per trigger | checks done / asked | 429s |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| HarnessExecutionTrigger ({'per execution' if args.no_coalesce else 'coalesced'}) "
        f"| {harness['requests_per_min']} | {harness['cpu_s_per_1000_checks']} | "
        f"{harness['rss_kib_per_trigger']} KiB | {harness['checks']} / ~{asked:.0f} "
        "(a trigger stops at its end) "
        f"| {harness['rate_limited_checks']} |"
    )
    if http:
        print(
            f"| HttpSensorTrigger (HTTP provider) | {http['requests_per_min']} | "
            f"{http['cpu_s_per_1000_checks']} | "
            f"{http['rss_kib_per_trigger']} KiB | {http['checks']} / {http['checks_asked']} | (not counted) |"
        )
    else:
        print("| HttpSensorTrigger | not installed | | | | |")
    print(
        f"\nEvents: {harness['events']} of {args.n} ({harness['successes']} success); "
        "detection latency after "
        f"the end: median {harness['latency_median_s']} s, p95 {harness['latency_p95_s']} s, max "
        f"{harness['latency_max_s']} s; wall {harness['wall_s']} s"
    )
    print(json.dumps({"harness": harness, "http": http}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
