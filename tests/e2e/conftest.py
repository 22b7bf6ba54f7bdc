"""Fixtures for end-to-end tests: DAGs in a real Airflow, against the embedded Harness emulator.

``AIRFLOW_HOME`` is already isolated by ``tests/conftest.py`` (set at import, before Airflow is
imported). Two ways to run a DAG:

``run_dag(dag, **test_kwargs) -> DagRunResult``
    ``dag.test()`` in this process: tasks and triggers run inline (the trigger's first event resumes
    the task), so it is fast and proves the serialize -> re-instantiate round trip of trigger kwargs.

``live_airflow`` -> ``LiveAirflow`` (one per session, started on first use; a component an earlier
    test crashed is restarted before the next test)
    A real ``api-server`` + ``scheduler`` (LocalExecutor) + ``dag-processor`` + ``triggerer`` as
    subprocesses with their own ``AIRFLOW_HOME``; tests drop DAG files in ``live_airflow.dags_folder``,
    trigger runs and mark tasks failed through the REST API.

``harness_connection`` / ``live_harness_connection`` point ``harness_default`` at the
``harness_emulator`` of the current test (env var for ``run_dag``; REST upsert for a live Airflow).
See docs/development.md.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

AIRFLOW_HOME = Path(os.environ["AIRFLOW_HOME"])  # set by tests/conftest.py
AIRFLOW_VERSION = tuple(int(p) for p in version("apache-airflow-core").split(".")[:2])
_TIMINGS: dict[str, float] = {}  # printed in the terminal summary


def airflow_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``airflow ARGS`` with this interpreter; raise with its output if it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode:
        raise RuntimeError(
            f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


# --------------------------------------------------------------------------- metadata DB


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's metadata DB, migrated once with ``airflow db migrate``; yields a pristine copy's path.

    The returned path is a migrated, never-used copy (``migrated-template.db``) that a live Airflow
    copies for its own home; the session's own DB is ``$AIRFLOW_HOME/airflow.db``.
    """
    started = time.monotonic()
    airflow_cli("db", "migrate")
    _TIMINGS["airflow db migrate"] = time.monotonic() - started
    template = AIRFLOW_HOME / "migrated-template.db"
    shutil.copyfile(AIRFLOW_HOME / "airflow.db", template)
    return template


# --------------------------------------------------------------------------- emulator connection


@pytest.fixture
def harness_connection(harness_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``harness_default`` points at the ``harness_emulator`` of this test; yields the emulator handle."""
    for name, value in harness_emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    yield harness_emulator


# --------------------------------------------------------------------------- dag.test()


@dataclass
class DagRunResult:
    """What ``run_dag`` returns: the run's state, each task's state and try number, XCom, logs, output."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str | None]
    try_numbers: dict[str, int] = field(default_factory=dict)
    output: str = ""  # everything dag.test() printed (task, trigger and DAG TEST lines)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """The deserialized XCom value a task pushed (``None`` if it pushed none)."""
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(
                    dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key, map_index=map_index
                )
                .one_or_none()
            )
            return None if row is None else XComModel.deserialize_value(row)

    def log(self, task_id: str) -> str:
        """The task's log: its lines in ``output`` (dag.test logs to stdout), else its log files."""
        start, end = f"[DAG TEST] starting task_id={task_id} ", f"[DAG TEST] end task task_id={task_id} "
        lines, inside = [], False
        for line in self.output.splitlines(keepends=True):
            inside = inside or start in line
            if inside:
                lines.append(line)
            inside = inside and end not in line
        return "".join(lines) or read_task_logs(AIRFLOW_HOME / "logs", self.dag_id, self.run_id, task_id)


def read_task_logs(logs_folder: Path, dag_id: str, run_id: str, task_id: str) -> str:
    """Every log file Airflow wrote for a task instance (``attempt=N.log`` and trigger logs)."""
    folder = logs_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "".join(
        path.read_text(errors="replace") for path in sorted(folder.rglob("*.log*")) if path.is_file()
    )


