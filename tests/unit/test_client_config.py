"""HarnessConfig, Secret and base-URL handling (client/config.py): no Airflow, no network."""

from __future__ import annotations

import copy
import pickle

import pytest

from airflow_provider_harness.client.config import (
    DEFAULT_BASE_URL,
    HarnessConfig,
    Secret,
    account_of_key,
    normalize_base_url,
)

KEY = "pat.acc123.tokenid.s3cr3tvalue"


def make(**kwargs: object) -> HarnessConfig:
    values: dict[str, object] = {"account_id": "acc123", "api_key": Secret(KEY)}
    values.update(kwargs)
    return HarnessConfig(**values)  # type: ignore[arg-type]


class TestSecret:
    def test_never_shows_itself(self) -> None:
        secret = Secret(KEY)
        assert repr(secret) == str(secret) == f"{secret}" == f"{secret!r}" == "***"
        assert "{}".format(secret) == "***"  # noqa: UP032 - str.format path on purpose
        assert "%s" % secret == "***"  # noqa: UP031 - %-format path on purpose
        assert secret.reveal() == KEY

    def test_equality_and_truthiness(self) -> None:
        assert Secret("a") == Secret("a")
        assert Secret("a") != Secret("b")
        assert Secret("a") != "a"
        assert hash(Secret("a")) == hash(Secret("a"))
        assert not Secret("")
        assert Secret("x")

    def test_pickling_refused(self) -> None:
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(Secret(KEY))

    def test_copy_returns_same_object(self) -> None:
        secret = Secret(KEY)
        assert copy.copy(secret) is secret
        assert copy.deepcopy(secret) is secret
        assert copy.deepcopy({"k": secret})["k"] is secret

    def test_no_instance_dict(self) -> None:
        assert not hasattr(Secret(KEY), "__dict__")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", DEFAULT_BASE_URL),
        ("   ", DEFAULT_BASE_URL),
        ("https://app.harness.io", "https://app.harness.io"),
        ("https://app.harness.io/", "https://app.harness.io"),
        ("app.harness.io", "https://app.harness.io"),
        ("app3.harness.io", "https://app3.harness.io"),
        ("HTTPS://App.Harness.io", "https://App.Harness.io"),
        ("https://harness.example.com/gateway", "https://harness.example.com/gateway"),
        ("https://harness.example.com/gateway/", "https://harness.example.com/gateway"),
        ("harness.example.com/gateway", "https://harness.example.com/gateway"),
        ("http://10.0.0.5:8080/gateway", "http://10.0.0.5:8080/gateway"),
        ("http://127.0.0.1:7457", "http://127.0.0.1:7457"),
        ("https://harness.example.com:8443", "https://harness.example.com:8443"),
        # web UI addresses people paste: the UI path is removed
        ("https://app.harness.io/ng/account/abc123/all/home", "https://app.harness.io"),
        ("https://app.harness.io/ng/#/account/abc123/cd/home", "https://app.harness.io"),
        ("https://app.harness.io/ng/", "https://app.harness.io"),
        ("https://harness.example.com/gateway/ng/api", "https://harness.example.com/gateway"),
        # query and fragment never belong to the base
        ("https://app.harness.io/?x=1#top", "https://app.harness.io"),
    ],
)
def test_normalize_base_url(raw: str, expected: str) -> None:
    assert normalize_base_url(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ftp://harness.example.com", "file:///etc/passwd", "https://", "https:///gateway"]
)
def test_normalize_base_url_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match=r"^base_url: "):
        normalize_base_url(raw)


def test_ngx_path_is_not_a_ui_path() -> None:
    assert normalize_base_url("https://h.example.com/ngx") == "https://h.example.com/ngx"


class TestAccountOfKey:
    @pytest.mark.parametrize(
        ("key", "account"),
        [
            ("pat.acc123.tokenid.secret", "acc123"),
            ("sat.Ab-c_9.tokenid.secret", "Ab-c_9"),
            ("pat.only.two", None),
            ("plainkey", None),
            ("xat.acc.t.s", None),
        ],
    )
    def test_account_of_key(self, key: str, account: str | None) -> None:
        assert account_of_key(key) == account
        assert account_of_key(Secret(key)) == account


