#!/usr/bin/env bash
# The project's test command (README; CI runs it through .ci/run):
#
#   bash scripts/test.sh
#
# 1. builds .venv (Airflow 3.3.2) and .venv-oldest (Airflow 3.0.6) in parallel if missing or stale
# 2. ruff check, ruff format --check, mypy                  (on .venv)
# 3. the whole pytest suite                                 (on .venv)
# 4. tests/unit, tests/integration and tests/e2e again      (on .venv-oldest; tests/emulator does not
#    touch Airflow, so it runs once)
# and prints a summary. Every stage runs even if an earlier one failed; the exit status is non-zero
# if any failed. Extra arguments are passed to both pytest runs (e.g. -x, -k live).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh

export PYTHONUNBUFFERED=1
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/harness-test.XXXXXX")"
trap 'rm -rf "$LOGS"' EXIT

SUMMARY=()   # "stage|status|seconds|detail"
FAILED=0
TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0

record() {  # stage status started detail
    SUMMARY+=("$1|$2|$((SECONDS - $3))|$4")
    [ "$2" = ok ] || FAILED=1
}

banner() { printf '\n==== %s ====\n' "$1"; }

# run_stage STAGE COMMAND...: run, show its output, record ok/FAILED with the time taken
run_stage() {
    local stage="$1" started=$SECONDS
    shift
    banner "$stage"
    if "$@"; then record "$stage" ok "$started" ""; else record "$stage" FAILED "$started" "exit $?"; fi
}

# count WORD FILE: the number before WORD on pytest's closing line ("12 passed, 1 skipped in 3.2s")
count() { grep -Eo "[0-9]+ $1" <<<"$2" | tail -n 1 | cut -d' ' -f1 || true; }

# run_pytest STAGE VENV PYTEST-ARGS...: pytest with the summary line parsed; exit 5 (nothing ran) fails
run_pytest() {
    local stage="$1" venv="$2" started=$SECONDS rc=0 last passed failed errors skipped
    shift 2
    banner "$stage"
    set +e
    "$venv/bin/python" -m pytest -q -rfE --durations=10 "$@" 2>&1 | tee "$LOGS/pytest.log"
    rc=${PIPESTATUS[0]}
    set -e
    last="$(grep -E '[0-9]+ (passed|failed|error|errors|skipped|deselected)' "$LOGS/pytest.log" | tail -n 1 || true)"
    passed=$(count passed "$last") failed=$(count failed "$last") skipped=$(count skipped "$last")
    errors=$(count 'errors?' "$last")
    TOTAL_PASSED=$((TOTAL_PASSED + ${passed:-0}))
    TOTAL_FAILED=$((TOTAL_FAILED + ${failed:-0} + ${errors:-0}))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + ${skipped:-0}))
    last="$(sed -E 's/^=+ //; s/ =+$//' <<<"$last")"
    case "$rc" in
        0) record "$stage" ok "$started" "$last" ;;
        5) record "$stage" FAILED "$started" "no tests collected (pytest exit 5)" ;;
        *) record "$stage" FAILED "$started" "${last:-pytest exit $rc}" ;;
    esac
}

started=$SECONDS
banner "setup: .venv (Airflow $AIRFLOW_CURRENT) and .venv-oldest (Airflow $AIRFLOW_OLDEST)"
if ensure_venvs current oldest; then
    record "setup venvs (parallel)" ok "$started" ""
else
    record "setup venvs (parallel)" FAILED "$started" "see the install log above"
fi

if [ "$FAILED" = 0 ]; then
    VENV="$(venv_dir current)"
    OLDEST="$(venv_dir oldest)"
    run_stage "ruff check" "$VENV/bin/ruff" check .
    run_stage "ruff format --check" "$VENV/bin/ruff" format --check .
    run_stage "mypy" "$VENV/bin/mypy"
    run_pytest "pytest, Airflow $AIRFLOW_CURRENT (all tests)" "$VENV" "$@"
    run_pytest "pytest, Airflow $AIRFLOW_OLDEST (unit, integration, e2e)" "$OLDEST" \
        tests/unit tests/integration tests/e2e "$@"
fi

banner "test.sh summary"
for row in "${SUMMARY[@]}"; do
    IFS='|' read -r stage status seconds detail <<<"$row"
    printf '%-46s %-7s %5ss  %s\n' "$stage" "$status" "$seconds" "$detail"
done
printf '%-46s %-7s %5ss\n' "total time" "" "$SECONDS"
if [ "$FAILED" = 0 ]; then echo "test.sh: all stages passed"; else echo "test.sh: SOME STAGES FAILED"; fi
# The plain closing line CI reads: every pytest run added up (errors count as failed).
echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
exit "$FAILED"