def _register_serialized_dag(dag: Any) -> None:
    """Airflow >= 3.3: ``dag.test()`` only runs DAGs the metadata DB knows; write ``dag`` there.

    (3.3 parses the configured bundles to find the DAG; a DAG defined in a test module is in none.)
    """
    if AIRFLOW_VERSION < (3, 3):
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        update_dag_parsing_results_in_db(
            "dags-folder", None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


def run_dag_test(
    dag: Any, capfd: pytest.CaptureFixture[str] | None = None, **test_kwargs: Any
) -> DagRunResult:
    """``dag.test(**test_kwargs)`` and read the run back; needs a migrated DB (the ``airflow_db`` fixture).

    With ``capfd``, what the run printed is kept in ``DagRunResult.output`` and printed again, so pytest
    still shows it for a failing test.
    """
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    _register_serialized_dag(dag)
    if capfd is not None:
        _echo(capfd.readouterr())
    # Where Airflow's log lines go depends on when Airflow configured logging (stdout, or stdlib logging
    # when something imported Airflow during collection): echo stdlib records to stdout so every line
    # of the run lands, in order, in the captured output.
    echo = _StdoutEcho()
    logging.getLogger().addHandler(echo)
    try:
        dag_run = dag.test(**test_kwargs)
    finally:
        logging.getLogger().removeHandler(echo)
    output = ""
    if capfd is not None:
        captured = capfd.readouterr()
        _echo(captured)
        output = _without_mask_requests(captured.out + captured.err)
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag.dag_id, run_id=dag_run.run_id).one()
        tis = run.get_task_instances(session=session)
        return DagRunResult(
            dag_id=dag.dag_id,
            run_id=run.run_id,
            state=str(run.state),
            task_states={ti.task_id: (None if ti.state is None else str(ti.state)) for ti in tis},
            try_numbers={ti.task_id: ti.try_number for ti in tis},
            output=output,
        )


def _without_mask_requests(output: str) -> str:
    """Drop Airflow 3.0's in-process ``dag.test()`` debug echo of the masking request itself.

    On 3.0.x, ``dag.test()`` prints ``Sending request msg=MaskSecret(value='...')`` when a task asks the
    supervisor to mask a value: the one line whose purpose is to carry the value to the masker. A real
    3.0 worker logs it with the body omitted, and 3.1+ prints nothing, so the secret-leak assertions
    check everything else.
    """
    return "".join(line for line in output.splitlines(keepends=True) if "msg=MaskSecret(" not in line)


class _StdoutEcho(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record) + "\n")


def _echo(captured: Any) -> None:
    sys.stdout.write(captured.out)
    sys.stderr.write(captured.err)


@pytest.fixture
def run_dag(airflow_db: Path, capfd: pytest.CaptureFixture[str]) -> Callable[..., DagRunResult]:
    """``run_dag(dag, **dag_test_kwargs) -> DagRunResult``: run a DAG with ``dag.test()`` in this process."""
    return functools.partial(run_dag_test, capfd=capfd)