class TestHarnessConfig:
    def test_defaults(self) -> None:
        cfg = make()
        assert cfg.base_url == DEFAULT_BASE_URL
        assert cfg.verify is True
        assert cfg.timeout == 30.0
        assert cfg.max_retries == 5
        assert cfg.proxy is None
        assert cfg.org_id is None and cfg.project_id is None

    def test_base_url_normalized(self) -> None:
        assert make(base_url="harness.example.com/gateway/").base_url == "https://harness.example.com/gateway"

    def test_missing_account_id_names_field(self) -> None:
        with pytest.raises(ValueError, match=r"^account_id: .*HARNESS_ACCOUNT_ID"):
            HarnessConfig(account_id="", api_key=Secret("plain-key-without-account"))

    def test_account_id_read_from_pat_key(self) -> None:
        assert HarnessConfig(account_id="", api_key=Secret(KEY)).account_id == "acc123"

    def test_explicit_account_id_wins_over_key(self) -> None:
        assert HarnessConfig(account_id="other", api_key=Secret(KEY)).account_id == "other"

    def test_account_id_is_stripped(self) -> None:
        assert make(account_id="  acc123 \n").account_id == "acc123"

    @pytest.mark.parametrize("key", ["", "   "])
    def test_missing_api_key_names_field(self, key: str) -> None:
        with pytest.raises(ValueError, match=r"^api_key: .*password field or HARNESS_API_KEY"):
            HarnessConfig(account_id="acc", api_key=Secret(key))

    def test_api_key_must_be_secret(self) -> None:
        with pytest.raises(ValueError, match=r"^api_key: "):
            HarnessConfig(account_id="acc", api_key=KEY)  # type: ignore[arg-type]

    def test_api_key_whitespace_stripped(self) -> None:
        cfg = make(api_key=Secret(f"  {KEY}\n"))
        assert cfg.api_key.reveal() == KEY

    @pytest.mark.parametrize("bad", ["pat.a.b c.d", "pat.a.b\nc", "pat.a.é.c"])
    def test_api_key_that_cannot_be_a_header_is_rejected_without_echo(self, bad: str) -> None:
        with pytest.raises(ValueError, match=r"^api_key: ") as info:
            make(api_key=Secret(bad))
        assert bad not in str(info.value)

    @pytest.mark.parametrize("timeout", [0, -1])
    def test_timeout_positive(self, timeout: float) -> None:
        with pytest.raises(ValueError, match=r"^timeout: "):
            make(timeout=timeout)

    def test_max_retries_not_negative(self) -> None:
        with pytest.raises(ValueError, match=r"^max_retries: "):
            make(max_retries=-1)
        assert make(max_retries=0).max_retries == 0

    def test_retry_delays_not_negative(self) -> None:
        with pytest.raises(ValueError, match="retry_base_delay"):
            make(retry_base_delay=-1)

    def test_proxy_must_be_url(self) -> None:
        with pytest.raises(ValueError, match=r"^proxy: "):
            make(proxy="proxy.example.com")
        assert make(proxy="http://proxy:3128").proxy == "http://proxy:3128"

    @pytest.mark.parametrize("field", ["org_id", "project_id"])
    def test_default_scope_identifiers_validated(self, field: str) -> None:
        with pytest.raises(ValueError, match=f"^{field}: '1bad' is not a valid Harness identifier"):
            make(**{field: "1bad"})

    def test_frozen(self) -> None:
        cfg = make()
        with pytest.raises(AttributeError):
            cfg.account_id = "x"  # type: ignore[misc]

    def test_repr_hides_key(self) -> None:
        cfg = make(org_id="default")
        text = repr(cfg)
        assert KEY not in text and "s3cr3tvalue" not in text
        assert "api_key=***" in text and "org_id='default'" in text
        assert KEY not in str(cfg)

    def test_secret_values(self) -> None:
        assert make().secret_values() == (KEY,)
        cfg = make(proxy="http://user:proxypass@proxy:3128")
        assert cfg.secret_values() == (KEY, "proxypass")
        assert make(proxy="http://proxy:3128").secret_values() == (KEY,)

    def test_with_defaults(self) -> None:
        cfg = make(org_id="o1", project_id="p1")
        assert cfg.with_defaults().org_id == "o1"
        changed = cfg.with_defaults(org_id="o2")
        assert (changed.org_id, changed.project_id) == ("o2", "p1")
        assert cfg.org_id == "o1"
        with pytest.raises(ValueError, match=r"^project_id: "):
            cfg.with_defaults(project_id="not valid")


