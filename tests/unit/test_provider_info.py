"""Provider metadata: Airflow's own schemas, the connection form in sync, modules that exist.

What apache CI checks for official providers (run_provider_yaml_files_check.py,
check_provider_conn_fields.py), re-done for this package against the installed Airflow.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import airflow
import pytest

import airflow_provider_harness
from airflow_provider_harness import connection_fields
from airflow_provider_harness.airflow_compat import AIRFLOW_VERSION
from airflow_provider_harness.connection_fields import (
    CONN_FIELDS,
    UI_FIELD_BEHAVIOUR,
    WidgetSpec,
    connection_form_widgets,
    widget_specs,
)
from airflow_provider_harness.get_provider_info import get_provider_info
from airflow_provider_harness.hooks.harness import KNOWN_EXTRAS, HarnessHook

jsonschema = pytest.importorskip("jsonschema")

AIRFLOW_DIR = Path(airflow.__file__).parent
PACKAGE_DIR = Path(airflow_provider_harness.__file__).parent
INFO = get_provider_info()
CONN_TYPE = INFO["connection-types"][0]


def airflow_schema(name: str) -> dict[str, Any]:
    path = AIRFLOW_DIR / name
    if not path.exists():
        pytest.skip(f"{name} is not shipped by Airflow {airflow.__version__}")
    return json.loads(path.read_text())


def module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def require_module(module: str) -> None:
    """Modules written concurrently by other engineers: xfail (not fail) until they exist."""
    if not module_exists(module):
        pytest.xfail(
            f"{module} is not written yet (listed in the provider info for the operators/sensors work)"
        )


# --------------------------------------------------------------------------------------------------
# schemas
# --------------------------------------------------------------------------------------------------


def test_valid_against_airflow_provider_info_schema() -> None:
    """The same validation ProvidersManager runs on every entry point it loads."""
    jsonschema.validate(INFO, airflow_schema("provider_info.schema.json"))


def test_connection_type_valid_against_provider_yaml_schema() -> None:
    """hook-name / ui-field-behaviour / conn-fields as Airflow 3.2+ defines them (provider.yaml schema)."""
    schema = airflow_schema("provider.yaml.schema.json")
    item_schema = schema["properties"]["connection-types"]["items"]
    if "conn-fields" not in item_schema.get("properties", {}):
        pytest.skip(f"Airflow {airflow.__version__} predates declarative conn-fields (3.2+)")
    validator = jsonschema.Draft7Validator(item_schema)
    errors = sorted(validator.iter_errors(CONN_TYPE), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_hook_behaviour_valid_against_airflow_schema() -> None:
    jsonschema.validate(
        HarnessHook.get_ui_field_behaviour(), airflow_schema("customized_form_field_behaviours.schema.json")
    )


def test_connection_type_name_convention() -> None:
    import re

    assert re.fullmatch(r"[a-z][a-z0-9_]*", CONN_TYPE["connection-type"])
    assert CONN_TYPE["connection-type"] == HarnessHook.conn_type
    assert HarnessHook.default_conn_name == f"{HarnessHook.conn_type}_default"


def test_package_name_and_version_match_distribution() -> None:
    dist = importlib.metadata.distribution(INFO["package-name"])
    assert dist.metadata["Name"].replace("_", "-").lower() == INFO["package-name"]
    assert INFO["versions"] == [dist.version] == [airflow_provider_harness.__version__]


def test_entry_point_registered() -> None:
    points = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [p for p in points if p.value.startswith("airflow_provider_harness.")]
    assert len(ours) == 1
    assert ours[0].load()() == INFO


def test_integration_names_unique_and_used() -> None:
    names = [i["integration-name"] for i in INFO["integrations"]]
    assert len(names) == len(set(names))
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in INFO[section]:
            assert entry["integration-name"] in names


# --------------------------------------------------------------------------------------------------
# the connection form: declarative (3.2+) == hook methods (3.0/3.1)
# --------------------------------------------------------------------------------------------------


def test_declared_form_is_the_table() -> None:
    assert CONN_TYPE["hook-name"] == HarnessHook.hook_name
    assert CONN_TYPE["ui-field-behaviour"] == UI_FIELD_BEHAVIOUR
    assert CONN_TYPE["conn-fields"] == CONN_FIELDS
    assert CONN_TYPE["conn-fields"] is not CONN_FIELDS  # a copy: callers cannot mutate the table


def test_ui_field_behaviour_in_sync() -> None:
    """check_provider_conn_fields.py: YAML ui-field-behaviour == get_ui_field_behaviour(), normalized."""
    declared = CONN_TYPE["ui-field-behaviour"]
    from_hook = HarnessHook.get_ui_field_behaviour()
    normalized = {key.replace("-", "_"): value for key, value in declared.items()}
    assert json.dumps(normalized, sort_keys=True) == json.dumps(from_hook, sort_keys=True)


def test_hidden_fields_are_standard_fields() -> None:
    allowed = {"description", "host", "port", "login", "password", "schema", "extra"}
    assert set(CONN_TYPE["ui-field-behaviour"]["hidden-fields"]) <= allowed
    assert "password" not in CONN_TYPE["ui-field-behaviour"]["hidden-fields"]
    assert "host" not in CONN_TYPE["ui-field-behaviour"]["hidden-fields"]


def test_conn_fields_keys_equal_widget_keys() -> None:
    """check_provider_conn_fields.py: conn-fields keys == get_connection_form_widgets() keys.

    The table-to-widget mapping (widget_specs) is pure data, so this holds without wtforms.
    """
    assert list(widget_specs()) == list(CONN_TYPE["conn-fields"])


def test_conn_fields_are_what_the_hook_reads() -> None:
    assert set(CONN_TYPE["conn-fields"]) == KNOWN_EXTRAS


@pytest.mark.parametrize("name", sorted(CONN_FIELDS))
def test_widget_spec_matches_field(name: str) -> None:
    spec = widget_specs()[name]
    field = CONN_FIELDS[name]
    types_ = field["schema"]["type"]
    assert spec.label == field["label"]
    assert spec.description == field["description"]
    assert spec.default == field["schema"].get("default")
    expected = (
        "BooleanField"
        if "boolean" in types_
        else "IntegerField"
        if {"integer", "number"} & set(types_)
        else "StringField"
    )
    assert spec.kind == expected
    assert "null" in types_, "every extra field is optional"


def _fake_form_modules() -> dict[str, types.ModuleType]:
    """Just enough wtforms / flask_appbuilder / flask_babel for get_connection_form_widgets()."""

    class Field:
        def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any) -> None:
            self.field_class = type(self)
            self.args = (label,)
            self.kwargs = {"validators": validators or [], **kwargs}

    wtforms = types.ModuleType("wtforms")
    wtforms.StringField = type("StringField", (Field,), {})  # type: ignore[attr-defined]
    wtforms.IntegerField = type("IntegerField", (Field,), {})  # type: ignore[attr-defined]
    wtforms.BooleanField = type("BooleanField", (Field,), {})  # type: ignore[attr-defined]
    wtforms.PasswordField = type("PasswordField", (Field,), {})  # type: ignore[attr-defined]
    validators = types.ModuleType("wtforms.validators")

    class NumberRange:
        def __init__(self, min: Any = None, max: Any = None) -> None:
            self.min, self.max = min, max

    validators.NumberRange = NumberRange  # type: ignore[attr-defined]
    validators.Optional = type("Optional", (), {})  # type: ignore[attr-defined]
    validators.any_of = lambda values: values  # type: ignore[attr-defined]
    wtforms.validators = validators  # type: ignore[attr-defined]
    fields = types.ModuleType("wtforms.fields")
    simple = types.ModuleType("wtforms.fields.simple")
    for cls_name in ("StringField", "IntegerField", "BooleanField", "PasswordField"):
        setattr(fields, cls_name, getattr(wtforms, cls_name))
        setattr(simple, cls_name, getattr(wtforms, cls_name))
    fields.simple = simple  # type: ignore[attr-defined]
    wtforms.fields = fields  # type: ignore[attr-defined]
    fab = types.ModuleType("flask_appbuilder")
    fieldwidgets = types.ModuleType("flask_appbuilder.fieldwidgets")
    for widget in ("BS3TextFieldWidget", "BS3TextAreaFieldWidget", "BS3PasswordFieldWidget"):
        setattr(fieldwidgets, widget, type(widget, (), {}))
    fab.fieldwidgets = fieldwidgets  # type: ignore[attr-defined]
    babel = types.ModuleType("flask_babel")
    babel.lazy_gettext = lambda text: text  # type: ignore[attr-defined]
    return {
        "wtforms": wtforms,
        "wtforms.validators": validators,
        "wtforms.fields": fields,
        "wtforms.fields.simple": simple,
        "flask_appbuilder": fab,
        "flask_appbuilder.fieldwidgets": fieldwidgets,
        "flask_babel": babel,
    }


@pytest.fixture
def fake_form_modules(monkeypatch: pytest.MonkeyPatch) -> dict[str, types.ModuleType]:
    modules = _fake_form_modules()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return modules


def test_connection_form_widgets_with_stub_wtforms(fake_form_modules: dict[str, types.ModuleType]) -> None:
    widgets = HarnessHook.get_connection_form_widgets()
    assert list(widgets) == list(CONN_TYPE["conn-fields"])
    for name, widget in widgets.items():
        spec: WidgetSpec = widget_specs()[name]
        assert widget.field_class.__name__ == spec.kind
        assert widget.args[0] == spec.label
        assert widget.kwargs["description"] == spec.description
    assert widgets["verify_ssl"].kwargs["default"] is True
    retries = widgets["max_retries"].kwargs["validators"]
    assert (retries[1].min, retries[1].max) == (0, 20)


def test_connection_form_widgets_with_real_wtforms() -> None:
    pytest.importorskip(
        "wtforms", reason="wtforms is not installed next to this Airflow (3.3 does not need it)"
    )
    pytest.importorskip("flask_appbuilder", reason="flask_appbuilder is not installed next to this Airflow")
    widgets = connection_form_widgets()
    assert list(widgets) == list(CONN_FIELDS)


def test_airflow_ui_sees_the_form(fake_form_modules: dict[str, types.ModuleType]) -> None:
    """What the connection form's /ui/connections/hook_meta endpoint returns for 'harness'.

    3.3 reads the declarative metadata without importing the hook; 3.0/3.1 import the hook with mocked
    wtforms (the stub modules stand in for a UI process with wtforms installed).
    """
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    HookMetaService.hook_meta_data.cache_clear()
    try:
        metas = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}
    finally:
        HookMetaService.hook_meta_data.cache_clear()
    meta = metas["harness"]
    assert meta.hook_name == "Harness"
    assert meta.hook_class_name == "airflow_provider_harness.hooks.harness.HarnessHook"
    assert set(meta.extra_fields or {}) == set(CONN_FIELDS)
    assert meta.standard_fields is not None
    password, host, login = (
        meta.standard_fields.password,
        meta.standard_fields.host,
        meta.standard_fields.login,
    )
    assert password is not None and host is not None and login is not None
    assert password.title == "API key"
    assert host.title == "Harness URL"
    assert login.hidden is True
    verify = (meta.extra_fields or {})["verify_ssl"]
    assert verify["value"] is True
    assert verify["schema"]["type"] == ["boolean", "null"]


# --------------------------------------------------------------------------------------------------
# modules and classes listed exist (and nothing on disk is missing from the lists)
# --------------------------------------------------------------------------------------------------

SECTIONS = ("hooks", "operators", "sensors", "triggers")
LISTED = [
    (section, module) for section in SECTIONS for entry in INFO[section] for module in entry["python-modules"]
]


@pytest.mark.parametrize(("section", "module"), LISTED, ids=[m for _, m in LISTED])
def test_listed_module_imports(section: str, module: str) -> None:
    assert module.startswith(f"airflow_provider_harness.{section}.")
    require_module(module)
    importlib.import_module(module)


@pytest.mark.parametrize("section", SECTIONS)
def test_module_lists_equal_files_on_disk(section: str) -> None:
    listed = {m for entry in INFO[section] for m in entry["python-modules"]}
    on_disk = {
        f"airflow_provider_harness.{section}.{path.stem}"
        for path in (PACKAGE_DIR / section).glob("*.py")
        if path.name != "__init__.py"
    }
    assert on_disk <= listed, f"modules on disk missing from get_provider_info: {sorted(on_disk - listed)}"
    missing = listed - on_disk
    if missing:
        pytest.xfail(f"listed modules not written yet: {sorted(missing)}")


def test_hook_class_importable_and_consistent() -> None:
    module, _, name = CONN_TYPE["hook-class-name"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert cls is HarnessHook
    for attr in ("conn_name_attr", "default_conn_name", "conn_type", "hook_name"):
        assert getattr(cls, attr)


@pytest.mark.parametrize("class_path", INFO["extra-links"])
def test_extra_link_classes_exist(class_path: str) -> None:
    module, _, name = class_path.rpartition(".")
    require_module(module)
    link = getattr(importlib.import_module(module), name)
    from airflow_provider_harness.airflow_compat import BaseOperatorLink

    assert issubclass(link, BaseOperatorLink)


def test_provider_info_is_cheap_and_fresh() -> None:
    first, second = get_provider_info(), get_provider_info()
    assert first == second and first is not second
    first["connection-types"][0]["conn-fields"]["account_id"]["label"] = "changed"
    assert CONN_FIELDS["account_id"]["label"] == "Account ID"
    assert connection_fields.CONN_FIELDS is CONN_FIELDS


# --------------------------------------------------------------------------------------------------
# Airflow's ProvidersManager loads the package
# --------------------------------------------------------------------------------------------------


def test_providers_manager_loads_provider() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-harness" in manager.providers
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # 3.3: "ProvidersManager.hooks is deprecated" (still what the CLI uses)
        hook_info = manager.hooks["harness"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_harness.hooks.harness.HarnessHook"
    assert hook_info.connection_id_attribute_name == "harness_conn_id"
    assert hook_info.hook_name == "Harness"


@pytest.mark.skipif(AIRFLOW_VERSION < (3, 2, 0), reason="declarative connection metadata is read from 3.2 on")
def test_providers_manager_reads_declarative_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager._connection_form_widgets_from_metadata  # what the 3.3 UI reads
    ours = {w.field_name for key, w in widgets.items() if key.startswith("extra__harness__")}
    assert ours == set(CONN_FIELDS)
    behaviour = manager._field_behaviours_from_metadata["harness"]
    assert behaviour["hidden_fields"] == UI_FIELD_BEHAVIOUR["hidden-fields"]
    assert behaviour["relabeling"] == UI_FIELD_BEHAVIOUR["relabeling"]


# --------------------------------------------------------------------------------------------------
# the description on Airflow's Providers page
# --------------------------------------------------------------------------------------------------

#: The Providers page's description cell (the same in Airflow 3.0 and 3.3): the API strips RST marks
#: (`_<>), then the UI splits on spaces and renders every word that is a URL as a link - with no space
#: after it - and every other word followed by a space.
UI_URL_PATTERN = r"https?://[\w.-]+(?:\.?:[\w.-]+)*(?:[#/?][\w!#$%&'()*+,./:;=?@\[\]~-]*)?"
UI_URL_PATTERN_JS = r"https?:\/\/[\w.-]+(?:\.?:[\w.-]+)*(?:[#/?][\w!#$%&'()*+,./:;=?@[\]~-]*)?"


def providers_page_cell(description: str) -> list[tuple[str, bool]]:
    """``(text, is_link)`` pieces of the description cell, as the UI renders them."""
    import re

    urls = re.findall(UI_URL_PATTERN, description)
    words = re.sub(r"\n(?:and)?", " ", description).split(" ")
    return [(word, True) if word in urls else (f"{word} ", False) for word in words]


def provider_mapper() -> Any:
    """The providers endpoint's own ``ProviderInfo -> ProviderResponse`` mapper."""
    try:  # Airflow 3.3
        from airflow.api_fastapi.core_api.services.public.providers import _provider_mapper
    except ImportError:  # Airflow 3.0
        from airflow.api_fastapi.core_api.routes.public.providers import _provider_mapper
    return _provider_mapper


