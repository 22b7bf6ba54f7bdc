"""Imports that moved between Airflow 3.0 and 3.3, resolved once.

The provider supports Airflow 3.0 and later. Newer features are used where present:
``BaseHook.aget_connection`` (3.1), trigger ``on_kill`` (3.3), the task state store (3.3).

>>> AIRFLOW_VERSION >= (3, 0)
True
"""

from __future__ import annotations

from importlib.metadata import version as _dist_version

from airflow.exceptions import AirflowNotFoundException

try:  # Airflow 3.1+
    from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferred
except ImportError:  # Airflow 3.0
    from airflow.exceptions import (  # type: ignore[assignment,no-redef]
        AirflowException,
        AirflowSensorTimeout,
        TaskDeferred,
    )

try:  # Airflow 3.1+
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[attr-defined,no-redef]

try:  # Airflow 3.1+
    from airflow.sdk import conf
except ImportError:  # Airflow 3.0
    from airflow.configuration import conf  # type: ignore[assignment,no-redef]

from airflow.sdk import BaseOperator, BaseOperatorLink, BaseSensorOperator
from airflow.sdk.log import mask_secret


def _parse_version(text: str) -> tuple[int, int, int]:
    """``"3.3.2"`` -> ``(3, 3, 2)``; pre-release suffixes are ignored."""
    parts = [int("".join(ch for ch in part if ch.isdigit()) or 0) for part in text.split(".")[:3]]
    major, minor, patch = (*parts, 0, 0, 0)[:3]
    return major, minor, patch


AIRFLOW_VERSION = _parse_version(_dist_version("apache-airflow-core"))
#: Airflow 3.3 calls ``BaseTrigger.on_kill`` when a user kills a deferred task.
TRIGGER_ON_KILL = AIRFLOW_VERSION >= (3, 3, 0)


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from the Airflow configuration."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "AIRFLOW_VERSION",
    "TRIGGER_ON_KILL",
    "AirflowException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "TaskDeferred",
    "conf",
    "default_deferrable",
    "mask_secret",
]
