"""The ``harness://`` asset URI scheme: one asset per Harness pipeline (or project) whose events it carries.

``harness://<account>/<org>/<project>/<pipeline>`` names a pipeline; ``harness://<account>/<org>/<project>``
a whole project. Both the webhook receiver (Harness notifications posted to Airflow's API server) and the
polling event trigger emit asset events on these URIs, with the same payload shape in the event's extra,
so a DAG scheduled on the asset runs whichever way the event arrived.

Registered with Airflow through ``asset-uris`` in the provider info: :func:`sanitize_uri` validates and
normalises every ``harness://`` URI an Asset is given. No Airflow import (cheap at DAG parse time).

>>> harness_asset_uri("acc", "default", "proj", "deploy")
'harness://acc/default/proj/deploy'
>>> from urllib.parse import urlsplit
>>> sanitize_uri(urlsplit("HARNESS://acc/default/proj/deploy/")).geturl()
'harness://acc/default/proj/deploy'
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import SplitResult

from airflow_provider_harness.client.identifiers import validate_identifier

SCHEME = "harness"


class HarnessAssetRef(NamedTuple):
    """What a ``harness://`` URI names; ``pipeline_id`` is None for a whole project."""

    account_id: str
    org_id: str
    project_id: str
    pipeline_id: str | None = None

    @property
    def uri(self) -> str:
        parts = [self.account_id, self.org_id, self.project_id]
        if self.pipeline_id:
            parts.append(self.pipeline_id)
        return f"{SCHEME}://" + "/".join(parts)


def harness_asset_uri(account_id: str, org_id: str, project_id: str, pipeline_id: str | None = None) -> str:
    """The asset URI of a pipeline (or of a project when ``pipeline_id`` is None); validates every part."""
    return parse_harness_uri(HarnessAssetRef(account_id, org_id, project_id, pipeline_id).uri).uri


def parse_harness_uri(uri: str) -> HarnessAssetRef:
    """Split and validate ``harness://<account>/<org>/<project>[/<pipeline>]``; ``ValueError`` names the fix.

    >>> parse_harness_uri("harness://acc/default/proj").pipeline_id is None
    True
    """
    from urllib.parse import urlsplit

    return _ref(urlsplit(uri.strip()))


def _ref(split: SplitResult) -> HarnessAssetRef:
    shape = "harness://<account>/<org>/<project>[/<pipeline>]"
    if split.scheme.lower() != SCHEME:
        raise ValueError(f"asset URI {split.geturl()!r}: the scheme must be {SCHEME}:// ({shape})")
    if split.query or split.fragment or split.username or split.password or split.port:
        raise ValueError(f"asset URI {split.geturl()!r}: no query, fragment, user or port; use {shape}")
    parts = [split.netloc, *[p for p in split.path.split("/") if p]]
    if not 3 <= len(parts) <= 4 or not split.netloc:
        raise ValueError(f"asset URI {split.geturl()!r}: expected {shape}")
    names = ("account", "org", "project", "pipeline")
    for name, value in zip(names, parts, strict=False):
        if name == "account":
            if not value.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"asset URI {split.geturl()!r}: {value!r} is not a Harness account id")
        else:
            validate_identifier(value, field=f"asset URI {name}", allow_dollar=False)
    return HarnessAssetRef(*parts)  # type: ignore[arg-type]


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's ``asset-uris`` handler: validate and normalise (lower-case scheme, no trailing slash).

    The account id keeps its case (Harness account ids are case-sensitive), so the host part is rebuilt
    from the original text rather than the lower-cased ``hostname``.
    """
    from urllib.parse import urlsplit

    return urlsplit(_ref(uri).uri)


__all__ = ["SCHEME", "HarnessAssetRef", "harness_asset_uri", "parse_harness_uri", "sanitize_uri"]
