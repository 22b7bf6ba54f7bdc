"""An offline Harness API emulator (asyncio, Starlette/uvicorn) for demos, tests and benchmarks.

Run it with ``python -m airflow_provider_harness.emulator --port 8181``, from Python with
:func:`run_emulator`, or in pytest with the ``harness_emulator`` fixture.  It never imports Airflow.

>>> from airflow_provider_harness.emulator import run_emulator   # doctest: +SKIP
>>> with run_emulator(time_scale=0.01) as harness:                # doctest: +SKIP
...     print(harness.base_url, harness.api_key)

Names are imported lazily so that importing this package (and ``--help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_harness.emulator.app import Emulator
    from airflow_provider_harness.emulator.server import EmulatorHandle, run_emulator
    from airflow_provider_harness.emulator.settings import EmulatorSettings

__all__ = ["Emulator", "EmulatorHandle", "EmulatorSettings", "run_emulator"]

_LAZY = {
    "Emulator": "airflow_provider_harness.emulator.app",
    "EmulatorHandle": "airflow_provider_harness.emulator.server",
    "run_emulator": "airflow_provider_harness.emulator.server",
    "EmulatorSettings": "airflow_provider_harness.emulator.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
