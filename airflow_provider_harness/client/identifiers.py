"""Harness identifier rules, checked before any request is sent.

Two rules exist in Harness (``harness-api.md`` §4): entity DTOs (orgs, projects, services,
environments, infrastructures, connectors, secrets) allow ``$`` after the first character; YAML
entities (pipelines, input sets, triggers, stages) do not. Both reject reserved words.

>>> validate_identifier("my_project", field="project")
'my_project'
>>> validate_identifier("1bad", field="project")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: project: '1bad' is not a valid Harness identifier: it must start with a letter or _ and ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

ENTITY_IDENTIFIER: Final = re.compile(r"^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$")
YAML_IDENTIFIER: Final = re.compile(r"^[a-zA-Z_][0-9a-zA-Z_]{0,127}$")

RESERVED_WORDS: Final[frozenset[str]] = frozenset(
    {
        "or", "and", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "not", "null", "true", "false",
        "new", "var", "return", "step", "parallel", "stepGroup", "org", "account", "class",
        "shellScriptProvisioner",
    }
)  # fmt: skip

#: Harness's own message for an identifier that fails the entity rule (used by the emulator too).
HARNESS_IDENTIFIER_MESSAGE: Final = (
    "can be 128 characters long and can only contain alphanumeric, underscore and $ characters, "
    "and not start with a number or $"
)


def identifier_problem(value: object, *, allow_dollar: bool = True) -> str | None:
    """Return why ``value`` is not a valid identifier, or ``None`` when it is."""
    if not isinstance(value, str) or not value:
        return "it must be a non-empty string"
    pattern = ENTITY_IDENTIFIER if allow_dollar else YAML_IDENTIFIER
    if not pattern.fullmatch(value):  # not .match: "$" would accept a trailing newline
        allowed = "letters, digits, _ and $" if allow_dollar else "letters, digits and _"
        return f"it must start with a letter or _ and contain only {allowed} (at most 128 characters)"
    if value in RESERVED_WORDS:
        return f"{value!r} is a reserved word in Harness"
    return None


def validate_identifier(value: object, *, field: str, allow_dollar: bool = True) -> str:
    """Return ``value`` when it is a valid Harness identifier, else raise ``ValueError`` naming ``field``."""
    problem = identifier_problem(value, allow_dollar=allow_dollar)
    if problem:
        raise ValueError(f"{field}: {value!r} is not a valid Harness identifier: {problem}")
    assert isinstance(value, str)
    return value


def validate_identifiers(values: object, *, field: str, allow_dollar: bool = True) -> list[str]:
    """Validate a list of identifiers (``None`` is an empty list, one string is a list of one).

    >>> validate_identifiers(["build", "deploy"], field="stage_ids", allow_dollar=False)
    ['build', 'deploy']
    >>> validate_identifiers(None, field="stage_ids")
    []
    """
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable):
        raise ValueError(f"{field}: expected a list of identifiers, got {type(values).__name__}")
    return [validate_identifier(value, field=field, allow_dollar=allow_dollar) for value in values]
