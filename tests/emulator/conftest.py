"""Fixtures for the emulator tests: the plugin's ``harness_emulator`` fixture plus a plain httpx client.

The tests talk to the emulator over real HTTP on 127.0.0.1 with httpx only (no project client).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest
from emulator_kit import Api

from airflow_provider_harness.emulator.server import EmulatorHandle

if not any(ep.name == "harness_emulator" for ep in entry_points(group="pytest11")):  # not pip-installed
    from airflow_provider_harness.emulator.pytest_plugin import (  # noqa: F401
        harness_emulator,
        harness_emulator_session,
    )


@pytest.fixture
def api(harness_emulator: EmulatorHandle) -> Iterator[Api]:
    """A fresh emulator (reset) and an httpx client for it."""
    client = Api(harness_emulator)
    yield client
    client.client.close()
