"""pytest plugin: the ``harness_emulator`` fixture (registered through the ``pytest11`` entry point).

One emulator serves the whole session (from a background thread on 127.0.0.1, free port); before each
test that uses ``harness_emulator`` its data, faults, counters and settings are reset and the project
``emulator_project`` in org ``default`` is re-created.

Example test::

    def test_my_dag(harness_emulator, monkeypatch):
        harness_emulator.create_pipeline(PIPELINE_YAML)
        for name, value in harness_emulator.airflow_env().items():
            monkeypatch.setenv(name, value)          # AIRFLOW_CONN_HARNESS_DEFAULT
        ...run the DAG...
        assert harness_emulator.execution_count("my_pipeline") == 1

Per-test settings: ``@pytest.mark.harness_emulator(legacy_interrupts=True, rate_limit=5)``.
Session time scale: ini option ``harness_emulator_time_scale`` or ``--harness-emulator-time-scale``
(default 0.01, so ``sleep 3`` takes 30 ms).

This module imports neither Airflow nor the server until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.server import EmulatorHandle

DEFAULT_TIME_SCALE = "0.01"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the plugin."""
    group = parser.getgroup("harness-emulator", "Harness emulator")
    group.addoption(
        "--harness-emulator-time-scale",
        type=float,
        default=None,
        help="wall seconds per emulated second for the harness_emulator fixture (default 0.01)",
    )
    parser.addini(
        "harness_emulator_time_scale",
        "wall seconds per emulated second for the harness_emulator fixture",
        default=DEFAULT_TIME_SCALE,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    config.addinivalue_line(
        "markers",
        "harness_emulator(**settings): runtime settings for the harness_emulator fixture "
        "(time_scale, legacy_interrupts, rate_limit, min_step_seconds, webhook_delay_seconds, ...)",
    )


@pytest.fixture(scope="session")
def harness_emulator_session(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
    """The session-wide emulator (no reset between tests; prefer ``harness_emulator``)."""
    from airflow_provider_harness.emulator.server import run_emulator

    option = request.config.getoption("--harness-emulator-time-scale", default=None)
    try:
        ini = request.config.getini("harness_emulator_time_scale")
    except ValueError:  # the plugin's fixtures were imported without registering the plugin
        ini = DEFAULT_TIME_SCALE
    time_scale = float(option if option is not None else ini or DEFAULT_TIME_SCALE)
    with run_emulator(time_scale=time_scale) as handle:
        yield handle


@pytest.fixture
def harness_emulator(
    harness_emulator_session: EmulatorHandle, request: pytest.FixtureRequest
) -> EmulatorHandle:
    """A freshly reset emulator: ``base_url``, ``account_id``, ``api_key``, ``org_id``, ``project_id`` and
    helpers (``reset``, ``inject_fault``, ``request_count``, ``execution_count``, ``notifications``,
    ``approve``/``reject``, ``secret_sha256``, ``create_pipeline``, ``execute``, ``wait_for_status``,
    ``connection_uri``...)."""
    handle = harness_emulator_session
    handle.reset()
    marker = request.node.get_closest_marker("harness_emulator")
    if marker is not None and marker.kwargs:
        settings: dict[str, Any] = dict(marker.kwargs)
        handle.set_settings(**settings)
    return handle
