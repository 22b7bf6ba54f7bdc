"""Emulator settings: what the CLI, ``run_emulator`` and the admin endpoint can change.

>>> s = EmulatorSettings(time_scale=0.01)
>>> s.api_keys[DEFAULT_API_KEY]
'emulatoraccount'
>>> s.wall_seconds(3)
0.03
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Final

DEFAULT_ACCOUNT_ID: Final = "emulatoraccount"
DEFAULT_API_KEY: Final = "pat.emulatoraccount.emulator.token"
DEFAULT_PORT: Final = 8181
#: The project every emulator has unless told otherwise (CLI, ``run_emulator``, the pytest fixture).
DEFAULT_PROJECT_ORG: Final = "default"
DEFAULT_PROJECT: Final = "emulator_project"

#: Settings the admin endpoint may change at runtime (name -> type).
RUNTIME_SETTINGS: Final[dict[str, type]] = {
    "time_scale": float,
    "min_step_seconds": float,
    "default_step_seconds": float,
    "webhook_delay_seconds": float,
    "rate_limit": int,
    "rate_limit_window_seconds": float,
    "rate_limit_retry_after": int,
    "legacy_interrupts": bool,
    "public_url": str,
}


@dataclass
class EmulatorSettings:
    """Everything that shapes one emulator instance.

    ``time_scale`` multiplies every emulated duration (``sleep 3`` takes ``3 * time_scale`` seconds of wall
    time); ``min_step_seconds`` is the least wall time a step runs so pollers can see it ``Running``.
    ``rate_limit`` is requests per minute per API key (``None``/0 = off, which is the default).

    >>> EmulatorSettings(rate_limit=10).rate_limit
    10
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    account_id: str = DEFAULT_ACCOUNT_ID
    api_key: str = DEFAULT_API_KEY
    extra_api_keys: dict[str, str] = field(default_factory=dict)  # api key -> account id
    state_file: str | None = None
    time_scale: float = 1.0
    min_step_seconds: float = 0.05
    default_step_seconds: float = 1.0
    webhook_delay_seconds: float = 1.0
    rate_limit: int | None = None
    rate_limit_window_seconds: float = 60.0
    rate_limit_retry_after: int | None = None
    legacy_interrupts: bool = False
    public_url: str | None = None
    seed: str | None = None
    projects: list[str] = field(
        default_factory=list
    )  # "org/project" or "project" (org default), always present
    access_log: bool = False
    log_level: str = "warning"

    @property
    def api_keys(self) -> dict[str, str]:
        """Every accepted API key mapped to the account it belongs to."""
        keys = {self.api_key: self.account_id}
        keys.update(self.extra_api_keys)
        return keys

    @property
    def base_url(self) -> str:
        """The URL clients use; ``public_url`` when set (e.g. behind a proxy)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def wall_seconds(self, emulated: float) -> float:
        """Wall-clock seconds for ``emulated`` seconds of pipeline time."""
        return max(0.0, float(emulated)) * self.time_scale

    def runtime_view(self) -> dict[str, Any]:
        """The runtime-changeable settings as a JSON-ready dict."""
        return {name: getattr(self, name) for name in RUNTIME_SETTINGS}

    def apply(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply admin changes; raise ``ValueError`` naming an unknown or badly typed setting."""
        for name, value in changes.items():
            if name not in RUNTIME_SETTINGS:
                raise ValueError(f"unknown setting {name!r}; settable: {sorted(RUNTIME_SETTINGS)}")
            setattr(self, name, _coerce(name, value, RUNTIME_SETTINGS[name]))
        return self.runtime_view()

    def copy(self) -> EmulatorSettings:
        """A deep-enough copy (dicts are copied)."""
        return dataclasses.replace(
            self, extra_api_keys=dict(self.extra_api_keys), projects=list(self.projects)
        )


def _coerce(name: str, value: Any, kind: type) -> Any:
    if value is None and name in ("rate_limit", "rate_limit_retry_after", "public_url"):
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ValueError(f"setting {name!r} must be a boolean, got {value!r}")
    try:
        result = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name!r} must be {kind.__name__}, got {value!r}") from None
    if kind in (int, float) and result < 0:
        raise ValueError(f"setting {name!r} must not be negative, got {value!r}")
    if name == "rate_limit" and result == 0:
        return None
    return result
