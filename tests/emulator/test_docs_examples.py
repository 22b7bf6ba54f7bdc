"""docs/emulator.md's examples, run exactly as the page shows them, so the page cannot rot.

* "Command line": the documented command starts the emulator and prints the documented line; the
  documented ``airflow connections test`` against it succeeds with the documented output (the default
  project exists without ``--project``).
* "Testing your own DAG": the three files are written to a fresh folder and plain ``pytest`` runs there.

Both run Airflow in subprocesses with an environment stripped of this suite's ``AIRFLOW_*`` settings, so
they see what a user sees. They are slow-ish (an Airflow start each, and a ``db migrate``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"
BIN = Path(sys.executable).parent
DOCUMENTED_URL = "http://127.0.0.1:8181"


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n{title}\n")
    level = title.split(" ", 1)[0]
    end = text.find(f"\n{level} ", start + len(title) + 2)
    return text[start : end if end != -1 else len(text)]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def _user_environment(**extra: str) -> dict[str, str]:
    """This process's environment without the suite's Airflow/pytest settings (what a user's shell has)."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "HARNESS_", "PYTEST_"))
        and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    environ["PATH"] = (
        f"{BIN}{os.pathsep}{environ.get('PATH', '')}"  # `pytest`, `airflow`, `python`: this venv's
    )
    environ["NO_PROXY"] = "127.0.0.1,localhost"
    environ.update(extra)
    return environ


def test_command_line_and_connection_test_work_as_documented(tmp_path: Path) -> None:
    start_block, connection_block = _blocks(_section("## Command line"), "bash")[:2]
    command, printed = (line for line in start_block.splitlines() if line.strip())
    assert printed.startswith("# ")
    args = shlex.split(command)
    assert args[:3] == ["python", "-m", "airflow_provider_harness.emulator"]
    # a free port and a private state file instead of 8181 and /tmp/harness.json
    args[args.index("--port") + 1] = "0"
    args[args.index("--state-file") + 1] = str(tmp_path / "harness.json")
    process = subprocess.Popen([sys.executable, *args[1:]], stdout=subprocess.PIPE, env=_user_environment())
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().rstrip("\n")
        base_url = line.split("listening on ", 1)[1].split(" ", 1)[0]
        assert line == printed[2:].replace(DOCUMENTED_URL, base_url)

        exports: dict[str, str] = {}
        commands: list[str] = []
        expected: list[str] = []
        for raw in connection_block.splitlines():
            if raw.startswith("export "):
                name, _, value = raw[len("export ") :].partition("=")
                exports[name] = shlex.split(value)[0].replace(DOCUMENTED_URL, base_url)
            elif raw.startswith("# "):
                expected.append(raw[2:].replace(DOCUMENTED_URL, base_url))
            elif raw.strip():
                commands.append(raw)
        assert commands == ["airflow connections test harness_default"] and expected
        result = subprocess.run(
            shlex.split(commands[0]),
            env=_user_environment(
                AIRFLOW_HOME=str(tmp_path / "airflow_home"),  # not the user's ~/airflow
                COLUMNS="400",  # the CLI's console would wrap the one-line message at 80 columns
                **exports,
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        for wanted in expected:
            assert wanted in output, output
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def test_own_dag_test_example_runs_with_plain_pytest(tmp_path: Path) -> None:
    section = _section("### Testing your own DAG")
    project = tmp_path / "my-project"
    written: list[str] = []
    for block in _blocks(section, "python"):
        first = block.partition("\n")[0]
        assert first.startswith("# "), f"each example file starts with '# <path>': {first!r}"
        path = project / first[2:].strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block, encoding="utf-8")
        written.append(first[2:].strip())
    assert sorted(written) == ["conftest.py", "dags/deploy.py", "tests/test_deploy.py"]
    tree = _blocks(section, "text")[0]
    for name in ("conftest.py", "dags/", "deploy.py", "tests/", "test_deploy.py"):
        assert name in tree
    (command,) = [line for line in _blocks(section, "bash")[0].splitlines() if line.strip()]
    assert command == "cd my-project && pytest"
    result = subprocess.run(
        ["pytest"],
        cwd=project,
        env=_user_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\b1 passed\b", output), output
