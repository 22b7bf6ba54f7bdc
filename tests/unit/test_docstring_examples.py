"""The ``>>>`` examples in the client's and the execution operators' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import airflow_provider_harness.client as client_package

MODULES = sorted(
    [f"airflow_provider_harness.client.{info.name}" for info in pkgutil.iter_modules(client_package.__path__)]
    + ["airflow_provider_harness.operators.executions", "airflow_provider_harness.sensors.executions"]
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
