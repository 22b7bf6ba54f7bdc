"""Harness identifier rules (client/identifiers.py, harness-api.md §4)."""

from __future__ import annotations

import pytest

from airflow_provider_harness.client.identifiers import (
    RESERVED_WORDS,
    identifier_problem,
    validate_identifier,
)


@pytest.mark.parametrize(
    "value",
    ["a", "_", "_x", "default", "my_project", "Proj1", "a$b", "x" * 128, "A_b_9$"],
)
def test_valid_entity_identifiers(value: str) -> None:
    assert validate_identifier(value, field="project_id") == value
    assert identifier_problem(value) is None


@pytest.mark.parametrize("value", ["a", "_x", "pipeline_1", "x" * 128])
def test_valid_yaml_identifiers(value: str) -> None:
    assert validate_identifier(value, field="pipeline_id", allow_dollar=False) == value


@pytest.mark.parametrize(
    "value",
    ["", "1abc", "$abc", "a-b", "a b", "a.b", "a/b", "é", "x" * 129, "a\n", "../etc"],
)
def test_invalid_entity_identifiers(value: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_identifier(value, field="org_id")
    text = str(info.value)
    assert text.startswith(f"org_id: {value!r} is not a valid Harness identifier: ")
    assert "\n" not in text.replace(repr(value), "")


def test_dollar_only_for_entities() -> None:
    assert validate_identifier("a$b", field="service_id") == "a$b"
    with pytest.raises(
        ValueError, match=r"pipeline_id: 'a\$b' is not a valid Harness identifier: .*letters, digits and _"
    ):
        validate_identifier("a$b", field="pipeline_id", allow_dollar=False)


@pytest.mark.parametrize("word", sorted(RESERVED_WORDS))
def test_reserved_words(word: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^project_id: '{word}' is not a valid Harness identifier: '{word}' is a reserved"
    ):
        validate_identifier(word, field="project_id")


def test_reserved_words_match_reference() -> None:
    assert {
        "or", "and", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "not", "null", "true", "false", "new",
        "var", "return", "step", "parallel", "stepGroup", "org", "account", "class", "shellScriptProvisioner",
    } == RESERVED_WORDS  # fmt: skip


@pytest.mark.parametrize("value", [None, 5, ["a"], b"abc"])
def test_non_strings(value: object) -> None:
    with pytest.raises(ValueError, match="must be a non-empty string"):
        validate_identifier(value, field="x")


def test_reserved_is_case_sensitive() -> None:
    assert validate_identifier("Org", field="x") == "Org"