def api_description(info: dict[str, Any]) -> str:
    """What ``GET /api/v2/providers`` answers as the description of a provider with this info."""
    from airflow.providers_manager import ProviderInfo

    data = {"documentation-url": None, **info}
    return str(provider_mapper()(ProviderInfo(info["versions"][0], data)).description)


def test_ui_cell_port_matches_the_installed_ui() -> None:
    """The port above is what the installed UI bundle does (regex and word split), and it reproduces
    the old description's rendering: the link ran into the word after it."""
    bundle = "".join(
        path.read_text(errors="replace") for path in (AIRFLOW_DIR / "ui/dist/assets").glob("*.js")
    )
    assert UI_URL_PATTERN_JS in bundle
    assert ".description.replaceAll(/\\n(?:and)?/gu," in bundle
    old = api_description(
        {
            **INFO,
            "description": "Run, wait for, retry and abort `Harness "
            "<https://www.harness.io/>`__ pipelines, keep Harness resources in shape.",
        }
    )
    shown = "".join(text for text, _ in providers_page_cell(old))
    assert "abort Harness https://www.harness.io/pipelines, keep" in shown


def test_description_renders_cleanly_on_the_providers_page() -> None:
    """What the API returns is the description itself (no markup to strip) and the UI shows it as the
    sentence it is: no link glued to the next word (a URL could only come last)."""
    description = INFO["description"]
    answered = api_description(INFO)
    assert answered == description.rstrip("."), "the API strips nothing but the final period"
    cell = providers_page_cell(answered)
    assert all(not is_link for _, is_link in cell[:-1]), f"a link mid-sentence renders glued: {cell}"
    assert "".join(text for text, _ in cell).strip() == answered
    assert description.endswith(".") and "\n" not in description


