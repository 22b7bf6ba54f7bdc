"""The client and the emulator state Harness's rules separately; here they must agree.

``client/statuses.py`` and ``client/identifiers.py`` are the client's statement of Harness's status
vocabulary and identifier rules; ``emulator/harness_rules.py`` is the emulator's, written separately
from ``harness-api.md``.  Each test compares the two and fails on any disagreement, except the few
places where the client is deliberately more lenient than Harness, which are asserted exactly.
"""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import pytest

import airflow_provider_harness.emulator as emulator_package
from airflow_provider_harness.client import identifiers as client_ids
from airflow_provider_harness.client import statuses as client_statuses
from airflow_provider_harness.emulator import harness_rules as rules

#: Engine statuses the client maps to a display name although Harness has none for them: harness-api.md
#: §7.1 gives ``NotStarted`` no engine status ("NotStarted<-(none)"), so ``NO_OP`` is not displayed as
#: anything.  The client reads it as ``NotStarted`` (non-terminal, the same outcome as an unknown status).
CLIENT_ONLY_ENGINE: dict[str, str] = {"NO_OP": "NotStarted"}

#: A legacy engine-style name the client still reads (old data, §7.1) that is not a display name, so the
#: emulator, which parses a ``status`` filter the way Harness does (display names, any case), rejects it.
CLIENT_ONLY_LEGACY: dict[str, str] = {"NOT_STARTED": "NotStarted"}


def _status_corpus() -> list[str]:
    names = (
        set(rules.ENGINE_STATUSES)
        | set(rules.ENGINE_STATUS_DISPLAY)
        | set(client_statuses.ENGINE_TO_DISPLAY)
        | rules.DISPLAY_NAMES
        | client_statuses.DISPLAY_STATUSES
        | set(CLIENT_ONLY_LEGACY)
        | {"Brand_New", "COMPLETED", "SUCCESS", ""}
    )
    variants = {v for name in names for v in (name, name.lower(), name.upper(), f" {name} ")}
    return sorted(variants)


# ---- statuses ----------------------------------------------------------------------------------------


def test_display_vocabulary_agrees() -> None:
    assert client_statuses.DISPLAY_STATUSES == rules.DISPLAY_NAMES


def test_terminal_sets_agree() -> None:
    assert client_statuses.TERMINAL_STATUSES == rules.TERMINAL_DISPLAY


def test_retryable_sets_agree() -> None:
    assert client_statuses.RETRYABLE_STATUSES == rules.RETRYABLE_DISPLAY


def test_every_engine_status_maps_to_the_same_display_status() -> None:
    engines = (
        set(rules.ENGINE_STATUSES) | set(rules.ENGINE_STATUS_DISPLAY) | set(client_statuses.ENGINE_TO_DISPLAY)
    )
    differing = {
        engine: (client_statuses.ENGINE_TO_DISPLAY.get(engine), rules.ENGINE_STATUS_DISPLAY.get(engine))
        for engine in sorted(engines)
        if client_statuses.ENGINE_TO_DISPLAY.get(engine) != rules.ENGINE_STATUS_DISPLAY.get(engine)
    }
    assert differing == {engine: (display, None) for engine, display in CLIENT_ONLY_ENGINE.items()}


def test_engine_names_the_emulator_reports_read_back_as_their_display_status() -> None:
    # the emulator turns a display status into an engine status for execute / retry responses; the
    # client must read that engine status back as the same display status
    wrong = {
        display: (engine, client_statuses.normalize_status(engine))
        for display, engine in rules.ENGINE_FOR_DISPLAY.items()
        if client_statuses.normalize_status(engine) != display
    }
    assert wrong == {}


def test_normalisers_agree_where_both_accept() -> None:
    disagreements = []
    client_only = {}
    for text in _status_corpus():
        emulator_name = rules.parse_display_status(text)
        client_name = client_statuses.normalize_status(text)
        if emulator_name is not None:
            if client_name != emulator_name:
                disagreements.append((text, client_name, emulator_name))
        elif client_name in client_statuses.DISPLAY_STATUSES:
            client_only[text] = client_name
    assert disagreements == []
    # Where only the client accepts a name, the client is deliberately more lenient than Harness's filter
    # parser: it reads engine names (execute / retry responses and v1 speak the engine vocabulary, §7.1),
    # in any case and with blanks around.  It must read them exactly as the emulator's engine table does.
    expected = {}
    for text in client_only:
        key = text.strip().upper()
        display = rules.ENGINE_STATUS_DISPLAY.get(key) or CLIENT_ONLY_ENGINE.get(key)
        display = display or CLIENT_ONLY_LEGACY.get(key) or rules.parse_display_status(text.strip())
        expected[text] = display
    assert client_only == expected
    # and the client accepts every name the emulator's engine table knows
    for engine, display in rules.ENGINE_STATUS_DISPLAY.items():
        assert client_statuses.normalize_status(engine) == display


