"""Running the emulator: blocking :func:`serve` (CLI), :func:`run_emulator` (context manager) and the
:class:`EmulatorHandle` it yields (admin helpers, a tiny API client, Airflow connection builders).

>>> with run_emulator(time_scale=0.01) as harness:            # doctest: +SKIP
...     harness.create_pipeline(PIPELINE_YAML)
...     execution_id = harness.execute("my_pipeline")
...     harness.wait_for_status(execution_id)["status"]
'Success'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any, Literal

from airflow_provider_harness.emulator.harness_rules import TERMINAL_DISPLAY
from airflow_provider_harness.emulator.settings import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_API_KEY,
    DEFAULT_PROJECT,
    EmulatorSettings,
)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port=0`` picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Any, settings: EmulatorSettings, *, loop: str = "auto") -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        lifespan="on",
        log_level=settings.log_level,
        access_log=settings.access_log,
        loop=loop,
        timeout_graceful_shutdown=3,
        backlog=2048,
    )


def serve(settings: EmulatorSettings, faults: list[dict[str, Any]] | None = None) -> None:
    """Run the emulator in the foreground until SIGINT/SIGTERM (what ``python -m ...emulator`` does)."""
    import logging

    import uvicorn

    from airflow_provider_harness.emulator.app import Emulator

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sock = bind_socket(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    app = Emulator(settings)
    app.prepare()
    for fault in faults or []:
        app.faults.add(fault)
    print(
        f"Harness emulator listening on {settings.base_url} (account {settings.account_id}, "
        f"API key {settings.api_key})",
        flush=True,
    )
    server = uvicorn.Server(_uvicorn_config(app, settings))
    server.run(sockets=[sock])


class EmulatorError(RuntimeError):
    """The emulator could not be started or an admin call failed."""


class EmulatorHandle:
    """A running emulator: where it is, how to authenticate, and helpers for tests and demos.

    Attributes: ``base_url``, ``account_id``, ``api_key``, ``org_id``, ``project_id``.

    >>> handle = EmulatorHandle("http://127.0.0.1:8181", "acc", "pat.acc.x.y", "default", "proj")
    >>> handle.connection_extra()
    {'account_id': 'acc', 'org_id': 'default', 'project_id': 'proj'}
    """

    def __init__(
        self,
        base_url: str,
        account_id: str,
        api_key: str,
        org_id: str = "default",
        project_id: str | None = DEFAULT_PROJECT,
        *,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.api_key = api_key
        self.org_id = org_id
        self.project_id = project_id
        self.process = process
        self._default_settings: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"EmulatorHandle(base_url={self.base_url!r}, account_id={self.account_id!r})"

    # ---- raw HTTP --------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        scoped: bool = True,
    ) -> tuple[int, Any]:
        """One HTTP call with the API key; returns ``(status, parsed JSON or text)``.

        ``scoped`` adds ``accountIdentifier`` (and ``orgIdentifier``/``projectIdentifier`` when not given).
        """
        query: list[tuple[str, Any]] = (
            list(params.items()) if isinstance(params, dict) else list(params or [])
        )
        names = {name for name, _ in query}
        if scoped:
            defaults = [
                ("accountIdentifier", self.account_id),
                ("orgIdentifier", self.org_id),
                ("projectIdentifier", self.project_id),
            ]
            query += [(n, v) for n, v in defaults if n not in names and v is not None]
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
        data: bytes | None = None
        all_headers = dict(headers or {})
        if auth:
            all_headers.setdefault("x-api-key", self.api_key)
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
                all_headers.setdefault("Content-Type", content_type or "application/yaml")
            else:
                data = json.dumps(body).encode()
                all_headers.setdefault("Content-Type", content_type or "application/json")
        elif method in ("POST", "PUT"):
            data = b""
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call an admin endpoint (``/_emulator/...``); raise :class:`EmulatorError` on 4xx/5xx."""
        status, data = self.request(
            method, f"/_emulator/{path.lstrip('/')}", body=body, auth=False, scoped=False
        )
        if status >= 400:
            raise EmulatorError(f"admin {method} {path} failed with {status}: {data}")
        return data

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        status, data = self.request(method, path, **kwargs)
        if status != 200:
            raise EmulatorError(f"{method} {path} failed with {status}: {data}")
        return data["data"] if isinstance(data, dict) and "data" in data else data

    # ---- admin helpers ---------------------------------------------------------------------------
    def reset(self, *, settings: bool = True) -> None:
        """Forget all data, faults, counters and deliveries; restore the start-up settings too."""
        self.admin("POST", "reset")
        if settings and self._default_settings is not None:
            self.admin("PUT", "settings", self._default_settings)

    def settings(self) -> dict[str, Any]:
        """The runtime settings (time_scale, rate_limit, legacy_interrupts, ...)."""
        result: dict[str, Any] = self.admin("GET", "settings")
        return result

    def set_settings(self, **changes: Any) -> dict[str, Any]:
        """Change runtime settings, e.g. ``set_settings(legacy_interrupts=True, time_scale=0.01)``."""
        result: dict[str, Any] = self.admin("PUT", "settings", changes)
        return result

    def inject_fault(
        self,
        kind: Literal["error", "html", "rate_limit", "latency", "drop"],
        *,
        count: int | None = 1,
        status: int | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
        delay_ms: int = 0,
        skip: int = 0,
        probability: float = 1.0,
        body: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Make the next ``count`` matching requests fail; returns the fault id."""
        spec = {
            "kind": kind,
            "count": count,
            "status": status,
            "path_prefix": path_prefix,
            "method": method,
            "delay_ms": delay_ms,
            "skip": skip,
            "probability": probability,
            "body": body,
            "content_type": content_type,
        }
        return str(self.admin("POST", "faults", spec)["id"])

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.admin("DELETE", "faults")

    def request_counts(self, path_prefix: str = "", method: str | None = None) -> dict[str, int]:
        """Requests received, ``{"GET /pipeline/...": n}``, filtered by path prefix / method."""
        query = urllib.parse.urlencode({"path_prefix": path_prefix, "method": method or ""})
        result: dict[str, int] = self.admin("GET", f"counters?{query}")["requests"]
        return result

    def request_count(self, path_prefix: str = "", method: str | None = None) -> int:
        """How many requests matched, e.g. ``request_count("/pipeline/api/pipelines/execution", "GET")``."""
        return sum(self.request_counts(path_prefix, method).values())

    def clear_counters(self) -> None:
        """Reset request counters."""
        self.admin("DELETE", "counters")

    def executions(self, pipeline_id: str | None = None) -> list[dict[str, Any]]:
        """Compact list of every execution (all projects), optionally of one pipeline."""
        query = f"?pipelineIdentifier={urllib.parse.quote(pipeline_id)}" if pipeline_id else ""
        result: list[dict[str, Any]] = self.admin("GET", f"executions{query}")
        return result

    def execution_count(
        self, pipeline_id: str, org_id: str | None = None, project_id: str | None = None
    ) -> int:
        """Number of executions of a pipeline (in this handle's org/project unless given)."""
        org = org_id or self.org_id
        project = project_id or self.project_id
        return sum(
            1
            for e in self.executions(pipeline_id)
            if e["orgIdentifier"] == org and e["projectIdentifier"] == project
        )

    def notifications(
        self, event_type: str | None = None, plan_execution_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded outbound notification deliveries (payload, url, statusCode, error)."""
        query = urllib.parse.urlencode(
            {"eventType": event_type or "", "planExecutionId": plan_execution_id or ""}
        )
        result: list[dict[str, Any]] = self.admin("GET", f"notifications?{query}")
        return result

    def approve(self, plan_execution_id: str, step: str | None = None, comments: str = "") -> dict[str, Any]:
        """Approve the waiting approval step of an execution."""
        result: dict[str, Any] = self.admin(
            "POST", f"executions/{plan_execution_id}/approve", {"step": step, "comments": comments}
        )
        return result

    def reject(self, plan_execution_id: str, step: str | None = None, comments: str = "") -> dict[str, Any]:
        """Reject the waiting approval step of an execution."""
        result: dict[str, Any] = self.admin(
            "POST", f"executions/{plan_execution_id}/reject", {"step": step, "comments": comments}
        )
        return result

    def secret_sha256(
        self, identifier: str, org_id: str | None = None, project_id: str | None = None
    ) -> str | None:
        """SHA-256 hex digest of the value stored for a secret (``None`` when it has none), e.g. to prove
        a rotation; the emulator keeps only this digest, never the value.

        ``org_id``/``project_id`` default to the handle's; pass ``""`` for a higher scope
        (``project_id=""``: org level, ``org_id=""``: account level).
        """
        org = self.org_id if org_id is None else org_id
        project = self.project_id if project_id is None and org else project_id
        query = urllib.parse.urlencode(
            {"identifier": identifier, "org": org or "", "project": project or "", "account": self.account_id}
        )
        digest = self.admin("GET", f"secrets/sha256?{query}")["sha256"]
        return None if digest is None else str(digest)

    # ---- IaCM ------------------------------------------------------------------------------------
    def iacm_path(self, path: str = "", org_id: str | None = None, project_id: str | None = None) -> str:
        """An IaCM API path in this handle's project, e.g. ``iacm_path("/workspaces")``."""
        org = org_id or self.org_id
        project = project_id or self.project_id
        return f"/iacm/api/orgs/{org}/projects/{project}{path}"

    def set_iacm_policies(self, policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the IaCM policies workspace writes are evaluated against (``[]`` removes them); each is
        ``{"identifier", "name", "field": "provisioner" or "tags.env", "deny": [...], "message",
        "severity": "error" | "warning"}``."""
        result: list[dict[str, Any]] = self.admin("PUT", "iacm/policies", policies)
        return result

    def iacm_events(self, workspace: str | None = None) -> list[dict[str, Any]]:
        """Recorded IaCM events (of one workspace), oldest first."""
        query = f"?workspace={urllib.parse.quote(workspace)}" if workspace else ""
        result: list[dict[str, Any]] = self.admin("GET", f"iacm/events{query}")
        return result

    def iacm_settings(self) -> dict[str, Any]:
        """``{"org/project": body}`` of the IaCM project ephemeral settings last PUT."""
        result: dict[str, Any] = self.admin("GET", f"iacm/settings?account={self.account_id}")
        return result

    # ---- tiny API client -------------------------------------------------------------------------
    def create_project(
        self, project_id: str, org_id: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """Create a project through the public API."""
        org = org_id or self.org_id
        body = {"project": {"orgIdentifier": org, "identifier": project_id, "name": name or project_id}}
        result: dict[str, Any] = self._api(
            "POST", "/ng/api/projects", params={"orgIdentifier": org}, body=body, scoped=True
        )
        return result

    def create_pipeline(
        self, yaml_text: str, org_id: str | None = None, project_id: str | None = None
    ) -> str:
        """Create a pipeline from YAML; returns its identifier."""
        params = {"orgIdentifier": org_id or self.org_id, "projectIdentifier": project_id or self.project_id}
        return str(
            self._api("POST", "/pipeline/api/pipelines/v2", params=params, body=yaml_text)["identifier"]
        )

    def execute(self, pipeline_id: str, inputs_yaml: str = "", notes: str = "", **params: Any) -> str:
        """Start a pipeline; returns the plan execution id."""
        query = {"notesForPipelineExecution": notes, **params} if notes else dict(params)
        data = self._api(
            "POST", f"/pipeline/api/pipeline/execute/{pipeline_id}", params=query, body=inputs_yaml
        )
        return str(data["planExecution"]["uuid"])

    def execution(self, plan_execution_id: str) -> dict[str, Any]:
        """``pipelineExecutionSummary`` of an execution."""
        data = self._api("GET", f"/pipeline/api/pipelines/execution/v2/{plan_execution_id}")
        result: dict[str, Any] = data["pipelineExecutionSummary"]
        return result

    def wait_for_status(
        self,
        plan_execution_id: str,
        statuses: frozenset[str] | set[str] = TERMINAL_DISPLAY,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Poll until the execution's status is in ``statuses`` (terminal by default); return the summary."""
        deadline = time.monotonic() + timeout
        while True:
            summary = self.execution(plan_execution_id)
            if summary["status"] in statuses:
                return summary
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"execution {plan_execution_id} still {summary['status']} after {timeout}s"
                )
            time.sleep(0.02)

    # ---- Airflow connection (plain strings, no Airflow import) -----------------------------------
    def connection_extra(self) -> dict[str, Any]:
        """The ``extra`` of a ``harness`` connection pointing here."""
        return {"account_id": self.account_id, "org_id": self.org_id, "project_id": self.project_id}

    def connection_dict(self) -> dict[str, Any]:
        """Airflow connection fields (conn type ``harness``, host = base URL, password = API key)."""
        return {
            "conn_type": "harness",
            "host": self.base_url,
            "password": self.api_key,
            "extra": self.connection_extra(),
        }

    def connection_json(self) -> str:
        """The connection as JSON, e.g. for ``AIRFLOW_CONN_HARNESS_DEFAULT``."""
        return json.dumps(self.connection_dict())

    def connection_uri(self) -> str:
        """The connection as an Airflow URI (host with protocol: ``harness://http://:KEY@host:port/?...``)."""
        parsed = urllib.parse.urlsplit(self.base_url)
        password = urllib.parse.quote(self.api_key, safe="")
        query = urllib.parse.urlencode({k: v for k, v in self.connection_extra().items() if v is not None})
        return f"harness://{parsed.scheme}://:{password}@{parsed.netloc}/?{query}"

    def airflow_env(self, conn_id: str = "harness_default") -> dict[str, str]:
        """Environment variables that define the connection for Airflow."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json()}


def _settings_from(**options: Any) -> EmulatorSettings:
    settings = EmulatorSettings()
    for name, value in options.items():
        if not hasattr(settings, name):
            raise TypeError(f"run_emulator() got an unknown setting {name!r}")
        setattr(settings, name, value)
    return settings


def _cli_args(settings: EmulatorSettings) -> list[str]:
    args = [
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--account-id",
        settings.account_id,
        "--api-key",
        settings.api_key,
        "--time-scale",
        str(settings.time_scale),
        "--min-step-seconds",
        str(settings.min_step_seconds),
        "--default-step-seconds",
        str(settings.default_step_seconds),
        "--webhook-delay",
        str(settings.webhook_delay_seconds),
        "--rate-limit-window",
        str(settings.rate_limit_window_seconds),
        "--log-level",
        settings.log_level,
    ]
    optional = {
        "--state-file": settings.state_file,
        "--rate-limit": settings.rate_limit,
        "--rate-limit-retry-after": settings.rate_limit_retry_after,
        "--public-url": settings.public_url,
        "--seed": settings.seed,
    }
    for flag, value in optional.items():
        if value is not None:
            args += [flag, str(value)]
    args.append("--no-default-project")  # run_emulator lists its projects itself (project_id=None: none)
    for project in settings.projects:
        args += ["--project", project]
    for key, account in settings.extra_api_keys.items():
        args += ["--extra-api-key", f"{account}={key}"]
    if settings.legacy_interrupts:
        args.append("--legacy-interrupts")
    if settings.access_log:
        args.append("--access-log")
    return args


@contextlib.contextmanager
def run_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    account_id: str = DEFAULT_ACCOUNT_ID,
    api_key: str = DEFAULT_API_KEY,
    org_id: str = "default",
    project_id: str | None = DEFAULT_PROJECT,
    time_scale: float = 1.0,
    state_file: str | os.PathLike[str] | None = None,
    rate_limit: int | None = None,
    legacy_interrupts: bool = False,
    seed: str | None = None,
    mode: Literal["thread", "process"] = "thread",
    startup_timeout: float = 15.0,
    **settings: Any,
) -> Iterator[EmulatorHandle]:
    """Start an emulator on ``host``:``port`` (0 = a free port), yield its :class:`EmulatorHandle`, stop it.

    ``mode="thread"`` serves from a background thread of this process; ``mode="process"`` runs
    ``python -m airflow_provider_harness.emulator`` in a subprocess (separate CPU, survives nothing).
    ``project_id`` (in ``org_id``) is created at start-up and after every :meth:`EmulatorHandle.reset`.
    Extra keyword arguments are :class:`~airflow_provider_harness.emulator.settings.EmulatorSettings` fields.
    """
    projects = list(settings.pop("projects", []))
    if project_id:
        projects.append(f"{org_id}/{project_id}")
    config = _settings_from(
        host=host,
        port=port,
        account_id=account_id,
        api_key=api_key,
        time_scale=time_scale,
        state_file=os.fspath(state_file) if state_file is not None else None,
        rate_limit=rate_limit,
        legacy_interrupts=legacy_interrupts,
        seed=seed,
        projects=projects,
        **settings,
    )
    if mode == "process":
        with _run_process(config, startup_timeout) as (base_url, process):
            handle = EmulatorHandle(base_url, account_id, api_key, org_id, project_id, process=process)
            handle._default_settings = handle.settings()
            yield handle
        return
    with _run_thread(config, startup_timeout) as base_url:
        handle = EmulatorHandle(base_url, account_id, api_key, org_id, project_id)
        handle._default_settings = handle.settings()
        yield handle


@contextlib.contextmanager
def _run_thread(settings: EmulatorSettings, startup_timeout: float) -> Iterator[str]:
    import uvicorn

    from airflow_provider_harness.emulator.app import Emulator

    sock = bind_socket(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    app = Emulator(settings)
    try:
        app.prepare()
    except Exception:
        sock.close()
        raise
    server = uvicorn.Server(_uvicorn_config(app, settings, loop="none"))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop_factory = None
            with contextlib.suppress(ImportError):
                import uvloop

                loop_factory = uvloop.new_event_loop
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"harness-emulator-{settings.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if failure or not thread.is_alive():
            sock.close()
            raise EmulatorError(f"the emulator did not start: {failure[0] if failure else 'thread exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise EmulatorError(f"the emulator did not start within {startup_timeout}s")
        time.sleep(0.005)
    try:
        yield settings.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextlib.contextmanager
def _run_process(
    settings: EmulatorSettings, startup_timeout: float
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    command = [sys.executable, "-m", "airflow_provider_harness.emulator", *_cli_args(settings)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(startup_timeout)
    if not lines or b"listening on " not in lines[0]:
        process.kill()
        process.wait()
        raise EmulatorError(f"the emulator process did not start: {lines[0] if lines else b'no output'!r}")
    base_url = lines[0].decode().split("listening on ", 1)[1].split(" ", 1)[0]
    deadline = time.monotonic() + startup_timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/_emulator/health", timeout=2):
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise EmulatorError(f"the emulator process is not answering: {exc}") from exc
            time.sleep(0.02)
    try:
        yield base_url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
