"""``HarnessHook``: turns an Airflow connection into a Harness API client.

The hook holds no API knowledge: API calls live in :mod:`airflow_provider_harness.client`, and the
hook only resolves settings (connection, or ``HARNESS_*`` environment variables when the connection
does not exist), masks the key, and hands out sync and async clients.

Example (in a task)::

    from airflow_provider_harness.client import executions
    from airflow_provider_harness.hooks.harness import HarnessHook

    hook = HarnessHook()  # connection "harness_default"
    details = hook.get_client().send(executions.details_call(hook.config.scope_params("project"), "abc123"))
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_harness.airflow_compat import AirflowNotFoundException, BaseHook, mask_secret
from airflow_provider_harness.connection_fields import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    HOOK_NAME,
    connection_form_widgets,
    ui_field_behaviour_for_hook,
)

if TYPE_CHECKING:
    from airflow_provider_harness.client.config import HarnessConfig
    from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient


def _as_bool(value: Any, field: str, conn_id: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return value.strip().lower() in ("true", "1", "yes", "on")
    raise ValueError(f"Connection {conn_id!r} extra {field!r}: expected true or false, got {value!r}")


def _as_number(value: Any, field: str, conn_id: str, kind: type[int] | type[float]) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"Connection {conn_id!r} extra {field!r}: expected {what}, got {value!r}") from None
    if number < 0:
        raise ValueError(f"Connection {conn_id!r} extra {field!r}: must not be negative, got {value!r}")
    return number


def config_from_connection(conn: Any, conn_id: str) -> HarnessConfig:
    """Build a :class:`HarnessConfig` from an Airflow connection; errors name the field to fix."""
    from airflow_provider_harness.client.config import DEFAULT_BASE_URL, HarnessConfig, Secret

    extra = conn.extra_dejson or {}
    unknown = sorted(set(extra) - _KNOWN_EXTRAS)
    if unknown:
        raise ValueError(
            f"Connection {conn_id!r}: unknown extra field(s) {unknown}; known fields are {sorted(_KNOWN_EXTRAS)}"
        )
    host = (conn.host or "").strip()
    if host and conn.port and "://" in host and host.count(":") == 1:
        host = f"{host}:{conn.port}"
    verify: bool | str = _as_bool(extra.get("verify_ssl", True), "verify_ssl", conn_id)
    if verify and extra.get("ca_bundle"):
        verify = str(extra["ca_bundle"])
    kwargs: dict[str, Any] = {
        "account_id": extra.get("account_id") or conn.login or "",
        "api_key": Secret(conn.password or ""),
        "base_url": host or DEFAULT_BASE_URL,
        "org_id": extra.get("org_id") or None,
        "project_id": extra.get("project_id") or None,
        "verify": verify,
        "proxy": extra.get("proxy") or None,
    }
    if extra.get("timeout") not in (None, ""):
        kwargs["timeout"] = float(_as_number(extra["timeout"], "timeout", conn_id, float))
    if extra.get("max_retries") not in (None, ""):
        kwargs["max_retries"] = int(_as_number(extra["max_retries"], "max_retries", conn_id, int))
    try:
        return HarnessConfig(**kwargs)
    except ValueError as exc:
        raise ValueError(f"Connection {conn_id!r}: {exc}") from None


_KNOWN_EXTRAS = frozenset(
    {"account_id", "org_id", "project_id", "verify_ssl", "ca_bundle", "timeout", "proxy", "max_retries"}
)


class HarnessHook(BaseHook):
    """Hook for the Harness API: settings from an Airflow connection of type ``harness``.

    Connection fields: host = Harness URL (default ``https://app.harness.io``; a ``/gateway`` prefix or a
    self-managed host works), password = API key (``pat.…``/``sat.…``), extra = ``account_id``,
    ``org_id``, ``project_id``, ``verify_ssl``, ``ca_bundle``, ``timeout``, ``proxy``, ``max_retries``.
    When the connection does not exist, ``HARNESS_ACCOUNT_ID``, ``HARNESS_API_KEY``,
    ``HARNESS_BASE_URL``, ``HARNESS_ORG_ID`` and ``HARNESS_PROJECT_ID`` are used.

    >>> hook = HarnessHook(harness_conn_id="harness_default", org_id="default")
    >>> hook.harness_conn_id
    'harness_default'
    """

    conn_name_attr = "harness_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(
        self,
        harness_conn_id: str = DEFAULT_CONN_ID,
        *,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> None:
        super().__init__()
        self.harness_conn_id = harness_conn_id
        self.org_id = org_id
        self.project_id = project_id
        self._client: HarnessClient | None = None

    def __repr__(self) -> str:
        return f"HarnessHook(harness_conn_id={self.harness_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form layout for Airflow 3.0/3.1 UIs (3.2+ reads the provider info)."""
        return ui_field_behaviour_for_hook()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra connection fields for Airflow 3.0/3.1 UIs (3.2+ reads ``conn-fields``)."""
        return connection_form_widgets()

    def _config_from(self, conn: Any | None) -> HarnessConfig:
        from airflow_provider_harness.client.config import HarnessConfig

        if conn is None:
            try:
                config = HarnessConfig.from_env()
            except ValueError as exc:
                raise ValueError(
                    f"No Airflow connection {self.harness_conn_id!r} and the HARNESS_* environment fallback "
                    f"is incomplete: {exc}"
                ) from None
            mask_secret(config.api_key.reveal())
        else:
            config = config_from_connection(conn, self.harness_conn_id)
        return config.with_defaults(org_id=self.org_id, project_id=self.project_id)

    @cached_property
    def config(self) -> HarnessConfig:
        """Settings resolved from the connection (or the environment), with this hook's defaults."""
        try:
            conn = self.get_connection(self.harness_conn_id)
        except AirflowNotFoundException:
            conn = None
        return self._config_from(conn)

    async def aget_config(self) -> HarnessConfig:
        """Like :attr:`config`, safe inside the triggerer's event loop."""
        if "config" in self.__dict__:
            return self.config
        try:
            if hasattr(BaseHook, "aget_connection"):  # Airflow 3.1+
                conn = await BaseHook.aget_connection(self.harness_conn_id)
            else:
                conn = await asyncio.to_thread(BaseHook.get_connection, self.harness_conn_id)
        except AirflowNotFoundException:
            conn = None
        config = self._config_from(conn)
        self.__dict__["config"] = config
        return config

    def get_conn(self) -> HarnessClient:
        """The sync client (Airflow's conventional hook entry point)."""
        return self.get_client()

    def get_client(self) -> HarnessClient:
        """A sync :class:`HarnessClient`, created once per hook."""
        if self._client is None:
            from airflow_provider_harness.client.transport import HarnessClient

            self._client = HarnessClient(self.config)
        return self._client

    async def aget_client(self) -> AsyncHarnessClient:
        """An async client; its connection pool is shared per event loop."""
        from airflow_provider_harness.client.transport import AsyncHarnessClient

        return AsyncHarnessClient(await self.aget_config())

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL, key and default scope with one read (``airflow connections test``)."""
        from airflow_provider_harness.client import accounts
        from airflow_provider_harness.client.errors import HarnessError

        try:
            config = self.config
            message = accounts.check_access(self.get_client())
        except (HarnessError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connected to Harness at {config.base_url}, account {config.account_id}: {message}"