def test_every_display_name_is_accepted_in_any_case_by_both() -> None:
    for name in sorted(rules.DISPLAY_NAMES | client_statuses.DISPLAY_STATUSES):
        for variant in (name, name.lower(), name.upper()):
            assert rules.parse_display_status(variant) == name, variant
            assert client_statuses.normalize_status(variant) == name, variant


def test_notification_node_status_agrees() -> None:
    statuses = sorted(rules.DISPLAY_NAMES | client_statuses.DISPLAY_STATUSES | {"Brand_New"})
    pairs = {
        status: (
            client_statuses.NODE_STATUS_BY_DISPLAY.get(status, "started"),
            rules.notification_node_status(status),
        )
        for status in statuses
    }
    assert {status: pair for status, pair in pairs.items() if pair[0] != pair[1]} == {}


# ---- identifiers ---------------------------------------------------------------------------------------


def _identifier_corpus() -> list[object]:
    strings = [
        "a", "Z", "_", "__", "_x", "a1", "A_b_9", "my_project", "default", "Proj1",
        "x" * 127, "x" * 128, "x" * 129, "_" * 128, "_" * 129, "a" + "$" * 127, "a" + "$" * 128,
        "1", "1abc", "9_", "0x", "$", "$abc", "$1", "_$", "a$", "a$b", "A$$B", "a$1$_",
        "a-b", "a b", "a.b", "a/b", "../etc", "a\n", "\na", "a\t", "a\u00a0", "",
        " ", "  a", "a ", "\t",
        "é", "éa", "aé", "naïve", "ñame", "Ω", "a\u0660", "\uff21", "a\u212a", "ß",
        "OR", "Or", "Step", "STEP", "stepgroup", "STEPGROUP", "step_", "_step", "org1", "account$",
        "classic", "nulls", "true_", "False",
    ]  # fmt: skip
    keywords = sorted(rules.KEYWORDS | client_ids.RESERVED_WORDS)
    non_strings: list[object] = [None, 0, 1, 1.5, True, b"abc", ["a"], {"a": 1}, ("a",), object()]
    return [*strings, *keywords, *(w + "$" for w in keywords), *non_strings]


@pytest.mark.parametrize("dollar", [True, False], ids=["entity", "yaml"])
def test_identifier_rules_agree_on_a_corpus(dollar: bool) -> None:
    differing = []
    for value in _identifier_corpus():
        client_says = client_ids.identifier_problem(value, allow_dollar=dollar)
        emulator_says = rules.identifier_error(value, dollar_allowed=dollar)
        if (client_says is None) != (emulator_says is None):
            differing.append((value, client_says, emulator_says))
    assert differing == []


@pytest.mark.parametrize("dollar", [True, False], ids=["entity", "yaml"])
def test_corpus_has_both_outcomes(dollar: bool) -> None:
    # guards the test above against a corpus (or a rule) that makes everything valid or invalid
    outcomes = [rules.identifier_error(v, dollar_allowed=dollar) is None for v in _identifier_corpus()]
    assert sum(outcomes) >= 10
    assert len(outcomes) - sum(outcomes) >= 50


def test_dollar_and_length_boundaries() -> None:
    for value, entity, yaml in [("a$b", True, False), ("x" * 128, True, True), ("x" * 129, False, False)]:
        assert (rules.identifier_error(value) is None) is entity
        assert (client_ids.identifier_problem(value) is None) is entity
        assert (rules.identifier_error(value, dollar_allowed=False) is None) is yaml
        assert (client_ids.identifier_problem(value, allow_dollar=False) is None) is yaml


def test_identifier_patterns_agree() -> None:
    assert client_ids.ENTITY_IDENTIFIER.pattern == rules.ENTITY_ID_RE.pattern
    assert client_ids.YAML_IDENTIFIER.pattern == rules.YAML_ID_RE.pattern


def test_reserved_words_agree() -> None:
    assert client_ids.RESERVED_WORDS == rules.KEYWORDS


def test_validation_message_agrees() -> None:
    assert client_ids.HARNESS_IDENTIFIER_MESSAGE == rules.ID_PATTERN_MESSAGE


# ---- the emulator's statement stands on its own --------------------------------------------------------


def test_emulator_does_not_import_the_client() -> None:
    offenders = []
    for path in sorted(Path(emulator_package.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            offenders += [(path.name, m) for m in modules if m.startswith("airflow_provider_harness.client")]
    assert offenders == []


def test_harness_rules_docstring_examples() -> None:
    result = doctest.testmod(rules, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
