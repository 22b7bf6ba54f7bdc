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
import functools
import math
import sys
import weakref
from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_harness.airflow_compat import (
    AIRFLOW_VERSION,
    AirflowNotFoundException,
    BaseHook,
    mask_secret,
)
from airflow_provider_harness.connection_fields import (
    CONN_FIELDS,
    CONN_TYPE,
    DEFAULT_CONN_ID,
    HOOK_NAME,
    connection_form_widgets,
    ui_field_behaviour_for_hook,
)

if TYPE_CHECKING:
    from airflow_provider_harness.client.config import HarnessConfig
    from airflow_provider_harness.client.transport import AsyncHarnessClient, HarnessClient

#: Extra fields the connection understands (the same names as the connection form).
KNOWN_EXTRAS = frozenset(CONN_FIELDS)
_KNOWN_EXTRAS = KNOWN_EXTRAS
#: Older forms stored extra fields as ``extra__harness__<name>``; both spellings are read.
_EXTRA_PREFIX = f"extra__{CONN_TYPE}__"
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
#: ``airflow connections test`` / the UI's Test button: answer fast when Harness is unreachable.
TEST_CONNECTION_TIMEOUT = 10.0
TEST_CONNECTION_RETRIES = 1


def _problem(conn_id: str, field: str, text: str) -> ValueError:
    return ValueError(f"Connection {conn_id!r} extra {field!r}: {text}")


def _as_bool(value: Any, field: str, conn_id: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    raise _problem(conn_id, field, f"expected true or false, got {value!r}")


def _as_number(value: Any, field: str, conn_id: str, kind: type[int] | type[float]) -> Any:
    """Parse a number that may come as a string from a UI form ("30", "2.5"); errors name the field."""
    what = "a whole number" if kind is int else "a number"
    if isinstance(value, bool):
        raise _problem(conn_id, field, f"expected {what}, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise _problem(conn_id, field, f"expected {what}, got {value!r}") from None
    if not math.isfinite(number) or (kind is int and not number.is_integer()):
        raise _problem(conn_id, field, f"expected {what}, got {value!r}")
    if number < 0:
        raise _problem(conn_id, field, f"must not be negative, got {value!r}")
    schema = CONN_FIELDS.get(field, {}).get("schema", {})
    if schema.get("maximum") is not None and number > schema["maximum"]:
        raise _problem(conn_id, field, f"must be at most {schema['maximum']}, got {value!r}")
    return int(number) if kind is int else number


def _extras(conn: Any, conn_id: str) -> dict[str, Any]:
    """The connection's extra fields: prefixed names unified, empty form values dropped, unknown rejected."""
    raw = conn.extra_dejson or {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"Connection {conn_id!r}: extra must be a JSON object of fields")
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        name = key[len(_EXTRA_PREFIX) :] if key.startswith(_EXTRA_PREFIX) else key
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # an empty field of the connection form
        extra[name] = value.strip() if isinstance(value, str) else value
    unknown = sorted(set(extra) - KNOWN_EXTRAS)
    if unknown:
        raise ValueError(
            f"Connection {conn_id!r}: unknown extra field(s) {unknown}; "
            f"known fields are {sorted(KNOWN_EXTRAS)}"
        )
    return extra


def base_url_from_connection(conn: Any) -> str | None:
    """The Harness URL from host (with or without scheme), port and a ``gateway`` schema (URI form).

    ``harness://:KEY@harness.example.com:8443/gateway`` has host ``harness.example.com``, port 8443 and
    schema ``gateway``; all three make the URL ``https://harness.example.com:8443/gateway``.
    """
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" not in host:
        host = "https://" + host
    parts = urlsplit(host)
    netloc = parts.netloc
    try:
        has_port = parts.port is not None
    except ValueError:
        raise ValueError(f"host: {conn.host!r} has an invalid port") from None
    if conn.port and not has_port:
        netloc = f"{netloc}:{int(conn.port)}"
    path = parts.path.rstrip("/")
    schema = (conn.schema or "").strip().strip("/")
    if not path and (schema == "gateway" or schema.endswith("/gateway")):
        path = "/" + schema
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def config_from_connection(conn: Any, conn_id: str) -> HarnessConfig:
    """Build a :class:`HarnessConfig` from an Airflow connection; errors name the field to fix.

    Extras may be strings, as UI forms store them (``"30"``, ``"false"``); empty values mean "default".
    """
    from airflow_provider_harness.client.config import DEFAULT_BASE_URL, HarnessConfig, Secret

    try:
        extra = _extras(conn, conn_id)
        verify: bool | str = _as_bool(extra.get("verify_ssl", True), "verify_ssl", conn_id)
        if verify and extra.get("ca_bundle"):
            verify = str(extra["ca_bundle"])
        kwargs: dict[str, Any] = {
            "account_id": str(extra.get("account_id") or conn.login or "").strip(),
            "api_key": Secret(conn.password or ""),
            "base_url": base_url_from_connection(conn) or DEFAULT_BASE_URL,
            "org_id": extra.get("org_id") or None,
            "project_id": extra.get("project_id") or None,
            "verify": verify,
            "proxy": extra.get("proxy") or None,
        }
        if "timeout" in extra:
            kwargs["timeout"] = float(_as_number(extra["timeout"], "timeout", conn_id, float))
        if "max_retries" in extra:
            kwargs["max_retries"] = int(_as_number(extra["max_retries"], "max_retries", conn_id, int))
        if extra.get("coalesce_polls") not in (None, ""):
            kwargs["coalesce_polls"] = _as_bool(extra["coalesce_polls"], "coalesce_polls", conn_id)
        if extra.get("requests_per_minute") not in (None, ""):
            kwargs["requests_per_minute"] = float(
                _as_number(extra["requests_per_minute"], "requests_per_minute", conn_id, float)
            )
        return HarnessConfig(**kwargs)
    except ValueError as exc:
        text = str(exc)
        if not text.startswith("Connection "):
            text = f"Connection {conn_id!r}: {text}"
        raise ValueError(text) from None


def _for_cli_console(message: str) -> str:
    """Escape rich markup when ``airflow connections test`` will print ``message``.

    That command prints the message through rich markup: Harness messages such as ``identifier [nope]``
    would lose ``[nope]`` and a ``[/x]`` would crash the command. The UI shows the message verbatim.
    """
    if sys.argv[1:3] != ["connections", "test"]:
        return message
    try:
        from rich.markup import escape
    except ImportError:  # pragma: no cover - rich is an Airflow dependency
        return message
    return escape(message)


#: Connection lookups in flight, per event loop and connection id (see ``HarnessHook.aget_config``).
_LOOKUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[HarnessConfig]]] = (
    weakref.WeakKeyDictionary()
)