def test_description_through_the_providers_manager() -> None:
    """The description the Providers page gets for the installed package (entry point -> manager -> API)."""
    from airflow.providers_manager import ProvidersManager

    provider = ProvidersManager().providers["airflow-provider-harness"]
    assert provider.data["description"] == INFO["description"]
    assert provider_mapper()(provider).description == (
        "Run, wait for, retry and abort Harness pipelines, keep Harness resources in shape, "
        "run IaCM workspaces with a time to live, and react to Harness events"
    )


def test_package_summary_is_plain_text() -> None:
    """pyproject's ``description`` (the package summary, e.g. on PyPI): one plain line, no markup."""
    import tomllib

    summary = tomllib.loads((PACKAGE_DIR.parent / "pyproject.toml").read_text())["project"]["description"]
    assert "://" not in summary and not set("`<>[]\n") & set(summary)
    assert "Harness" in summary


# --------------------------------------------------------------------------------------------------
# the harness:// asset scheme and the receiver plugin (docs/events.md)
# --------------------------------------------------------------------------------------------------


def test_asset_uri_scheme_is_declared_with_its_handler() -> None:
    from airflow_provider_harness.assets import sanitize_uri

    (entry,) = INFO["asset-uris"]
    assert entry["schemes"] == ["harness"]
    module, _, name = entry["handler"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is sanitize_uri


def test_airflow_normalises_harness_asset_uris_through_the_handler() -> None:
    """The providers manager hands ``harness://`` URIs to our handler when an Asset is created."""
    from airflow.sdk import Asset

    asset = Asset(uri="HARNESS://acc/default/proj/deploy/")
    assert asset.uri == "harness://acc/default/proj/deploy"
    with pytest.raises(ValueError, match="expected harness://"):
        Asset(uri="harness://acc/default")


def test_plugin_is_declared_in_provider_info_and_as_entry_point() -> None:
    from airflow_provider_harness.plugins.harness_events import HarnessEventsPlugin

    (entry,) = INFO["plugins"]
    module, _, name = entry["plugin-class"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is HarnessEventsPlugin
    assert entry["name"] == HarnessEventsPlugin.name == "harness_events"
    points = [
        p for p in importlib.metadata.entry_points(group="airflow.plugins") if p.name == "harness_events"
    ]
    assert len(points) == 1, "pip install -e . again: the airflow.plugins entry point is not installed"
    assert points[0].load() is HarnessEventsPlugin


def test_airflow_plugins_manager_loads_the_receiver_app() -> None:
    """What the API server mounts: our app at /harness-events (entry point; lazy providers is the default)."""
    from airflow import plugins_manager

    if hasattr(plugins_manager, "get_fastapi_plugins"):  # Airflow 3.1+
        apps, _ = plugins_manager.get_fastapi_plugins()
        import_errors = plugins_manager._get_plugins()[1]
    else:  # Airflow 3.0
        plugins_manager.initialize_fastapi_plugins()
        apps, import_errors = plugins_manager.fastapi_apps or [], plugins_manager.import_errors
    ours = [app for app in apps if app.get("url_prefix") == "/harness-events"]
    assert len(ours) == 1 and ours[0]["name"] == "Harness events receiver"
    assert not [key for key in import_errors if "harness" in str(key)], import_errors
