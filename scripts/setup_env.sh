# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: creates the project's virtual environments.
#
#   .venv         Airflow 3.3.2 (current)  - lint, type check, the whole test suite, the demo
#   .venv-oldest  Airflow 3.0.6 (oldest)   - the unit, integration and e2e suites again
#
# Each is (re)built only when missing or stale: a stamp file inside it holds a hash of pyproject.toml,
# the Airflow version, the constraints file, the Python version and the repository path. Installs use
# pip (no uv), never prompt, and write their output to .venv-logs/NAME.install.log.
#
# Functions: ensure_venv NAME   - build one venv if needed ("current" or "oldest")
#            ensure_venvs NAME… - build several in parallel (background jobs)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AIRFLOW_CURRENT="3.3.2"
AIRFLOW_OLDEST="3.0.6"
# pip install -e ".[EXTRAS]": dev = pytest, ruff, mypy...; emulator = starlette, uvicorn.
PROJECT_EXTRAS="dev,emulator"

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

# NAME -> venv folder, Airflow version, constraints file (may be empty)
venv_dir() { case "$1" in current) echo "$REPO_ROOT/.venv" ;; oldest) echo "$REPO_ROOT/.venv-oldest" ;; esac; }
venv_airflow() { case "$1" in current) echo "$AIRFLOW_CURRENT" ;; oldest) echo "$AIRFLOW_OLDEST" ;; esac; }
venv_constraints() { case "$1" in oldest) echo "$REPO_ROOT/scripts/constraints-oldest.txt" ;; *) echo "" ;; esac; }

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "setup_env: need Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

venv_stamp() {
    local name="$1" python="$2" constraints
    constraints="$(venv_constraints "$name")"
    {
        echo "airflow=$(venv_airflow "$name") extras=$PROJECT_EXTRAS repo=$REPO_ROOT"
        "$python" -c 'import sys; print(sys.version)'
        cat "$REPO_ROOT/pyproject.toml"
        [ -z "$constraints" ] || cat "$constraints"
    } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local name="$1" python dir airflow constraints stamp log
    python="$(find_python)" || return 1
    dir="$(venv_dir "$name")"
    airflow="$(venv_airflow "$name")"
    constraints="$(venv_constraints "$name")"
    stamp="$(venv_stamp "$name" "$python")"
    log="$REPO_ROOT/.venv-logs/$name.install.log"
    mkdir -p "$REPO_ROOT/.venv-logs"
    if [ -f "$dir/.setup-stamp" ] && [ "$(cat "$dir/.setup-stamp")" = "$stamp" ] && [ -x "$dir/bin/python" ]; then
        echo "setup_env: ${dir#"$REPO_ROOT"/} is up to date (Airflow $airflow)"
        return 0
    fi
    echo "setup_env: building ${dir#"$REPO_ROOT"/} (Airflow $airflow), log in ${log#"$REPO_ROOT"/}"
    rm -rf "$dir"
    local started=$SECONDS
    if ! {
        "$python" -m venv "$dir" &&
            "$dir/bin/python" -m pip install \
                "apache-airflow==$airflow" -e "$REPO_ROOT[$PROJECT_EXTRAS]" \
                ${constraints:+--constraint "$constraints"} &&
            "$dir/bin/python" -c 'import airflow_provider_harness, airflow.sdk, pytest, ruff, mypy'
    } >"$log" 2>&1; then
        echo "setup_env: FAILED to build ${dir#"$REPO_ROOT"/}; last lines of ${log#"$REPO_ROOT"/}:" >&2
        tail -n 30 "$log" >&2
        rm -rf "$dir"  # never leave a half-built venv that a later run could take for a good one
        return 1
    fi
    echo "$stamp" >"$dir/.setup-stamp"
    echo "setup_env: built ${dir#"$REPO_ROOT"/} in $((SECONDS - started))s"
}

ensure_venvs() {
    local name status=0
    local -a pids=()
    for name in "$@"; do
        ensure_venv "$name" &
        pids+=("$!")
    done
    for name in "${pids[@]}"; do
        wait "$name" || status=1
    done
    return "$status"
}
