"""Connection settings for the Harness API client, independent of Airflow.

>>> cfg = HarnessConfig(account_id="acc", api_key=Secret("pat.acc.t.s"), org_id="default")
>>> cfg
HarnessConfig(base_url='https://app.harness.io', account_id='acc', api_key=***, org_id='default', project_id=None)
>>> cfg.scope_params("org")
{'orgIdentifier': 'default'}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

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
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled or serialized")


def normalize_base_url(url: str) -> str:
    """Strip trailing slashes and a trailing ``/gateway`` is kept as the path prefix.

    >>> normalize_base_url("https://harness.example.com/gateway/")
    'https://harness.example.com/gateway'
    >>> normalize_base_url("app.harness.io")
    'https://app.harness.io'
    """
    url = url.strip().rstrip("/")
    if not url:
        return DEFAULT_BASE_URL
    if "://" not in url:
        url = "https://" + url
    return url


@dataclass(frozen=True, repr=False)
class HarnessConfig:
    """Everything the client needs to reach one Harness account.

    ``api_key`` is a personal access token (``pat.…``) or service-account token (``sat.…``), sent as
    ``x-api-key``. ``org_id`` / ``project_id`` are defaults for calls that do not name them.
    Retries apply to 429, 5xx and connection errors of requests that are safe to repeat.
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

    def __post_init__(self) -> None:
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
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.timeout <= 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {self.timeout!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries: must be 0 or more, got {self.max_retries!r}")
        for name in ("org_id", "project_id"):
            value = getattr(self, name)
            if value is not None:
                validate_identifier(value, field=name)

    def __repr__(self) -> str:
        return (
            f"HarnessConfig(base_url={self.base_url!r}, account_id={self.account_id!r}, api_key=***, "
            f"org_id={self.org_id!r}, project_id={self.project_id!r})"
        )

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
