"""What a DAG file pays at parse time to import this provider's operators, next to alternatives.

Each row is measured in fresh interpreter processes (nothing cached in ``sys.modules``), ``--runs`` times,
median and max quoted: the time to import ``airflow.sdk`` alone (the floor every DAG file pays), and the
extra time and modules that importing the operators adds on top of it. The dbt Cloud provider's
operators are measured the same way when that provider is installed in the interpreter given with
``--python`` (it is not a dependency of this project; see docs/development.md for a throw-away venv).

Usage::

    python bench/parse_overhead.py                        # this interpreter, 9 runs per row
    python bench/parse_overhead.py --python /tmp/dbtvenv/bin/python --runs 15
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

FLOOR = "airflow.sdk"
ROWS: dict[str, list[str]] = {
    "airflow.sdk alone": [FLOOR],
    "+ Harness operators (executions, resources, IaCM, webhooks)": [
        FLOOR,
        "airflow_provider_harness.operators.executions",
        "airflow_provider_harness.operators.resources",
        "airflow_provider_harness.operators.iacm",
        "airflow_provider_harness.operators.webhooks",
    ],
    "+ Harness sensors": [FLOOR, "airflow_provider_harness.sensors.executions"],
    "+ dbt Cloud operators": [FLOOR, "airflow.providers.dbt.cloud.operators.dbt"],
    "+ HTTP operators": [FLOOR, "airflow.providers.http.operators.http"],
}
PROBE = """
import importlib, json, sys, time
names = json.loads(sys.argv[1])
t0 = time.perf_counter()
for name in names:
    importlib.import_module(name)
print(json.dumps({"seconds": time.perf_counter() - t0, "modules": len(sys.modules)}))
"""


def measure(python: str, names: list[str]) -> dict[str, float] | None:
    """One fresh process importing ``names`` in order; None when one of them is not installed."""
    done = subprocess.run(
        [python, "-c", PROBE, json.dumps(names)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode:
        return None
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure (default: this one)")
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per row (default 9)")
    args = parser.parse_args(argv)
    samples: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.runs):  # interleaved, so drift of the machine hits every row alike
        for label, names in ROWS.items():
            sample = measure(args.python, names)
            if sample is not None:
                samples.setdefault(label, []).append(sample)
    floor = samples.get("airflow.sdk alone")
    if not floor:
        print("airflow.sdk cannot be imported with", args.python)
        return 1
    floor_s = statistics.median(s["seconds"] for s in floor)
    floor_modules = statistics.median(s["modules"] for s in floor)
    print(f"\nImport cost in fresh processes ({args.runs} runs per row, median [max]), {args.python}\n")
    print("| what the DAG file imports | import time | added to airflow.sdk | modules added |")
    print("|---|---|---|---|")
    for label in ROWS:
        rows = samples.get(label)
        if not rows:
            print(f"| {label} | not installed | | |")
            continue
        seconds = [s["seconds"] for s in rows]
        median = statistics.median(seconds)
        added = "" if label == "airflow.sdk alone" else f"{1000 * (median - floor_s):.0f} ms"
        modules = (
            ""
            if label == "airflow.sdk alone"
            else f"{statistics.median(s['modules'] for s in rows) - floor_modules:.0f}"
        )
        print(f"| {label} | {1000 * median:.0f} ms [{1000 * max(seconds):.0f}] | {added} | {modules} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