def _lookup_done(
    in_flight: dict[str, asyncio.Future[Any]], conn_id: str, lookup: asyncio.Future[Any]
) -> None:
    """Forget a finished lookup (later hooks look again) and mark its error as seen: its waiters may all
    have been cancelled."""
    if in_flight.get(conn_id) is lookup:
        del in_flight[conn_id]
    if not lookup.cancelled():
        lookup.exception()


def _mask(config: HarnessConfig) -> None:
    """Register the config's secrets (API key, proxy password) with Airflow's log masker."""
    for value in config.secret_values():
        mask_secret(value)


class HarnessHook(BaseHook):
    """Hook for the Harness API: settings from an Airflow connection of type ``harness``.

    Connection fields: host = Harness URL (default ``https://app.harness.io``; a ``/gateway`` prefix or a
    self-managed host works; port and a ``gateway`` schema of a URI are added), password = API key
    (``pat.…``/``sat.…``), extra = ``account_id`` (or login; optional with a ``pat.``/``sat.`` key),
    ``org_id``, ``project_id``, ``verify_ssl``, ``ca_bundle``, ``timeout``, ``proxy``, ``max_retries``,
    ``requests_per_minute``, ``coalesce_polls``. See ``docs/connection.md``.
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
        return self._scoped(self._base_config(conn))

    def _base_config(self, conn: Any | None) -> HarnessConfig:
        """The connection's (or the environment's) settings, secrets registered with the log masker."""
        from airflow_provider_harness.client.config import HarnessConfig

        if conn is None:
            try:
                config = HarnessConfig.from_env()
            except ValueError as exc:
                raise ValueError(
                    f"No Airflow connection {self.harness_conn_id!r} and the HARNESS_* environment "
                    f"fallback is incomplete: {exc}"
                ) from None
        else:
            config = config_from_connection(conn, self.harness_conn_id)
        _mask(config)
        return config

    def _scoped(self, config: HarnessConfig) -> HarnessConfig:
        """``config`` with this hook's org and project defaults."""
        try:
            return config.with_defaults(org_id=self.org_id, project_id=self.project_id)
        except ValueError as exc:
            raise ValueError(f"HarnessHook: {exc}") from None

    @cached_property
    def config(self) -> HarnessConfig:
        """Settings resolved from the connection (or the environment), with this hook's defaults."""
        return self._config_from(self._connection_or_none())

    async def aget_config(self) -> HarnessConfig:
        """Like :attr:`config`, safe inside the triggerer's event loop.

        Hooks of one event loop that look a connection up at the same time (the triggers a triggerer
        starts together, after a restart say) share one lookup: a thousand of them cost one round trip
        to the supervisor, not a thousand. A hook that starts after it finished looks again, so a
        connection changed in Airflow is used by every trigger that starts later.
        """
        if "config" in self.__dict__:
            return self.config
        in_flight = _LOOKUPS.setdefault(asyncio.get_running_loop(), {})
        lookup = in_flight.get(self.harness_conn_id)
        if lookup is None:
            lookup = in_flight[self.harness_conn_id] = asyncio.ensure_future(self._alookup())
            lookup.add_done_callback(functools.partial(_lookup_done, in_flight, self.harness_conn_id))
        config = self._scoped(await asyncio.shield(lookup))
        self.__dict__["config"] = config
        return config

    async def _alookup(self) -> HarnessConfig:
        if AIRFLOW_VERSION < (3, 3, 2) or not hasattr(type(self), "aget_connection"):
            # Before 3.3.2 the connection lookup and its secret masking (``extra_dejson``) talk to the
            # supervisor synchronously. asgiref's sync_to_async runs them in a worker thread whose
            # requests are sent back through the triggerer's own event loop, under its comms lock (a
            # plain thread, or a direct call, interleaves or refuses those requests).
            from asgiref.sync import sync_to_async

            return await sync_to_async(lambda: self._base_config(self._connection_or_none()))()
        try:
            conn = await type(self).aget_connection(self.harness_conn_id)
        except AirflowNotFoundException:
            conn = None
        return self._base_config(conn)

    def _connection_or_none(self) -> Any | None:
        try:
            return self.get_connection(self.harness_conn_id)
        except AirflowNotFoundException:
            return None

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
        """Check the URL, key and default scope with one read (``airflow connections test``).

        Uses a short timeout and at most one retry, so an unreachable host answers in seconds. The
        message is one line: what was reached, or the error (Harness's message, code, hint).
        """
        from airflow_provider_harness.client import accounts
        from airflow_provider_harness.client.errors import HarnessError
        from airflow_provider_harness.client.transport import HarnessClient, RetryPolicy

        try:
            config = self.config
            quick = replace(config, timeout=min(config.timeout, TEST_CONNECTION_TIMEOUT))
            retry = RetryPolicy(
                max_retries=min(config.max_retries, TEST_CONNECTION_RETRIES),
                base_delay=min(config.retry_base_delay, 0.5),
                max_delay=1.0,
                retry_after_cap=2.0,
            )
            with HarnessClient(quick, retry) as client:
                message = accounts.check_access(client)
        except (HarnessError, ValueError) as exc:
            return False, _for_cli_console(str(exc))
        return True, _for_cli_console(
            f"Connected to Harness at {config.base_url}, account {config.account_id}: {message}"
        )


