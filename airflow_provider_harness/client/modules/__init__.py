"""Harness modules beyond the platform API, one file each (docs/architecture.md, "Adding a module").

A module file holds everything the client knows of that module: its resource kinds as rows (``KINDS``,
joined into :data:`~airflow_provider_harness.client.resource_kinds.RESOURCE_KINDS` so the generic resource
operators serve them), the call builders of its other endpoints, and the parsing of its answers. Module
files are import-light (no httpx, no yaml at import time) because DAG files import the resource table.

>>> MODULES
('iacm',)
>>> [kind.name for kind in module_kinds()]
['workspace']
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_harness.client.resource_model import ResourceKind

#: The module files under this package, in the order their kinds join the resource table.
MODULES: tuple[str, ...] = ("iacm",)


def module_kinds() -> tuple[ResourceKind, ...]:
    """Every resource kind the module files declare (their ``KINDS``)."""
    kinds: list[ResourceKind] = []
    for name in MODULES:
        kinds.extend(import_module(f"{__name__}.{name}").KINDS)
    return tuple(kinds)
