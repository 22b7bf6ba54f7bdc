"""The Airflow CLI with the package installed: ``airflow providers list`` and ``airflow connections test``.

Each test runs the ``airflow`` next to this interpreter in a subprocess with a temporary AIRFLOW_HOME
(neither command needs a metadata database: the connection comes from ``AIRFLOW_CONN_HARNESS_DEFAULT``).
``airflow connections test`` needs ``[core] test_connection = Enabled`` (disabled by default).
The Harness side is the emulator (``harness_emulator`` fixture); without it, a tiny local stub.
These are slow-ish (an Airflow start per command), so they are few.

What docs/connection.md shows as the CLI's output is checked against what the CLI really prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_harness.airflow_compat import AIRFLOW_VERSION

pytestmark = pytest.mark.integration

AIRFLOW = Path(sys.executable).with_name("airflow")
CONNECTION_DOC = Path(__file__).resolve().parents[2] / "docs" / "connection.md"
NGINX_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Harness:
    base_url: str
    account_id: str
    api_key: str
    org_id: str
    project_id: str | None
    emulator: Any = None

    def fail(self, kind: str) -> None:
        """Make every following API request fail: ``html`` (a proxy's HTML 502) or ``rate_limit`` (429)."""
        if self.emulator is not None:
            self.emulator.inject_fault(kind, count=None, path_prefix="/ng/api")  # type: ignore[arg-type]
        else:
            _StubHandler.failure = kind


class _StubHandler(BaseHTTPRequestHandler):
    """Just the reads test_connection makes, with Harness's real envelopes."""

    account_id = "stubacc"
    api_key = "pat.stubacc.tok.secret"
    failure: str | None = None

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if self.failure == "html":
            return self._send(502, NGINX_502, "text/html")
        if self.failure == "rate_limit":
            return self._send(429, "", "text/plain")
        if self.headers.get("x-api-key") != self.api_key:
            body = {
                "status": "ERROR",
                "code": "INVALID_TOKEN",
                "message": "Token is not valid.",
                "correlationId": "c",
            }
            return self._send(401, json.dumps(body))
        if query.get("accountIdentifier") != [self.account_id]:
            return self._send(401, json.dumps({"status": "ERROR", "code": "INVALID_TOKEN", "message": "x"}))
        if parts.path == "/ng/api/organizations/default":
            data = {"organization": {"identifier": "default"}}
            return self._send(200, json.dumps({"status": "SUCCESS", "data": data, "correlationId": "c"}))
        if parts.path.startswith("/ng/api/organizations/"):
            org = parts.path.rsplit("/", 1)[1]
            body = {
                "status": "FAILURE",
                "code": "RESOURCE_NOT_FOUND_EXCEPTION",
                "message": f"Organization with identifier [{org}] not found",
                "correlationId": "c",
                "errors": None,
            }
            return self._send(400, json.dumps(body))
        if parts.path == "/ng/api/projects/proj":
            data = {"project": {"identifier": "proj"}}
            return self._send(200, json.dumps({"status": "SUCCESS", "data": data, "correlationId": "c"}))
        return self._send(404, "<html><title>404 Not Found</title></html>", "text/html")

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    try:
        emulator = request.getfixturevalue("harness_emulator")
    except pytest.FixtureLookupError:
        emulator = None
    if emulator is not None:
        yield Harness(
            emulator.base_url,
            emulator.account_id,
            emulator.api_key,
            emulator.org_id,
            emulator.project_id,
            emulator,
        )
        return
    _StubHandler.failure = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Harness(
            f"http://127.0.0.1:{server.server_address[1]}",
            _StubHandler.account_id,
            _StubHandler.api_key,
            "default",
            "proj",
        )
    finally:
        server.shutdown()
        server.server_close()


def airflow(
    tmp_path: Path, *args: str, connection: dict[str, Any] | None = None, **env: str
) -> tuple[int, str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "HARNESS_"))
        and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    environ.update(
        AIRFLOW_HOME=str(tmp_path / "airflow_home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        NO_PROXY="127.0.0.1,localhost",
        COLUMNS="400",  # the CLI's console would wrap the one-line message at 80 columns
        **env,
    )
    if connection is not None:
        environ["AIRFLOW_CONN_HARNESS_DEFAULT"] = json.dumps(connection)
    result = subprocess.run(
        [str(AIRFLOW), *args], env=environ, capture_output=True, text=True, timeout=180, check=False
    )
    return result.returncode, result.stdout + result.stderr


def connection(harness: Harness, **changes: Any) -> dict[str, Any]:
    extra = {"account_id": harness.account_id, "org_id": harness.org_id, "project_id": harness.project_id}
    extra.update(changes.pop("extra", {}))
    conn = {"conn_type": "harness", "host": harness.base_url, "password": harness.api_key, "extra": extra}
    conn.update(changes)
    return conn


def assert_failed(code: int, output: str) -> None:
    """Airflow 3.0.x exits 0 after "Connection failed!", 3.3 exits 1 (as docs/connection.md says)."""
    assert "Connection failed!" in output, output
    if AIRFLOW_VERSION >= (3, 3, 0):
        assert code == 1, output
    elif AIRFLOW_VERSION < (3, 1, 0):
        assert code == 0, output


def cli_lines(output: str) -> list[str]:
    """The CLI's own non-empty lines, from "Retrieving connection" on (3.0 logs lines before it)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[lines.index("Retrieving connection: 'harness_default'") :]


def documented_output(first_result_line: str) -> list[str]:
    """The non-empty lines of the ```text block of docs/connection.md that shows ``first_result_line``."""
    blocks = re.findall(r"```text\n(.*?)```", CONNECTION_DOC.read_text(), re.DOTALL)
    found = [block for block in blocks if "Retrieving connection" in block and first_result_line in block]
    assert len(found) == 1, f"docs/connection.md shows no CLI output with {first_result_line!r}"
    return [line.strip() for line in found[0].splitlines() if line.strip()]


def failure_line(output: str) -> str:
    """The message after "Connection failed!" (the CLI's console soft-wraps it at 200 columns)."""
    lines = [line.strip() for line in output.splitlines()]
    start = lines.index("Connection failed!") + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return " ".join(lines[start:end])


def test_providers_list(tmp_path: Path) -> None:
    code, output = airflow(tmp_path, "providers", "list", "--output", "json")
    assert code == 0, output
    match = re.search(r"\[\s*\{", output)  # 3.0 prints log lines before the JSON
    assert match, output
    listed, _ = json.JSONDecoder().raw_decode(output[match.start() :])
    providers = {p["package_name"]: p for p in listed}
    from airflow_provider_harness import __version__

    assert providers["airflow-provider-harness"]["version"] == __version__
    assert "Harness" in providers["airflow-provider-harness"]["description"]


def test_connections_test_success(tmp_path: Path, harness: Harness) -> None:
    code, output = airflow(tmp_path, "connections", "test", "harness_default", connection=connection(harness))
    assert code == 0, output
    assert "Connection success!" in output


def test_connections_test_success_prints_what_the_docs_show(tmp_path: Path, harness: Harness) -> None:
    """Airflow's CLI prints only "Connection success!" (3.0.6 and 3.3.2): the hook's message is dropped."""
    code, output = airflow(tmp_path, "connections", "test", "harness_default", connection=connection(harness))
    assert code == 0, output
    printed = cli_lines(output)
    assert printed[:3] == ["Retrieving connection: 'harness_default'", "Testing...", "Connection success!"]
    assert printed[:3] == documented_output("Connection success!")
    assert "Connected to Harness" not in output


def test_connections_test_failure_prints_what_the_docs_show(tmp_path: Path, harness: Harness) -> None:
    conn = connection(harness, extra={"org_id": "nope", "project_id": None})
    code, output = airflow(tmp_path, "connections", "test", "harness_default", connection=conn)
    assert_failed(code, output)
    documented = documented_output("Connection failed!")
    assert cli_lines(output)[:3] == documented[:3]
    real = re.sub(r"correlationId=[^)]*", "correlationId=…", failure_line(output))
    assert real == " ".join(documented[3:]).replace("'abc123'", f"'{harness.account_id}'")


def test_connections_test_bad_key(tmp_path: Path, harness: Harness) -> None:
    bad = f"pat.{harness.account_id}.tokenid.wrongsecret"
    code, output = airflow(
        tmp_path, "connections", "test", "harness_default", connection=connection(harness, password=bad)
    )
    assert_failed(code, output)
    line = failure_line(output)
    assert line.startswith(
        "Harness rejected the API key: Token is not valid (INVALID_TOKEN, HTTP 401, GET /ng/api/"
    )
    assert line.endswith(
        "Check the API key (connection password or HARNESS_API_KEY) and that it is a valid, "
        "unexpired key of "
        f"account '{harness.account_id}'"
    )
    assert "wrongsecret" not in output
    assert "Traceback" not in output


def test_connections_test_unknown_org(tmp_path: Path, harness: Harness) -> None:
    conn = connection(harness, extra={"org_id": "nope", "project_id": None})
    code, output = airflow(tmp_path, "connections", "test", "harness_default", connection=conn)
    assert_failed(code, output)
    line = failure_line(output)
    assert line.startswith(
        "Organization with identifier [nope] not found (RESOURCE_NOT_FOUND_EXCEPTION, HTTP 400, "
        "GET /ng/api/organizations/nope"
    )
    assert line.endswith(
        "The connection's default organization 'nope' does not exist in account "
        f"'{harness.account_id}' or the "
        "API key cannot see it; fix the connection extra 'org_id' (or HARNESS_ORG_ID)"
    )
    assert "Traceback" not in output


def test_connections_test_429_storm(tmp_path: Path, harness: Harness) -> None:
    harness.fail("rate_limit")
    code, output = airflow(tmp_path, "connections", "test", "harness_default", connection=connection(harness))
    assert_failed(code, output)
    line = failure_line(output)
    assert re.fullmatch(
        r"Harness rate limit hit: [^(]+ \(HTTP 429, GET /ng/api/\S+, after 2 attempts\)\. "
        r"Harness allows about 1000 API requests per minute per API key; poll less often or spread the load",
        line,
    ), line
    assert "Traceback" not in output and "httpx" not in output


def test_connections_test_proxy_html_502(tmp_path: Path, harness: Harness) -> None:
    harness.fail("html")
    code, output = airflow(tmp_path, "connections", "test", "harness_default", connection=connection(harness))
    assert_failed(code, output)
    line = failure_line(output)
    assert re.match(
        r"Harness or a proxy in front of it answered with an HTML error page '[^']+' \(HTTP 502, GET ", line
    )
    assert "after 2 attempts). The service may be down or a proxy/load balancer is failing" in line
    assert "Traceback" not in output and "httpx" not in output