class TestScopeParams:
    def test_account_level(self) -> None:
        assert make().scope_params("account") == {}

    def test_org_and_project_from_defaults(self) -> None:
        cfg = make(org_id="default", project_id="proj")
        assert cfg.scope_params("org") == {"orgIdentifier": "default"}
        assert cfg.scope_params("project") == {"orgIdentifier": "default", "projectIdentifier": "proj"}

    def test_explicit_wins(self) -> None:
        cfg = make(org_id="default", project_id="proj")
        assert cfg.scope_params("project", org_id="o2", project_id="p2") == {
            "orgIdentifier": "o2",
            "projectIdentifier": "p2",
        }

    def test_missing_org_names_field_and_fix(self) -> None:
        with pytest.raises(
            ValueError, match=r"^org_id: an organization is required for pipeline p1; .*'org_id'"
        ):
            make().scope_params("org", what="pipeline p1")

    def test_missing_project_names_field(self) -> None:
        with pytest.raises(ValueError, match=r"^project_id: a project is required; .*HARNESS_PROJECT_ID"):
            make(org_id="default").scope_params("project")

    def test_invalid_explicit_identifier(self) -> None:
        with pytest.raises(ValueError, match=r"^org_id: 'a-b' is not a valid"):
            make().scope_params("org", org_id="a-b")


class TestFromEnv:
    def test_all_variables(self) -> None:
        cfg = HarnessConfig.from_env(
            {
                "HARNESS_ACCOUNT_ID": "acc123",
                "HARNESS_API_KEY": KEY,
                "HARNESS_BASE_URL": "https://harness.example.com/gateway/",
                "HARNESS_ORG_ID": "default",
                "HARNESS_PROJECT_ID": "proj",
            }
        )
        assert (cfg.account_id, cfg.base_url, cfg.org_id, cfg.project_id) == (
            "acc123",
            "https://harness.example.com/gateway",
            "default",
            "proj",
        )
        assert cfg.api_key.reveal() == KEY

    def test_minimal(self) -> None:
        cfg = HarnessConfig.from_env({"HARNESS_API_KEY": KEY})
        assert cfg.account_id == "acc123"
        assert cfg.base_url == DEFAULT_BASE_URL
        assert cfg.org_id is None

    def test_empty_values_are_unset(self) -> None:
        cfg = HarnessConfig.from_env(
            {"HARNESS_API_KEY": KEY, "HARNESS_BASE_URL": "", "HARNESS_ORG_ID": "", "HARNESS_PROJECT_ID": ""}
        )
        assert (cfg.base_url, cfg.org_id, cfg.project_id) == (DEFAULT_BASE_URL, None, None)

    def test_missing_key(self) -> None:
        with pytest.raises(ValueError, match=r"^api_key: "):
            HarnessConfig.from_env({"HARNESS_ACCOUNT_ID": "acc"})

    def test_overrides(self) -> None:
        cfg = HarnessConfig.from_env({"HARNESS_API_KEY": KEY}, timeout=5.0, org_id="o")
        assert (cfg.timeout, cfg.org_id) == (5.0, "o")

    def test_reads_os_environ(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HARNESS_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_ACCOUNT_ID", "envacc")
        assert HarnessConfig.from_env().account_id == "envacc"
