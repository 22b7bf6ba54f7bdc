"""Harness log service: a token, a step's log blob, and the last lines of a step's log.

The log service (``/gateway/log-service``) takes the account as ``accountID`` and accepts either the
API key (``x-api-key``) or a token from :func:`token_call` in ``X-Harness-Token``. A completed step's log
is newline-delimited JSON (``{"level", "pos", "out", "time"}``). Logs are best effort: :func:`tail_step_log`
returns an empty list on any log-service error.

>>> blob_call("acc/pipeline/p/1/-e1/stage/step").params["key"]
'acc/pipeline/p/1/-e1/stage/step'
>>> parse_log_lines('{"level":"INFO","pos":0,"out":"hello\\\\n","time":"t"}\\nnot json\\n')
[LogLine(level='INFO', text='hello', time='t'), LogLine(level='', text='not json', time='')]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_harness.client.call import ApiCall

if TYPE_CHECKING:
    from airflow_provider_harness.client.transport import HarnessClient

LOG_SERVICE = "/gateway/log-service"
#: Longest log line kept (characters); longer lines are cut with an ellipsis.
MAX_LINE_CHARS = 500
#: How a CD step's command unit extends its log key (LogHelper.COMMAND_UNIT_PLACEHOLDER).
COMMAND_UNIT_SUFFIX = "-commandUnit:"


@dataclass(frozen=True)
class LogLine:
    level: str
    text: str
    time: str


def parse_log_lines(text: str) -> list[LogLine]:
    """Parse an NDJSON log blob; lines that are not JSON are kept as plain text."""
    lines: list[LogLine] = []
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            out = str(entry.get("out", ""))
            for part in out.rstrip("\n").split("\n") or [""]:
                lines.append(
                    LogLine(str(entry.get("level", "")), part.rstrip("\r"), str(entry.get("time", "")))
                )
        else:
            lines.append(LogLine("", raw.rstrip("\r"), ""))
    return lines


def token_call() -> ApiCall[str]:
    """``GET /gateway/log-service/token``: a plain-text token for ``X-Harness-Token``."""
    return ApiCall(
        "GET", f"{LOG_SERVICE}/token", account="log", response="text", parse=lambda t: str(t).strip()
    )


def blob_call(key: str, *, token: str | None = None) -> ApiCall[list[LogLine]]:
    """``GET /gateway/log-service/blob?key=…``: a completed step's log lines."""
    if not key:
        raise ValueError("key: a log key (the step's logBaseKey) is required")
    headers = {"X-Harness-Token": token} if token else {}
    return ApiCall(
        "GET",
        f"{LOG_SERVICE}/blob",
        params={"key": key},
        account="log",
        response="text",
        parse=parse_log_lines,
        headers=headers,
        secrets=(token,) if token else (),
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"


def _quick(client: HarnessClient) -> HarnessClient:
    """The same client (same connection pool) with a short retry budget: logs must not delay the failure."""
    from airflow_provider_harness.client.transport import RetryPolicy

    return client.with_retry(
        RetryPolicy(max_retries=min(client.retry.max_retries, 1), base_delay=0.5, max_delay=2.0)
    )


def tail_step_log(
    client: HarnessClient, log_base_key: str, *, lines: int = 30, units: Sequence[str] = ()
) -> list[str]:
    """The last ``lines`` lines of a step's log; ``[]`` on any log-service error.

    Reads the step's own key first; when that is empty, the keys of its command ``units`` (CD steps keep
    their log per unit: ``<logBaseKey>-commandUnit:<unit>``). Authenticates with the API key and falls back
    to a log-service token when the key is refused.
    """
    from airflow_provider_harness.client.errors import (
        HarnessAuthenticationError,
        HarnessError,
        HarnessPermissionError,
    )

    if lines <= 0 or not log_base_key:
        return []
    client = _quick(client)
    keys = [log_base_key] + [f"{log_base_key}{COMMAND_UNIT_SUFFIX}{unit}" for unit in units]
    token: str | None = None
    collected: list[LogLine] = []
    for key in keys:
        try:
            try:
                found = client.send(blob_call(key, token=token))
            except (HarnessAuthenticationError, HarnessPermissionError):
                if token is not None:
                    raise
                token = client.send(token_call())
                found = client.send(blob_call(key, token=token))
        except HarnessError:
            continue
        except Exception:  # logs are best effort: a malformed answer must not hide the real failure
            continue
        collected.extend(found)
        if found and key == log_base_key:
            break
    return [_clip(line.text) for line in collected[-lines:]]