# --------------------------------------------------------------------------- live Airflow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveAirflow:
    """A real Airflow (api-server, scheduler, dag-processor, triggerer) in subprocesses on 127.0.0.1.

    >>> live.add_dag_file(Path("my_dag.py"))                    # doctest: +SKIP
    >>> run_id = live.trigger("my_dag")                          # doctest: +SKIP
    >>> live.wait_for_task_state("my_dag", run_id, "wait", {"deferred"})   # doctest: +SKIP
    >>> live.set_task_state("my_dag", run_id, "wait", "failed")  # a user's "mark failed"  # doctest: +SKIP
    >>> live.wait_for_run("my_dag", run_id)                      # doctest: +SKIP
    'failed'
    """

    COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

    def __init__(self, home: Path, db_template: Path) -> None:
        self.home = home
        self.dags_folder = home / "dags"
        self.logs_folder = home / "logs"
        self.port = free_port()
        self.log_server_ports = (free_port(), free_port())  # scheduler's and triggerer's log servers
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        self._db_template = db_template
        self._client = httpx.Client(base_url=self.base_url, timeout=30)

    @property
    def env(self) -> dict[str, str]:
        """The environment every component runs with (also usable for ``airflow`` CLI calls)."""
        from cryptography.fernet import Fernet

        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "HOME": str(self.home),  # gunicorn's control socket (~/.gunicorn) of two live Airflows
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__FERNET_KEY": self._secret(
                    "fernet_key", lambda: Fernet.generate_key().decode()
                ),
                "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret", lambda: os.urandom(16).hex()),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_server_ports[0]),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_server_ports[1]),
                # Fast pick-up of new DAG files, runs and triggers (defaults are minutes / 5 s).
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__TRIGGERER__ON_KILL_TIMEOUT": "10",
            }
        )
        return env

    def _secret(self, name: str, make: Callable[[], str]) -> str:
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(make())
        return path.read_text()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> float:
        """Start every component and wait until the API reports them healthy; returns seconds taken."""
        started = time.monotonic()
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.logs_folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._db_template, self.home / "airflow.db")
        for component in self.COMPONENTS:
            self._spawn(component)
        self._wait(self._healthy, timeout, "Airflow components to report healthy")
        return time.monotonic() - started

    def ensure_running(self, timeout: float = 120) -> list[str]:
        """Restart any component that died (e.g. a triggerer a previous test stopped) or that stays
        unhealthy (a scheduler hung in its shutdown no longer heartbeats); returns their names.

        A component that is merely slow gets ``timeout`` seconds to heartbeat again before it is
        replaced, so a busy machine does not cost a healthy scheduler its running tasks.
        """
        dead = [name for name, proc in self.processes.items() if proc.poll() is not None]
        for component in dead:
            self._spawn(component)
        if not dead and self._healthy():
            return []
        deadline = time.monotonic() + timeout
        while not self._healthy() and time.monotonic() < deadline:
            time.sleep(0.5)
        stuck = [name for name in self._unhealthy() if name not in dead]
        for component in stuck:
            self.stop_component(component)
            self._spawn(component)
        self._wait(self._healthy, timeout, f"restarted {', '.join(dead + stuck)} to report healthy")
        return dead + stuck

    def stop_component(self, component: str, grace: float = 30) -> None:
        """What a deploy or a node drain does: SIGTERM the component's process group and wait for it;
        SIGKILL the group if it has not exited after ``grace`` seconds (a LocalExecutor scheduler waits
        for its running tasks on SIGTERM, which can outlast any test)."""
        proc = self.processes[component]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def _spawn(self, component: str) -> None:
        with (self.home / f"{component}.log").open("ab") as log:
            self.processes[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", component],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() ends the workers it forks too
            )

    def check_alive(self) -> None:
        """Raise, with its last lines, if a component has exited."""
        for component, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {component} exited {proc.returncode}:\n{self.tail(component)}")

    def _healthy(self) -> bool:
        return not self._unhealthy()

    def _unhealthy(self) -> list[str]:
        """The components the API's health endpoint does not report healthy (all, if it is down)."""
        names = {"scheduler": "scheduler", "triggerer": "triggerer", "dag_processor": "dag-processor"}
        try:
            health = self._client.get("/api/v2/monitor/health").json()
        except (httpx.HTTPError, ValueError):
            return ["api-server"]
        if (health.get("metadatabase") or {}).get("status") != "healthy":
            return ["api-server"]
        return [
            component
            for key, component in names.items()
            if (health.get(key) or {}).get("status") != "healthy"
        ]

    def stop(self) -> None:
        """SIGTERM every component's process group, then SIGKILL what is left after 20 s."""
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._client.close()

    def tail(self, component: str, lines: int = 60) -> str:
        """The last lines a component printed (``<home>/<component>.log``), less HTTP access lines."""
        text = (self.home / f"{component}.log").read_text(errors="replace")
        noise = ('HTTP/1.1" ', "DAG bundles loaded", "[http.access]")
        kept = [line for line in text.splitlines() if not any(marker in line for marker in noise)]
        return "\n".join(kept[-lines:])

    def diagnostics(self, lines: int = 30) -> str:
        """Each component's state and last lines, for assertion messages."""
        parts = []
        for name in self.COMPONENTS:
            proc = self.processes.get(name)
            state = "not started" if proc is None else "running"
            if proc is not None and proc.poll() is not None:
                state = f"exited {proc.returncode}"
            parts.append(f"--- {name} ({state}) ---\n{self.tail(name, lines)}")
        return "\n".join(parts)

    def explain(self, dag_id: str, run_id: str, task_id: str) -> str:
        """A failed live run in full (a plain string, so pytest does not truncate it): the run's task
        instances, the task's own log and every component's last lines."""
        return (
            f"task instances: {self.task_instances(dag_id, run_id)}\n"
            f"--- log of {dag_id}.{task_id} ---\n{self.task_log(dag_id, run_id, task_id)}\n"
            f"{self.diagnostics()}"
        )

    # -- REST API -------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the public REST API (``/api/v2/...``) as an admin; raises on 4xx/5xx."""
        if self._token is None:
            self._token = self._client.get("/auth/token").raise_for_status().json()["access_token"]
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        response = self._client.request(method, path, headers=headers, **kwargs)
        if response.is_error:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response

    def set_connection(self, conn_id: str, connection_json: str) -> None:
        """Create or replace a connection in the metadata DB (components read it at run time)."""
        conn = json.loads(connection_json)
        body = {"connection_id": conn_id, **conn}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        existing = self._client_get_or_none(f"/api/v2/connections/{conn_id}")
        if existing is None:
            self.api("POST", "/api/v2/connections", json=body)
        else:
            self.api("PATCH", f"/api/v2/connections/{conn_id}", json=body)

    def _client_get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return self.api("GET", path).json()
        except RuntimeError as err:
            if "-> 404" in str(err):
                return None
            raise

    # -- DAGs and runs --------------------------------------------------------------------------

    def add_dag_file(self, source: Path | str, name: str | None = None) -> Path:
        """Copy a DAG file (a path, or Python source text with ``name``) into the DAGs folder."""
        target = self.dags_folder / (name or Path(source).name)
        if isinstance(source, Path):
            shutil.copyfile(source, target)
        else:
            target.write_text(source)
        return target

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; returns the API's DAG record."""
        found: dict[str, Any] = {}

        def parsed() -> bool:
            record = self._client_get_or_none(f"/api/v2/dags/{dag_id}")
            if record:
                found.update(record)
            return bool(record)

        self._wait(parsed, timeout, f"DAG {dag_id!r} to be parsed")
        return found

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 90) -> str:
        """Trigger a run of ``dag_id`` (waiting for it to be parsed first); returns the run id."""
        self.wait_for_dag(dag_id, timeout)
        body = {"logical_date": None, "conf": conf or {}}
        return str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body).json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"])

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """``task_id -> task instance record`` (state, try_number, ...) for a run."""
        tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
        return {ti["task_id"]: ti for ti in tis["task_instances"]}

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        ti = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}").json()
        return ti["state"]

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str = "failed") -> None:
        """What a user's "Mark failed/success" does: PATCH the task instance's state."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        self.api("PATCH", path, json={"new_state": state})

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> None:
        """What a user's "Clear" on a task does (its run goes back to running)."""
        body = {"dry_run": False, "task_ids": [task_id], "dag_run_id": run_id, "only_failed": False}
        self.api("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", json=body)

    def wait_for_try(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int,
        states: Iterable[str],
        timeout: float = 120,
    ) -> dict[str, Any]:
        """Wait until the task instance's try ``try_number`` is in one of ``states``; returns its record."""
        wanted = set(states)
        seen: list[dict[str, Any]] = []

        def reached() -> bool:
            path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
            seen.append(self.api("GET", path).json())
            return seen[-1]["try_number"] == try_number and seen[-1]["state"] in wanted

        self._wait(reached, timeout, f"{dag_id}.{task_id} try {try_number} to reach {sorted(wanted)}")
        return seen[-1]

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float = 120
    ) -> str:
        """Wait until the task instance is in one of ``states``; returns that state."""
        wanted = set(states)
        seen: list[str | None] = []

        def reached() -> bool:
            seen.append(self.task_state(dag_id, run_id, task_id))
            return seen[-1] in wanted

        try:
            self._wait(reached, timeout, f"{dag_id}.{task_id} to reach {sorted(wanted)}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\nlast state seen: {seen[-1:]}") from None
        return str(seen[-1])

    def wait_for_defer_exit(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, timeout: float = 120
    ) -> None:
        """Wait until the scheduler has handled the executor's report of the worker that exited on
        ``defer()`` (its ``TaskInstance Finished: ... state=deferred`` line).

        Airflow 3.0-3.3 fail a task queued again while an older report of its worker is still unhandled
        (apache/airflow#71580, #72716: "reported that the task instance finished with state success, but
        the task instance's state attribute is queued"). A test that lets its trigger fire only after this
        point cannot lose that race on a slow machine.
        """
        self.wait_for_worker_exit(dag_id, run_id, task_id, try_number, "deferred", timeout)

    def wait_for_worker_exit(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, state: str, timeout: float = 120
    ) -> None:
        """Wait for the scheduler's ``TaskInstance Finished`` line of one try ending in ``state``.

        Clear a task only after this: a clear that re-queues it before the scheduler handled the last
        worker's report loses the same core race as a trigger that fires too early (see
        ``wait_for_defer_exit``).
        """
        wanted = f"TaskInstance Finished: dag_id={dag_id}, task_id={task_id}, run_id={run_id},"

        def handled() -> bool:
            text = (self.home / "scheduler.log").read_text(errors="replace")
            return any(
                wanted in line and f"state={state}," in line and f"try_number={try_number}," in line
                for line in text.splitlines()
            )

        what = f"the scheduler to handle {dag_id}.{task_id} try {try_number} ending {state}"
        self._wait(handled, timeout, what)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        """Wait until the run is ``success`` or ``failed``; returns the state."""
        state: list[str] = []

        def finished() -> bool:
            state.append(self.run_state(dag_id, run_id))
            return state[-1] in ("success", "failed")

        self._wait(finished, timeout, f"run {dag_id}/{run_id} to finish")
        return state[-1]

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The task's log files (worker and triggerer lines, all tries), as written on this machine."""
        return read_task_logs(self.logs_folder, dag_id, run_id, task_id)

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.diagnostics()}")
            time.sleep(interval)


@pytest.fixture(scope="session")
def live_airflow_session(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAirflow]:
    """The session's live Airflow (see ``LiveAirflow``): started on first use, stopped at the end."""
    live = LiveAirflow(tmp_path_factory.mktemp("live-airflow"), airflow_db)
    try:
        _TIMINGS["live Airflow start-up"] = live.start()
        yield live
    finally:
        live.stop()


@pytest.fixture
def live_airflow(live_airflow_session: LiveAirflow) -> LiveAirflow:
    """The running live Airflow, with any component an earlier test crashed restarted first."""
    live_airflow_session.ensure_running()
    return live_airflow_session


@pytest.fixture
def live_harness_connection(live_airflow: LiveAirflow, harness_emulator: Any) -> Iterator[Any]:
    """``harness_default`` in the live Airflow points at this test's ``harness_emulator``; yields it."""
    live_airflow.set_connection("harness_default", harness_emulator.connection_json())
    yield harness_emulator


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _TIMINGS:
        terminalreporter.write_sep("-", "e2e timings")
        for what, seconds in _TIMINGS.items():
            terminalreporter.write_line(f"{what}: {seconds:.1f}s")
