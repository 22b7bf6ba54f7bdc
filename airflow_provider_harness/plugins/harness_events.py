"""The ``harness_events`` Airflow plugin: mounts the Harness notification receiver in the API server.

Airflow loads plugins in every component (scheduler, workers, dag-processor, API server), so this module
only imports Airflow's plugin base: the receiver app (FastAPI, the DB code) is built on its first request,
which only ever reaches the API server.

Registered twice, as official providers with plugins do: the ``airflow.plugins`` entry point (always
loaded, Airflow 3.0 and later) and the provider info's ``plugins`` (listed by ``airflow providers plugins``;
loaded from there only with ``[core] lazy_discover_providers = False``, where Airflow skips the second copy
by name - 3.3 then logs "Plugin 'harness_events' already registered, skipping").

>>> HarnessEventsPlugin.fastapi_apps[0]["url_prefix"]
'/harness-events'
"""

from __future__ import annotations

import threading
from typing import Any

try:  # newer Airflow (3.3 here): the Task SDK's base, as common.compat picks; core accepts it by name
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # Airflow 3.0
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[no-redef,assignment]

#: Where the receiver is mounted (the API server's base URL + this + ``/v1/notifications``).
URL_PREFIX = "/harness-events"


class LazyReceiverApp:
    """An ASGI app that builds :func:`~airflow_provider_harness.plugins.receiver.create_app` on first use."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        """The receiver app (built now if it was not yet)."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_provider_harness.plugins.receiver import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class HarnessEventsPlugin(AirflowPlugin):
    """Receives Harness notifications at ``/harness-events/v1/notifications`` (docs/events.md)."""

    name = "harness_events"
    fastapi_apps = [
        {
            "app": LazyReceiverApp(),
            "url_prefix": URL_PREFIX,
            "name": "Harness events receiver",
        }
    ]


__all__ = ["URL_PREFIX", "HarnessEventsPlugin", "LazyReceiverApp"]
