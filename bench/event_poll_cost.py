"""What the polling event trigger costs in Harness requests per minute, for P projects.

The Harness emulator runs in its own process on 127.0.0.1 with P projects of K pipelines each. One
asyncio loop (like one triggerer) runs P ``HarnessExecutionEventTrigger``s - one per project, each
watching all K pipelines of its project - for ``--seconds`` at ``--interval``, while a feeder thread
starts ``--rate`` executions per project per minute that end quickly, so the triggers have events to
emit. The emulator's own request counters say what reached "Harness".

Usage::

    python bench/event_poll_cost.py                           # P=10, K=5, 30 s interval... see --help
    python bench/event_poll_cost.py --projects 50 --pipelines 20 --interval 5 --seconds 60

Reports list calls per minute (total and per project) against Harness's 1000 requests/min per API key,
the per-execution and per-pipeline polling it replaces, events emitted vs executions ended, and the
client CPU. Bounded: the run ends at a deadline (at most 600 s); only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

HARNESS_BUDGET_PER_MINUTE = 1000  # requests per minute per API key (harness-api.md §14)
LIST_PATH = "/pipeline/api/pipelines/execution/summary"
MAX_SECONDS = 600.0


def pipeline_yaml(pipeline_id: str, project_id: str) -> str:
    step = {
        "step": {
            "name": "deploy",
            "identifier": "deploy",
            "type": "ShellScript",
            "spec": {"shell": "Bash", "source": {"type": "Inline", "spec": {"script": "echo deployed"}}},
        }
    }
    stage = {
        "stage": {"name": "s", "identifier": "s", "type": "Custom", "spec": {"execution": {"steps": [step]}}}
    }
    body = {
        "name": pipeline_id,
        "identifier": pipeline_id,
        "orgIdentifier": "default",
        "projectIdentifier": project_id,
        "stages": [stage],
    }
    return json.dumps({"pipeline": body})


def feed(handle: Any, projects: list[str], pipelines: int, rate: float, stop: threading.Event) -> list[str]:
    """Start ``rate`` executions per project per minute (round-robin over pipelines) until ``stop``."""
    started: list[str] = []
    if rate <= 0:
        return started
    gap = 60.0 / (rate * len(projects))
    turn = 0
    while not stop.wait(gap):
        project = projects[turn % len(projects)]
        pipeline = f"svc_{(turn // len(projects)) % pipelines}"
        execution_id = handle.execute(pipeline, projectIdentifier=project)
        started.append(execution_id)
        turn += 1
    return started


async def watch(
    projects: list[str],
    pipelines: int,
    interval: float,
    seconds: float,
    at_start: Callable[[], Any],
    read_counts: Callable[[], dict[str, int]],
    at_end: Callable[[], Any],
) -> tuple[int, int, float, dict[str, int]]:
    """Start one trigger per project; once each made its first poll (its watermark starts then), call
    ``at_start`` (start the feeder). The measured window starts half an interval later (polls fall
    inside it, not on its edges) and lasts ``seconds``: polls, the loop thread's CPU, and the emulator's
    counters (``read_counts`` at both ends). Then ``at_end`` (stop the feeder) and one more interval of
    polling, so executions that ended near the end are emitted too. Returns (polls in the window, events
    emitted in all, CPU seconds in the window, request counts in the window)."""
    from airflow_provider_harness.client.transport import close_shared_async_clients
    from airflow_provider_harness.triggers.events import HarnessExecutionEventTrigger, MemoryWatermarkStore

    quiet = logging.getLogger("event_poll_cost.triggers")  # warnings only, no line per event
    quiet.setLevel(logging.WARNING)
    names = [f"svc_{i}" for i in range(pipelines)]
    triggers = []
    for project in projects:
        trigger = HarnessExecutionEventTrigger(
            org_id="default", project_id=project, pipelines=names, poll_interval=interval
        )
        trigger.watermark_store = MemoryWatermarkStore()
        trigger._log = quiet  # type: ignore[assignment]
        triggers.append(trigger)
    emitted = 0

    async def run(trigger: Any) -> None:
        nonlocal emitted
        async for _event in trigger.run():
            emitted += 1

    tasks = [asyncio.create_task(run(t)) for t in triggers]
    give_up = time.monotonic() + 120
    while any(t.polls == 0 for t in triggers) and time.monotonic() < give_up:
        await asyncio.sleep(0.05)
    await asyncio.to_thread(at_start)
    await asyncio.sleep(interval / 2)
    before = await asyncio.to_thread(read_counts)
    polls0, cpu0 = sum(t.polls for t in triggers), time.thread_time()
    await asyncio.sleep(seconds)
    cpu = time.thread_time() - cpu0
    polls = sum(t.polls for t in triggers) - polls0
    after = await asyncio.to_thread(read_counts)
    await asyncio.to_thread(at_end)
    await asyncio.sleep(interval + HarnessExecutionEventTrigger.commit_delay + 2)  # drain
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await close_shared_async_clients()
    return polls, emitted, cpu, {key: after[key] - before[key] for key in after}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=10, help="P: projects watched (default 10)")
    parser.add_argument("--pipelines", type=int, default=5, help="K: pipelines per project (default 5)")
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval in s (default 10)")
    parser.add_argument("--seconds", type=float, default=40.0, help="measurement time in s (default 40)")
    parser.add_argument(
        "--rate", type=float, default=6.0, help="executions per project per minute (default 6)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line too")
    args = parser.parse_args(argv)
    if args.projects < 1 or args.pipelines < 1 or args.interval <= 0 or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--projects/--pipelines >= 1, --interval > 0, 0 < --seconds <= {MAX_SECONDS:.0f}")

    home = tempfile.mkdtemp(prefix="event-poll-bench-")
    os.environ.setdefault("AIRFLOW_HOME", home)  # the trigger reads its connection through Airflow
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

    from airflow_provider_harness.emulator import run_emulator

    projects = [f"bench_{i}" for i in range(args.projects)]
    with run_emulator(
        mode="process",
        host="127.0.0.1",
        time_scale=0.01,
        startup_timeout=30,
        projects=[f"default/{p}" for p in projects],
    ) as handle:
        for project in projects:
            for i in range(args.pipelines):
                handle.create_pipeline(pipeline_yaml(f"svc_{i}", project), project_id=project)
        os.environ.update(handle.airflow_env())
        stop = threading.Event()
        started: list[str] = []
        feeder = threading.Thread(
            target=lambda: started.extend(feed(handle, projects, args.pipelines, args.rate, stop)),
            daemon=True,
        )

        def read_counts() -> dict[str, int]:
            return {
                "list_calls": handle.request_count(LIST_PATH, "POST"),
                "detail_gets": handle.request_count("/pipeline/api/pipelines/execution/v2", "GET"),
            }

        def at_end() -> None:
            stop.set()
            feeder.join(timeout=30)

        polls, emitted, cpu_used, counts = asyncio.run(
            watch(projects, args.pipelines, args.interval, args.seconds, feeder.start, read_counts, at_end)
        )
        list_calls, detail_gets = counts["list_calls"], counts["detail_gets"]

    minutes = args.seconds / 60
    rpm = list_calls / minutes
    per_project_rpm = rpm / args.projects
    per_pipeline_rpm = args.projects * args.pipelines * 60 / args.interval
    result = {
        "projects": args.projects,
        "pipelines_per_project": args.pipelines,
        "interval_s": args.interval,
        "seconds": args.seconds,
        "executions_started": len(started),
        "events_emitted": emitted,
        "polls": polls,
        "list_calls": list_calls,
        "list_calls_per_poll": round(list_calls / max(polls, 1), 3),
        "detail_gets": detail_gets,
        "requests_per_min": round(rpm, 1),
        "requests_per_min_per_project": round(per_project_rpm, 2),
        "formula_per_min": round(args.projects * 60 / args.interval, 1),
        "per_pipeline_polling_per_min": round(per_pipeline_rpm, 1),
        "share_of_harness_budget_pct": round(100 * rpm / HARNESS_BUDGET_PER_MINUTE, 2),
        "projects_one_key_can_watch": int(HARNESS_BUDGET_PER_MINUTE * args.interval / 60),
        "client_cpu_ms_per_poll": round(1000 * cpu_used / max(polls, 1), 3),
    }
    print("\nPolling event triggers (HarnessExecutionEventTrigger) against the emulator (own process)")
    print(
        f"P={args.projects} projects x K={args.pipelines} pipelines, interval {args.interval}s, "
        f"{args.seconds}s, {args.rate} executions/project/min, {os.cpu_count()} CPUs\n"
    )
    print("| what | requests/min |")
    print("|---|---|")
    print(f"| measured: list calls, all {args.projects} projects | {result['requests_per_min']} |")
    print(f"| measured: per project | {result['requests_per_min_per_project']} |")
    print(
        f"| expected: P x 60 / interval (one list call per project per poll) | {result['formula_per_min']} |"
    )
    replaced = result["per_pipeline_polling_per_min"]
    print(f"| per-pipeline polling it replaces: P x K x 60 / interval | {replaced} |")
    print(f"| Harness budget per API key | {HARNESS_BUDGET_PER_MINUTE} |")
    print()
    print(
        f"Polls: {polls}, list calls: {list_calls} ({result['list_calls_per_poll']} per poll), "
        f"per-execution GETs: {detail_gets}; executions started: {len(started)}, "
        f"events emitted (after one more poll): {emitted}; "
        f"event-loop CPU {result['client_cpu_ms_per_poll']} ms per poll (parsing, payloads, logging); "
        f"{result['share_of_harness_budget_pct']}% of one key's budget; one key can watch about "
        f"{result['projects_one_key_can_watch']} projects at a {args.interval}s interval."
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