class HarnessTaskMixin:
    """What Harness operators and sensors share: the hook, its sync client and the project scope.

    The class using it sets ``harness_conn_id``, ``org_id``, ``project_id`` and has a ``task_id``; the hook
    is created on first use (never at DAG parse time).

    >>> class Task(HarnessTaskMixin):
    ...     harness_conn_id, org_id, project_id, task_id = "harness_default", "default", "p1", "t"
    >>> Task().hook.harness_conn_id
    'harness_default'
    """

    harness_conn_id: str
    org_id: str | None
    project_id: str | None
    task_id: str

    @cached_property
    def hook(self) -> HarnessHook:
        return HarnessHook(self.harness_conn_id, org_id=self.org_id, project_id=self.project_id)

    @cached_property
    def client(self) -> HarnessClient:
        return self.hook.get_client()

    @cached_property
    def scope(self) -> dict[str, str]:
        """``orgIdentifier`` / ``projectIdentifier`` of this task, defaults from the connection."""
        return self.hook.config.scope_params("project", what=f"task {self.task_id}")

    def validate_scope_ids(self) -> None:
        """Check ``org_id`` / ``project_id`` as Harness identifiers before any request."""
        from airflow_provider_harness.client.identifiers import validate_identifier

        for name in ("org_id", "project_id"):
            value = getattr(self, name)
            if value is not None:
                validate_identifier(value, field=name)
