#!/usr/bin/env bash
# The project's demo command (README):
#
#   bash scripts/demo.sh [--live] [--keep]
#
# Builds .venv (Airflow 3.3.2) if missing or stale - the same setup as scripts/test.sh - then runs
# scripts/demo.py: the embedded Harness emulator, the example DAGs in Airflow, and a summary.
# --live runs the DAGs in a real api-server + scheduler + dag-processor + triggerer instead of dag.test().
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh

ensure_venv current
exec "$(venv_dir current)/bin/python" scripts/demo.py "$@"
