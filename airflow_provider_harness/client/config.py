"""Connection settings for the Harness API client, independent of Airflow.

>>> cfg = HarnessConfig(account_id="acc", api_key=Secret("pat.acc.t.s"), org_id="default")
>>> cfg  # doctest: +NORMALIZE_WHITESPACE
HarnessConfig(base_url='https://app.harness.io', account_id='acc', api_key=***,
              org_id='default', project_id=None)
>>> cfg.scope_params("org")
{'orgIdentifier': 'default'}
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_harness.client.budget import DEFAULT_REQUESTS_PER_MINUTE
from airflow_provider_harness.client.identifiers import validate_identifier

DEFAULT_BASE_URL = "https://app.harness.io"

#: Environment variables Harness's own docs and tools use; the fallback when no connection exists.
ENV_ACCOUNT_ID = "HARNESS_ACCOUNT_ID"
ENV_API_KEY = "HARNESS_API_KEY"
ENV_BASE_URL = "HARNESS_BASE_URL"
ENV_ORG_ID = "HARNESS_ORG_ID"
ENV_PROJECT_ID = "HARNESS_PROJECT_ID"

ScopeLevel = Literal["account", "org", "project"]


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings; call :meth:`reveal`.

    >>> key = Secret("pat.a.b.c")
    >>> f"{key}", repr(key), key.reveal()
    ('***', '***', 'pat.a.b.c')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value itself (only for the request header that needs it)."""
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(other._value.encode(), self._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled or serialized")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        # Immutable: copying (Airflow deep-copies tasks) returns the same object; pickling stays refused.
        return self


#: Paths of the Harness web UI that people paste instead of the API address (``…/ng/account/<id>/…``).
_UI_PATH = re.compile(r"/ng(/.*)?$")
#: ``pat.<account>.<token id>.<secret>`` / ``sat.…``: Harness API keys name their account.
_KEY_ACCOUNT = re.compile(r"^(?:pat|sat)\.([A-Za-z0-9_-]+)\.[^.]+\.")


def normalize_base_url(url: str) -> str:
    """Normalize the Harness URL: scheme added, trailing slashes, query and UI paths removed.

    A ``/gateway`` prefix (self-managed Harness, or SaaS through the gateway) is kept.
    Raises ``ValueError`` for a URL that cannot be a Harness address.

    >>> normalize_base_url("https://harness.example.com/gateway/")
    'https://harness.example.com/gateway'
    >>> normalize_base_url("app.harness.io")
    'https://app.harness.io'
    >>> normalize_base_url("https://app.harness.io/ng/account/abc123/all/home")
    'https://app.harness.io'
    """
    url = url.strip()
    if not url.rstrip("/"):
        return DEFAULT_BASE_URL
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(
            f"base_url: {url!r} must be an http:// or https:// address such as {DEFAULT_BASE_URL} "
            "or https://harness.example.com/gateway"
        )
    if not parts.hostname:
        raise ValueError(f"base_url: {url!r} has no host name; use for example {DEFAULT_BASE_URL}")
    path = _UI_PATH.sub("", parts.path).rstrip("/")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def account_of_key(api_key: Secret | str) -> str | None:
    """The account id a ``pat.``/``sat.`` API key belongs to, or None for another key format.

    >>> account_of_key("pat.abc123.tokenid.secret")
    'abc123'
    """
    value = api_key.reveal() if isinstance(api_key, Secret) else api_key
    match = _KEY_ACCOUNT.match(value)
    return match.group(1) if match else None


def _check_header_value(value: str, field: str) -> None:
    """Reject values that cannot travel in an HTTP header (never echoing the value itself)."""
    if any(not (33 <= ord(ch) <= 126) for ch in value):
        raise ValueError(
            f"{field}: contains spaces, line breaks or non-ASCII characters; copy the value again "
            "without surrounding text"
        )


@dataclass(frozen=True, repr=False)
class HarnessConfig:
    """Everything the client needs to reach one Harness account.

    ``api_key`` is a personal access token (``pat.…``) or service-account token (``sat.…``), sent as
    ``x-api-key``; surrounding whitespace is stripped. ``account_id`` may be left empty when the key is a
    ``pat.<account>.…``/``sat.<account>.…`` token: it is then read from the key. ``org_id`` /
    ``project_id`` are defaults for calls that do not name them. ``verify`` is a bool or the path of a CA
    bundle. Retries apply to 429, 5xx and connection errors of requests that are safe to repeat
    (``max_retries`` more attempts, exponential backoff from ``retry_base_delay`` up to ``retry_max_delay``).

    >>> HarnessConfig(account_id="", api_key=Secret("pat.abc123.tok.sec ")).account_id
    'abc123'
    """

    account_id: str
    api_key: Secret
    base_url: str = DEFAULT_BASE_URL
    org_id: str | None = None
    project_id: str | None = None
    verify: bool | str = True
    timeout: float = 30.0
    proxy: str | None = None
    max_retries: int = 5
    retry_base_delay: float = 1.0
    retry_max_delay: float = 30.0
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    #: Async requests a minute this process sends with this key (a token bucket they wait on); None: no limit.
    requests_per_minute: float | None = DEFAULT_REQUESTS_PER_MINUTE
    #: Triggers read running executions through one list call per project (client/coalesce.py): None
    #: (auto) once that costs fewer requests than a call per execution, True always, False never.
    coalesce_polls: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.api_key, Secret) and self.api_key.reveal() != self.api_key.reveal().strip():
            object.__setattr__(self, "api_key", Secret(self.api_key.reveal().strip()))
        account_id = (self.account_id or "").strip()
        if not account_id and isinstance(self.api_key, Secret):
            account_id = account_of_key(self.api_key) or ""
        object.__setattr__(self, "account_id", account_id)
        if not self.account_id:
            raise ValueError(
                "account_id: the Harness account id is required; find it in any Harness URL "
                "(…/ng/account/<ACCOUNT_ID>/…) and set it in the connection or HARNESS_ACCOUNT_ID"
            )
        if not isinstance(self.api_key, Secret) or not self.api_key:
            raise ValueError(
                "api_key: a Harness API key (pat.… or sat.… token) is required; put it in the connection's "
                "password field or HARNESS_API_KEY"
            )
        _check_header_value(self.api_key.reveal(), "api_key")
        _check_header_value(self.account_id, "account_id")
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {self.timeout!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries: must be 0 or more, got {self.max_retries!r}")
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise ValueError(
                "requests_per_minute: must be more than 0 (or empty for no limit), "
                f"got {self.requests_per_minute!r}"
            )
        if self.retry_base_delay < 0 or self.retry_max_delay < 0:
            raise ValueError("retry_base_delay / retry_max_delay: must be 0 or more seconds")
        if self.proxy is not None and "://" not in self.proxy:
            raise ValueError(
                f"proxy: expected a URL such as http://proxy.example.com:3128, got {self.proxy!r}"
            )
        for name in ("org_id", "project_id"):
            value = getattr(self, name)
            if value is not None:
                validate_identifier(value, field=name)

    def __repr__(self) -> str:
        return (
            f"HarnessConfig(base_url={self.base_url!r}, account_id={self.account_id!r}, api_key=***, "
            f"org_id={self.org_id!r}, project_id={self.project_id!r})"
        )

    @cached_property
    def key_digest(self) -> str:
        """A short digest of the API key, never the key: what per-key state (the request budget, the
        coalescing pollers) is keyed by. Computed once per config, not per request."""
        return hashlib.sha256(self.api_key.reveal().encode()).hexdigest()[:16]

    def secret_values(self) -> tuple[str, ...]:
        """Every secret this config holds (API key, proxy password), for redaction from messages."""
        values = [self.api_key.reveal()]
        if self.proxy:
            password = urlsplit(self.proxy).password
            if password:
                values.append(password)
        return tuple(v for v in values if v)

    def with_defaults(self, *, org_id: str | None = None, project_id: str | None = None) -> HarnessConfig:
        """Return a copy whose default org / project are replaced where given."""
        return replace(
            self,
            org_id=org_id if org_id is not None else self.org_id,
            project_id=project_id if project_id is not None else self.project_id,
        )

    def scope_params(
        self, level: ScopeLevel, *, org_id: str | None = None, project_id: str | None = None, what: str = ""
    ) -> dict[str, str]:
        """Query parameters naming the org / project of a call at ``level``, defaults filled in.

        Raises ``ValueError`` naming the missing field and how to provide it.
        """
        params: dict[str, str] = {}
        if level == "account":
            return params
        org = org_id or self.org_id
        for_what = f" for {what}" if what else ""
        if not org:
            raise ValueError(
                f"org_id: an organization is required{for_what}; pass org_id= or set a default "
                "organization in the Harness connection (extra 'org_id') or HARNESS_ORG_ID"
            )
        params["orgIdentifier"] = validate_identifier(org, field="org_id")
        if level == "project":
            project = project_id or self.project_id
            if not project:
                raise ValueError(
                    f"project_id: a project is required{for_what}; pass project_id= or set a default "
                    "project in the Harness connection (extra 'project_id') or HARNESS_PROJECT_ID"
                )
            params["projectIdentifier"] = validate_identifier(project, field="project_id")
        return params

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> HarnessConfig:
        """Build a config from ``HARNESS_*`` environment variables (Harness's documented names).

        >>> HarnessConfig.from_env({"HARNESS_ACCOUNT_ID": "a", "HARNESS_API_KEY": "pat.a.b.c"}).account_id
        'a'
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "account_id": env.get(ENV_ACCOUNT_ID, ""),
            "api_key": Secret(env.get(ENV_API_KEY, "")),
            "base_url": env.get(ENV_BASE_URL) or DEFAULT_BASE_URL,
            "org_id": env.get(ENV_ORG_ID) or None,
            "project_id": env.get(ENV_PROJECT_ID) or None,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
