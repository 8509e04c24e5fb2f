"""Unit tests of opscheck.config: loading, validation, lazy ``${VAR}`` resolution, sections, discovery."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from opscheck.config import Environment, find_config, load_config
from opscheck.config.expansion import expand, variables_in
from opscheck.errors import ConfigError, SectionNotConfigured, SettingMissing, UsageError
from opscheck.secrets import MASK, Secret
from tests.support.project import REPO

EXAMPLE_CONFIG = REPO / "examples" / "opscheck.toml"

MINIMAL = """
[environments.production]
base_url = "https://app.example.com"
"""


def write(tmp_path: Path, body: str, name: str = "opscheck.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def production(tmp_path: Path, extra: str = "", environ: dict[str, str] | None = None) -> Environment:
    """The ``production`` environment of a config made of MINIMAL plus ``extra``."""
    path = write(tmp_path, MINIMAL + textwrap.dedent(extra))
    return load_config(path, environ or {}).environment("production", environ or {})


def unique_secret() -> str:
    return f"s3cr3t-{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------------------------------
# ${VAR} expansion
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "environ", "expected"),
    [
        ("${HOST}", {"HOST": "db.internal"}, "db.internal"),
        ("postgresql://${USER}@${HOST}/app", {"USER": "ro", "HOST": "db"}, "postgresql://ro@db/app"),
        ("${SHA:-unknown}", {}, "unknown"),
        ("${SHA:-unknown}", {"SHA": "abc123"}, "abc123"),
        ("${SHA:-unknown}", {"SHA": ""}, "unknown"),
        ("${SHA:-}", {}, ""),
        ("${EMPTY}", {"EMPTY": ""}, ""),
        ("no variables here", {}, "no variables here"),
        ("$HOME and {braces}", {}, "$HOME and {braces}"),
    ],
)
def test_expand_replaces_variables_and_defaults(raw: str, environ: dict[str, str], expected: str) -> None:
    assert expand(raw, "environments.x.key", environ) == expected


def test_expand_raises_setting_missing_naming_variable_and_key() -> None:
    with pytest.raises(SettingMissing) as excinfo:
        expand("${SMOKE_PASSWORD}", "environments.production.auth.password", {})
    assert str(excinfo.value) == "SMOKE_PASSWORD is not set (environments.production.auth.password)"
    assert excinfo.value.variable == "SMOKE_PASSWORD"
    assert excinfo.value.key == "environments.production.auth.password"


def test_variables_in_lists_every_referenced_name() -> None:
    assert variables_in("${A}/${B:-x}/$C/${}") == ["A", "B"]


def test_string_setting_is_expanded_when_read(tmp_path: Path) -> None:
    env = production(
        tmp_path,
        """
        [environments.production.smoke]
        health_path = "${HEALTH:-/api/health}"
        """,
        {"HEALTH": "/healthz"},
    )
    assert env.smoke.health_path == "/healthz"


def test_numeric_setting_from_variable_is_parsed_after_expansion(tmp_path: Path) -> None:
    env = production(tmp_path, 'timeout_s = "${TIMEOUT:-7.5}"\n')
    assert env.timeout_s == 7.5


def test_boolean_setting_from_variable_is_parsed_after_expansion(tmp_path: Path) -> None:
    env = production(tmp_path, 'production = "${IS_PROD}"\n', {"IS_PROD": "true"})
    assert env.production is True


# ---------------------------------------------------------------------------------------------------
# Lazy resolution
# ---------------------------------------------------------------------------------------------------
AUTH_WITH_VARIABLES = """
[environments.production.auth]
username = "${SMOKE_USER}"
password = "${SMOKE_PASSWORD}"
"""


def test_config_referring_to_unset_variable_loads(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + AUTH_WITH_VARIABLES)
    config = load_config(path, {})
    assert list(config.environments) == ["production"]


def test_reading_value_with_unset_variable_raises_setting_missing(tmp_path: Path) -> None:
    env = production(tmp_path, AUTH_WITH_VARIABLES, {"SMOKE_USER": "smoke"})
    with pytest.raises(SettingMissing) as excinfo:
        _ = env.auth.password
    assert str(excinfo.value) == "SMOKE_PASSWORD is not set (environments.production.auth.password)"


def test_other_keys_stay_readable_when_one_variable_is_unset(tmp_path: Path) -> None:
    env = production(tmp_path, AUTH_WITH_VARIABLES, {"SMOKE_USER": "smoke"})
    assert env.auth.username == "smoke"
    assert env.auth.expected_providers == ["credentials"]
    assert env.base_url == "https://app.example.com"


def test_variable_set_after_loading_is_seen_when_read(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    path = write(tmp_path, MINIMAL + AUTH_WITH_VARIABLES)
    env = load_config(path, environ).environment("production", environ)
    environ["SMOKE_USER"] = "late"
    assert env.auth.username == "late"


def test_environment_defaults_to_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSCHECK_TEST_SMOKE_USER", "from-process")
    path = write(
        tmp_path,
        MINIMAL
        + """
        [environments.production.auth]
        username = "${OPSCHECK_TEST_SMOKE_USER}"
        password = "x"
        """,
    )
    assert load_config(path).environment("production").auth.username == "from-process"


# ---------------------------------------------------------------------------------------------------
# Unknown keys
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "key", "suggestion"),
    [
        (
            'environment = "x"\n' + MINIMAL,
            "unknown key environment",
            "did you mean 'environments'",
        ),
        (
            MINIMAL + "timout_s = 5\n",
            "unknown key environments.production.timout_s",
            "did you mean 'timeout_s'",
        ),
        (
            MINIMAL + "[environments.production.smoke]\nmax_latncy_ms = 5\n",
            "unknown key environments.production.smoke.max_latncy_ms",
            "did you mean 'max_latency_ms'",
        ),
        (
            MINIMAL + '[environments.production.databse]\nurl = "x"\n',
            "unknown key environments.production.databse",
            "did you mean 'database'",
        ),
        (
            MINIMAL + '[environments.production.backups]\nlocation = "x"\nrpo_hour = 1\n',
            "unknown key environments.production.backups.rpo_hour",
            "did you mean 'rpo_hours'",
        ),
    ],
    ids=["top-level", "environment-level", "section-level", "section-name", "optional-section"],
)
def test_unknown_key_is_rejected_with_nearest_spelling(
    tmp_path: Path, body: str, key: str, suggestion: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    message = str(excinfo.value)
    assert key in message
    assert suggestion in message
    assert str(path) in message


def test_unknown_key_without_near_spelling_lists_valid_keys(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[environments.production.cache]\nzzzz = 1\n")
    with pytest.raises(
        ConfigError, match=r"unknown key environments\.production\.cache\.zzzz; valid keys: redis_url"
    ):
        load_config(path, {})


# ---------------------------------------------------------------------------------------------------
# Malformed files and wrong types
# ---------------------------------------------------------------------------------------------------
def test_malformed_toml_is_reported_with_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[environments.production]\nbase_url = "https://x"\ntimeout_s = \n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    assert str(path) in str(excinfo.value)
    assert "line 3" in str(excinfo.value)


def test_missing_config_file_is_reported_with_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="does not exist") as excinfo:
        load_config(path, {})
    assert str(path) in str(excinfo.value)


def test_config_without_environments_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing configured\n")
    with pytest.raises(ConfigError, match=r"no \[environments\.NAME\] table"):
        load_config(path, {})


def test_environment_without_base_url_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[environments.staging]\ntimeout_s = 5\n")
    with pytest.raises(ConfigError, match=r"environments\.staging\.base_url is required"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("extra", "key", "expected"),
    [
        ('timeout_s = "abc"\n', "environments.production.timeout_s", "a number"),
        ("timeout_s = true\n", "environments.production.timeout_s", "a number"),
        ("timeout_s = 0\n", "environments.production.timeout_s", "greater than 0"),
        ('production = "maybe"\n', "environments.production.production", "true or false"),
        ("runbook = 3\n", "environments.production.runbook", "a string"),
        ('runbook_sections = { "site-down-p0" = 1 }\n', "environments.production.runbook_sections", "table"),
        ('[environments.production.smoke]\npages = "/"\n', "environments.production.smoke.pages", "list"),
        (
            "[environments.production.smoke]\npages = ['/', 1]\n",
            "environments.production.smoke.pages",
            "list of strings",
        ),
        (
            '[environments.production.restore]\nprovider = "docker"\n',
            "environments.production.restore.provider",
            "auto, testcontainers, local",
        ),
        (
            '[environments.production.restore]\nmin_rows = { User = "1" }\n',
            "environments.production.restore.min_rows",
            "whole numbers",
        ),
        ('smoke = "on"\n', "environments.production.smoke", "must be a table"),
    ],
)
def test_wrong_value_type_is_rejected_naming_the_key(
    tmp_path: Path, extra: str, key: str, expected: str
) -> None:
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    assert key in str(excinfo.value)
    assert expected in str(excinfo.value)


def test_wrong_type_for_credential_does_not_echo_its_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[environments.production.auth]\nusername = 'u'\npassword = 90210417\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    assert "environments.production.auth.password must be a string" in str(excinfo.value)
    assert "90210417" not in str(excinfo.value)


def test_wrong_type_behind_variable_is_reported_when_read(tmp_path: Path) -> None:
    env = production(tmp_path, 'timeout_s = "${TIMEOUT}"\n', {"TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match=r"environments\.production\.timeout_s must be a number"):
        _ = env.timeout_s


# ---------------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------------
def test_relative_runbook_path_resolves_against_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "repo"
    config_dir.mkdir()
    monkeypatch.chdir(tmp_path)
    path = write(config_dir, MINIMAL + 'runbook = "docs/RUNBOOK.md"\n')
    env = load_config(path, {}).environment("production", {})
    assert env.runbook == config_dir.resolve() / "docs" / "RUNBOOK.md"


def test_relative_ca_bundle_path_resolves_against_config_directory(tmp_path: Path) -> None:
    env = production(tmp_path, 'ca_bundle = "certs/ca.pem"\n')
    assert env.ca_bundle == tmp_path.resolve() / "certs" / "ca.pem"


def test_absolute_path_is_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "ca.pem"
    env = production(tmp_path, f'ca_bundle = "{absolute.as_posix()}"\n')
    assert env.ca_bundle == absolute


def test_empty_optional_path_means_none(tmp_path: Path) -> None:
    env = production(tmp_path, 'ca_bundle = ""\n')
    assert env.ca_bundle is None


def test_relative_env_file_resolves_against_config_directory(tmp_path: Path) -> None:
    env = production(tmp_path, '[environments.production.credentials]\nenv_file = ".env.production"\n')
    assert env.credentials.env_file == tmp_path.resolve() / ".env.production"


# ---------------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("section", ["database", "cache", "auth", "backups", "notify"])
def test_absent_optional_section_raises_section_not_configured(tmp_path: Path, section: str) -> None:
    env = production(tmp_path)
    with pytest.raises(SectionNotConfigured) as excinfo:
        getattr(env, section)
    assert excinfo.value.key == f"[environments.production.{section}]"
    assert f"environments.production.{section}" in str(excinfo.value)
    assert excinfo.value.outcome == "skipped"


@pytest.mark.parametrize("section", ["database", "cache", "auth", "backups", "notify"])
def test_absent_optional_section_is_not_had(tmp_path: Path, section: str) -> None:
    assert production(tmp_path).has(section) is False


def test_absent_smoke_section_gives_defaults(tmp_path: Path) -> None:
    smoke = production(tmp_path).smoke
    assert smoke.health_path == "/api/health"
    assert smoke.pages == ["/"]
    assert smoke.max_latency_ms == 1500.0
    assert smoke.tls_min_days == 14.0


def test_absent_restore_section_gives_defaults(tmp_path: Path) -> None:
    restore = production(tmp_path).restore
    assert restore.provider == "auto"
    assert restore.image == "postgres:16"
    assert restore.expect_tables == ["User", "Account", "Session", "_prisma_migrations"]
    assert restore.min_rows == {}


def test_absent_credentials_section_skips_rather_than_judging_the_local_environment(tmp_path: Path) -> None:
    with pytest.raises(
        SectionNotConfigured, match=r"\[environments\.production\.credentials\] is not configured"
    ):
        _ = production(tmp_path).credentials


def test_empty_credentials_section_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "opscheck.toml"
    path.write_text(
        '[environments.production]\nbase_url = "http://x"\n[environments.production.credentials]\n'
    )
    credentials = load_config(path).environment("production").credentials
    assert credentials.env_file is None
    assert credentials.required == ["DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL", "SENTRY_DSN"]


def test_absent_environment_keys_give_defaults(tmp_path: Path) -> None:
    env = production(tmp_path)
    assert env.production is False
    assert env.runbook is None
    assert env.expected_version == ""
    assert env.timeout_s == 10.0
    assert env.runbook_sections == {}


def test_required_key_missing_in_present_optional_section_raises_section_not_configured(
    tmp_path: Path,
) -> None:
    env = production(tmp_path, "[environments.production.database]\nmax_latency_ms = 500\n")
    assert env.database.max_latency_ms == 500.0
    with pytest.raises(SectionNotConfigured) as excinfo:
        _ = env.database.url
    assert excinfo.value.key == "environments.production.database.url"


def test_present_section_values_are_typed(tmp_path: Path) -> None:
    env = production(
        tmp_path,
        """
        [environments.production.backups]
        location = "s3://acme/backups/"
        rpo_hours = 6
        [environments.production.restore]
        min_rows = { User = 3 }
        """,
    )
    assert env.backups.location == "s3://acme/backups/"
    assert env.backups.rpo_hours == 6.0
    assert isinstance(env.backups.rpo_hours, float)
    assert env.restore.min_rows == {"User": 3}


def test_is_https_follows_base_url_scheme(tmp_path: Path) -> None:
    assert production(tmp_path).is_https is True


def test_environment_is_named(tmp_path: Path) -> None:
    env = production(tmp_path)
    assert env.name == "production"
    assert env.key == "environments.production"


# ---------------------------------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------------------------------
TWO_ENVIRONMENTS = """
[environments.production]
base_url = "https://app.example.com"
[environments.staging]
base_url = "https://staging.example.com"
"""


def test_unknown_environment_raises_usage_error_listing_configured_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO_ENVIRONMENTS), {})
    with pytest.raises(UsageError) as excinfo:
        config.environment("nope")
    assert "unknown environment 'nope'" in str(excinfo.value)
    assert "production, staging" in str(excinfo.value)


def test_unknown_environment_suggests_near_name(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO_ENVIRONMENTS), {})
    with pytest.raises(UsageError, match=r"did you mean 'staging'\?"):
        config.environment("stagign")


def test_unknown_environment_is_not_a_config_error(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO_ENVIRONMENTS), {})
    with pytest.raises(UsageError) as excinfo:
        config.environment("qa")
    assert not isinstance(excinfo.value, ConfigError)


def test_config_file_path_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("opscheck.toml"), {})
    assert config.path == tmp_path.resolve() / "opscheck.toml"


def test_every_environment_is_validated_not_only_the_selected_one(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_ENVIRONMENTS + "timout_s = 3\n")
    with pytest.raises(ConfigError, match=r"environments\.staging\.timout_s"):
        load_config(path, {})


# ---------------------------------------------------------------------------------------------------
# Credentials and secrets
# ---------------------------------------------------------------------------------------------------
def test_credential_values_include_literal_and_expanded_credentials(tmp_path: Path) -> None:
    db_password, redis_password, hook = unique_secret(), unique_secret(), unique_secret()
    db_url = f"postgresql://ro:{db_password}@db/app"
    password = unique_secret()
    redis_url = f"redis://:{redis_password}@cache:6379/0"
    webhook = f"https://hooks.example.com/{hook}"
    env = production(
        tmp_path,
        f"""
        [environments.production.database]
        url = "{db_url}"
        [environments.production.auth]
        username = "smoke"
        password = "${{SMOKE_PASSWORD}}"
        [environments.production.cache]
        redis_url = "${{REDIS_URL}}"
        [environments.production.notify]
        webhook_url = "${{HOOK}}"
        """,
        {"SMOKE_PASSWORD": password, "REDIS_URL": redis_url, "HOOK": webhook},
    )
    assert set(env.credential_values()) == {
        db_url,
        *(db_password, f"ro:{db_password}"),  # the password, and the pair Basic auth would encode
        password,
        redis_url,
        *(redis_password, f":{redis_password}"),
        webhook,
        f"/{hook}",  # a webhook URL's path is its secret
    }


def test_credential_values_include_base_url_user_info_and_secret_query_parameters(tmp_path: Path) -> None:
    basic, token = unique_secret(), unique_secret()
    path = write(
        tmp_path,
        f"""
        [environments.production]
        base_url = "https://ops:{basic}@app.example.com"
        [environments.production.smoke]
        pages = ["/", "/status?access_token=${{PAGE_TOKEN}}&page=2"]
        """,
    )
    env = load_config(path, {"PAGE_TOKEN": token}).environment("production")
    assert set(env.credential_values()) == {basic, f"ops:{basic}", token}


def test_environment_uses_the_environ_given_to_load_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[environments.production]\nbase_url = "${OPSCHECK_TEST_ONLY_URL}"\n')
    config = load_config(path, {"OPSCHECK_TEST_ONLY_URL": "https://given.example.com"})
    assert config.environment("production").base_url == "https://given.example.com"


def test_no_repr_of_the_config_holds_a_value_or_the_process_environment(tmp_path: Path) -> None:
    secret = unique_secret()
    environ = {"SMOKE_PASSWORD": secret, "UNRELATED": "unrelated-" + secret}
    path = write(
        tmp_path,
        f"""
        [environments.production]
        base_url = "https://ops:{secret}@app.example.com"
        [environments.production.auth]
        username = "smoke"
        password = "${{SMOKE_PASSWORD}}"
        """,
    )
    config = load_config(path, environ)
    env = config.environment("production")
    for shown in (repr(config), repr(env), repr(env.auth), str(env)):
        assert secret not in shown
        assert "UNRELATED" not in shown
    assert repr(env) == "<Environment environments.production>"


def test_credential_values_skip_unset_variables(tmp_path: Path) -> None:
    password = unique_secret()
    env = production(
        tmp_path,
        """
        [environments.production.database]
        url = "${DATABASE_URL}"
        [environments.production.auth]
        username = "${SMOKE_USER}"
        password = "${SMOKE_PASSWORD}"
        """,
        {"SMOKE_PASSWORD": password},
    )
    assert list(env.credential_values()) == [password]


def test_credential_values_exclude_non_secret_settings(tmp_path: Path) -> None:
    password = unique_secret()
    env = production(
        tmp_path, f'[environments.production.auth]\nusername = "smoke-user"\npassword = "{password}"\n'
    )
    assert list(env.credential_values()) == [password]


@pytest.mark.parametrize(
    ("section", "key"),
    [("database", "url"), ("cache", "redis_url"), ("auth", "password"), ("notify", "webhook_url")],
)
def test_credential_setting_comes_back_as_secret(tmp_path: Path, section: str, key: str) -> None:
    value = unique_secret()
    extra = f'[environments.production.{section}]\n{key} = "${{VALUE}}"\n'
    if section == "auth":
        extra += 'username = "smoke"\n'
    setting = getattr(getattr(production(tmp_path, extra, {"VALUE": value}), section), key)
    assert isinstance(setting, Secret)
    assert setting.reveal() == value
    assert str(setting) == MASK
    assert value not in repr(setting)
    assert value not in f"{setting}"


# ---------------------------------------------------------------------------------------------------
# find_config
# ---------------------------------------------------------------------------------------------------
def test_find_config_prefers_option(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    option = tmp_path / "option.toml"
    path, source = find_config(str(option), str(tmp_path / "env.toml"), tmp_path)
    assert path == option.resolve()
    assert source == "option --opscheck-config"


def test_find_config_uses_environment_variable_without_option(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    path, source = find_config(None, str(tmp_path / "env.toml"), tmp_path)
    assert path == (tmp_path / "env.toml").resolve()
    assert source == "env OPSCHECK_CONFIG"


def test_find_config_falls_back_to_rootdir_file(tmp_path: Path) -> None:
    expected = write(tmp_path, MINIMAL)
    path, source = find_config(None, None, tmp_path)
    assert path == expected
    assert source == "default <rootdir>/opscheck.toml"


def test_find_config_treats_empty_values_as_unset(tmp_path: Path) -> None:
    expected = write(tmp_path, MINIMAL)
    path, _ = find_config("", "", tmp_path)
    assert path == expected


def test_find_config_finds_nothing_without_rootdir_file(tmp_path: Path) -> None:
    path, source = find_config(None, None, tmp_path)
    assert path is None
    assert source == "default <rootdir>/opscheck.toml"


def test_find_config_resolves_relative_option_against_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path, _ = find_config("configs/ops.toml", None, tmp_path / "root")
    assert path == tmp_path.resolve() / "configs" / "ops.toml"


# ---------------------------------------------------------------------------------------------------
# The shipped example
# ---------------------------------------------------------------------------------------------------
def test_example_config_loads_and_validates() -> None:
    config = load_config(EXAMPLE_CONFIG, {})
    assert sorted(config.environments) == ["preview", "production", "staging"]


def test_example_config_production_settings_are_typed() -> None:
    env = load_config(EXAMPLE_CONFIG, {}).environment("production", {})
    assert env.production is True
    assert env.runbook == EXAMPLE_CONFIG.parent / "RUNBOOK.md"
    assert env.runbook is not None
    assert env.runbook.is_file()
    assert env.expected_version == ""
    assert env.smoke.pages == ["/", "/login"]
    assert env.restore.min_rows == {"User": 1}
    assert env.notify.min_severity == "P1"


def test_example_config_credentials_error_only_when_read() -> None:
    env = load_config(EXAMPLE_CONFIG, {}).environment("production", {})
    assert list(env.credential_values()) == []
    with pytest.raises(
        SettingMissing, match=r"^DATABASE_URL is not set \(environments\.production\.database\.url\)$"
    ):
        _ = env.database.url


def test_example_config_staging_skips_sections_it_lacks() -> None:
    env = load_config(EXAMPLE_CONFIG, {}).environment("staging", {})
    with pytest.raises(SectionNotConfigured):
        _ = env.backups


def test_variables_inside_lists_and_tables_are_expanded(tmp_path: Path) -> None:
    path = tmp_path / "opscheck.toml"
    path.write_text(
        '[environments.prod]\nbase_url = "http://x"\n'
        '[environments.prod.smoke]\npages = ["/", "${EXTRA_PAGE:-/about}"]\n'
        "[environments.prod.restore]\nmin_rows = { User = 1 }\n"
        'expect_tables = ["${FIRST_TABLE}"]\n'
    )
    env = load_config(path, environ={"FIRST_TABLE": "Orders"}).environment(
        "prod", environ={"FIRST_TABLE": "Orders"}
    )
    assert env.smoke.pages == ["/", "/about"]
    assert env.restore.expect_tables == ["Orders"]


def test_an_unset_variable_inside_a_list_names_the_variable_and_key(tmp_path: Path) -> None:
    path = tmp_path / "opscheck.toml"
    path.write_text(
        '[environments.prod]\nbase_url = "http://x"\n[environments.prod.smoke]\npages = ["${PAGE}"]\n'
    )
    env = load_config(path, environ={}).environment("prod", environ={})
    with pytest.raises(SettingMissing, match=r"^PAGE is not set \(environments\.prod\.smoke\.pages\)$"):
        _ = env.smoke.pages


def test_a_prefix_of_an_environment_name_is_suggested(tmp_path: Path) -> None:
    path = tmp_path / "opscheck.toml"
    path.write_text(
        '[environments.production]\nbase_url = "http://x"\n[environments.staging]\nbase_url = "http://y"\n'
    )
    with pytest.raises(UsageError, match=r"unknown environment 'prod' \(did you mean 'production'\?\)"):
        load_config(path).environment("prod")


# ---------------------------------------------------------------------------------------------------
# Numbers: finite and in range, every one of them
# ---------------------------------------------------------------------------------------------------
#: (table, key) of every numeric setting; ``None`` is the environment's own table
NUMERIC_KEYS = [
    (None, "timeout_s"),
    (None, "retries"),
    ("smoke", "max_latency_ms"),
    ("smoke", "tls_min_days"),
    ("smoke", "version_wait_s"),
    ("database", "max_latency_ms"),
    ("backups", "rpo_hours"),
    ("backups", "rto_minutes"),
    ("backups", "retention_days"),
    ("notify", "timeout_s"),
]
#: what a table needs besides the number under test
TABLE_BODY = {
    "smoke": "",
    "database": 'url = "postgresql://db/app"\n',
    "backups": 'location = "backups"\n',
    "notify": 'webhook_url = "https://hooks.example.com/x"\n',
}


def numeric_config(table: str | None, key: str, value: str) -> str:
    if table is None:
        return f"{key} = {value}\n"
    return f"[environments.production.{table}]\n{TABLE_BODY[table]}{key} = {value}\n"


def dotted(table: str | None, key: str) -> str:
    return f"environments.production.{table + '.' if table else ''}{key}"


@pytest.mark.parametrize(("table", "key"), NUMERIC_KEYS, ids=[dotted(t, k) for t, k in NUMERIC_KEYS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e300", "1" + "0" * 400])
def test_a_literal_number_that_is_not_finite_or_out_of_range_names_the_key(
    tmp_path: Path, table: str | None, key: str, value: str
) -> None:
    path = write(tmp_path, MINIMAL + numeric_config(table, key, value))
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    assert dotted(table, key) in str(excinfo.value)


@pytest.mark.parametrize(("table", "key"), NUMERIC_KEYS, ids=[dotted(t, k) for t, k in NUMERIC_KEYS])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", "-5", "1e999"])
def test_a_number_from_a_variable_that_is_not_finite_or_out_of_range_names_the_key(
    tmp_path: Path, table: str | None, key: str, value: str
) -> None:
    env = production(tmp_path, numeric_config(table, key, '"${NUMBER}"'), {"NUMBER": value})
    section = env if table is None else getattr(env, table)
    with pytest.raises(ConfigError) as excinfo:
        getattr(section, key)
    assert dotted(table, key) in str(excinfo.value)


def test_a_nan_rpo_never_passes_an_old_backup(tmp_path: Path) -> None:
    """``nan <= 0`` is false, so a bare "greater than 0" test once let ``rpo_hours = nan`` through."""
    path = write(tmp_path, MINIMAL + numeric_config("backups", "rpo_hours", "nan"))
    with pytest.raises(ConfigError, match=r"environments\.production\.backups\.rpo_hours must be .*got nan"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [(None, "retries", "2.5"), (None, "retries", "true"), ("smoke", "tls_min_days", "-0.5")],
)
def test_numbers_outside_their_kind_are_rejected(
    tmp_path: Path, table: str | None, key: str, value: str
) -> None:
    path = write(tmp_path, MINIMAL + numeric_config(table, key, value))
    with pytest.raises(ConfigError, match=dotted(table, key).replace(".", r"\.")):
        load_config(path, {})


@pytest.mark.parametrize(
    ("table", "key", "value", "expected"),
    [
        (None, "retries", "0", 0),
        (None, "retries", "5", 5),
        ("smoke", "tls_min_days", "0", 0.0),
        ("smoke", "version_wait_s", "0", 0.0),
        ("backups", "rpo_hours", "0.5", 0.5),
        ("backups", "retention_days", "3650", 3650.0),
    ],
)
def test_numbers_in_range_are_accepted(
    tmp_path: Path, table: str | None, key: str, value: str, expected: float
) -> None:
    env = production(tmp_path, numeric_config(table, key, value))
    section = env if table is None else getattr(env, table)
    assert getattr(section, key) == expected


def test_min_rows_must_not_be_negative(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[environments.production.restore]\nmin_rows = { User = -1 }\n")
    with pytest.raises(ConfigError, match=r"environments\.production\.restore\.min_rows"):
        load_config(path, {})


def test_every_setting_rejects_nan_and_infinity() -> None:
    """Also the numeric keys added after this test was written: no parser may let nan or inf through."""
    from opscheck.config.environment import SECTIONS, EnvironmentSettings

    for cls in (EnvironmentSettings, *SECTIONS.values()):
        for name, setting in cls.settings().items():
            for value in (float("nan"), float("inf"), float("-inf")):
                with pytest.raises(ConfigError):
                    setting.parse(value, f"x.{name}", Path("."))


# ---------------------------------------------------------------------------------------------------
# Malformed files and values: a one-line ConfigError, never another exception
# ---------------------------------------------------------------------------------------------------
def test_a_file_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "opscheck.toml"
    path.write_bytes(MINIMAL.encode() + b'runbook = "caf\xe9.md"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    message = str(excinfo.value)
    assert str(path) in message
    assert "UTF-8" in message
    assert "line 4" in message
    assert "\n" not in message


@pytest.mark.parametrize("depth", [40, 5000])
def test_deeply_nested_arrays_are_a_config_error(tmp_path: Path, depth: int) -> None:
    path = write(
        tmp_path, MINIMAL + "[environments.production.smoke]\npages = " + "[" * depth + "]" * depth + "\n"
    )
    with pytest.raises(ConfigError, match="nested"):
        load_config(path, {})


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('expected_version = "${GITHUB_SHA"\n', "environments.production.expected_version"),
        ('[environments.production.auth]\nusername = "u"\npassword = "${SMOKE_PASSWORD"\n', "auth.password"),
        ('[environments.production.smoke]\npages = ["/", "${PAGE"]\n', "smoke.pages"),
        ('expected_version = "${1SHA}"\n', "environments.production.expected_version"),
        ('expected_version = "v${}"\n', "environments.production.expected_version"),
    ],
)
def test_an_unterminated_or_invalid_variable_reference_is_a_config_error(
    tmp_path: Path, extra: str, key: str
) -> None:
    path = write(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, {})
    assert key in str(excinfo.value)
    assert "${NAME}" in str(excinfo.value)


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "app.example.com",
        "ftp://app.example.com",
        "https://",
        "http://exa mple.com",
        "http://h:99999",
    ],
)
def test_base_url_must_be_an_http_url(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[environments.production]\nbase_url = "{url}"\n')
    with pytest.raises(
        ConfigError, match=r"environments\.production\.base_url must be an http:// or https:// URL"
    ):
        load_config(path, {})


# ---------------------------------------------------------------------------------------------------
# Empty connection strings: "not set", named as such
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "key", "variable"),
    [
        ("database", "url", "DATABASE_URL"),
        ("cache", "redis_url", "REDIS_URL"),
        ("notify", "webhook_url", "OPSCHECK_WEBHOOK_URL"),
    ],
)
def test_an_empty_connection_string_from_a_variable_counts_as_not_set(
    tmp_path: Path, table: str, key: str, variable: str
) -> None:
    env = production(
        tmp_path, f'[environments.production.{table}]\n{key} = "${{{variable}}}"\n', {variable: ""}
    )
    with pytest.raises(SettingMissing) as excinfo:
        getattr(getattr(env, table), key)
    assert str(excinfo.value) == (
        f"{variable} is empty, which counts as not set (environments.production.{table}.{key})"
    )


@pytest.mark.parametrize("value", ['""', '"   "', '"${DATABASE_URL:-}"'])
def test_an_empty_literal_connection_string_is_a_config_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"environments\.production\.database\.url is empty"):
        _ = production(tmp_path, f"[environments.production.database]\nurl = {value}\n").database.url
