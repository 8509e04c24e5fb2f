"""How next-auth 4 and 5 resolve their variables (pure logic; the facts come from next-auth's own source, see
opscheck/auth/variables.py), and the findings built on it. Suite runs with real env files are in
tests/credentials/test_credentials_authjs.py."""

from __future__ import annotations

import base64
import secrets

import pytest

from opscheck.auth.variables import (
    FlavorChoice,
    choose_flavor,
    flavor_from_names,
    origin_finding,
    required_names,
    required_variable_finding,
    resolve_origin,
    resolve_secret,
    secret_rule_finding,
    secret_source_finding,
)

V4 = FlavorChoice("v4", "test")
V5 = FlavorChoice("v5", "test")
UNKNOWN = FlavorChoice(None, "test")
SITE = "https://app.acme-corp.test"


def key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


# ============================================================================================= flavour


@pytest.mark.parametrize(
    ("names", "flavor"),
    [
        (["AUTH_SECRET", "AUTH_URL", "DATABASE_URL"], "v5"),
        (["AUTH_SECRET_1"], "v5"),
        (["AUTH_GITHUB_ID", "AUTH_GITHUB_SECRET"], "v5"),
        (["NEXTAUTH_SECRET", "NEXTAUTH_URL"], "v4"),
        (["NEXTAUTH_SECRET", "AUTH_SECRET"], None),
        (["DATABASE_URL"], None),
    ],
)
def test_flavour_from_the_variables_names(names: list[str], flavor: str | None) -> None:
    assert flavor_from_names(names).flavor == flavor


def test_configured_flavour_beats_names_which_beat_the_live_app() -> None:
    def live_v4() -> FlavorChoice:
        return FlavorChoice("v4", "cookies")

    assert choose_flavor("v4", ["AUTH_SECRET"], live_v4) == FlavorChoice("v4", "auth.flavor")
    assert choose_flavor("auto", ["AUTH_SECRET"], live_v4).flavor == "v5"
    assert choose_flavor("auto", ["DATABASE_URL"], live_v4) == FlavorChoice("v4", "cookies")
    assert choose_flavor(None, ["DATABASE_URL"], None).flavor is None


def test_required_defaults_follow_the_flavour_and_a_configured_list_wins() -> None:
    assert required_names(None, "v5") == ["DATABASE_URL", "AUTH_SECRET", "SENTRY_DSN"]
    assert required_names(None, "v4") == ["DATABASE_URL", "NEXTAUTH_SECRET", "NEXTAUTH_URL", "SENTRY_DSN"]
    assert required_names(None, None) == required_names(None, "v4")
    assert required_names(["X"], "v5") == ["X"]


# ============================================================================================== secret


def test_v5_reads_auth_secret_then_nextauth_secret_and_v4_the_other_way_round() -> None:
    both = {"AUTH_SECRET": key(), "NEXTAUTH_SECRET": key()}
    assert resolve_secret(both, "v5").signing == "AUTH_SECRET"
    assert resolve_secret(both, "v4").signing == "NEXTAUTH_SECRET"
    assert resolve_secret({"NEXTAUTH_SECRET": key()}, "v5").signing == "NEXTAUTH_SECRET"
    assert resolve_secret({"AUTH_SECRET": key()}, "v4").signing == "AUTH_SECRET"


def test_v5_rotation_list_puts_the_highest_number_first_and_it_signs() -> None:
    values = {"AUTH_SECRET_1": key(), "AUTH_SECRET_3": key()}
    plan = resolve_secret(values, "v5")
    assert plan.used == ("AUTH_SECRET_3", "AUTH_SECRET_1")
    assert plan.signing == "AUTH_SECRET_3"
    assert plan.ignored == ()


def test_rotation_next_to_auth_secret_is_ignored_by_next_auth_5_and_that_is_a_finding() -> None:
    values = {"AUTH_SECRET": key(), "AUTH_SECRET_1": key()}
    assert resolve_secret(values, "v5").used == ("AUTH_SECRET",)
    finding = secret_source_finding(values, V5)
    assert finding.seen is not None
    assert "AUTH_SECRET_1 is set but ignored" in finding.seen
    assert "unset AUTH_SECRET and NEXTAUTH_SECRET" in finding.seen
    # v4 never reads rotation variables
    assert "next-auth 4 never reads" in (secret_source_finding(values, V4).seen or "")


def test_an_empty_auth_secret_still_stops_the_chain_like_javascripts_nullish_operator() -> None:
    # AUTH_SECRET="" is defined: next-auth 5 takes it (not NEXTAUTH_SECRET); Auth.js then falls back to rotation
    values = {"AUTH_SECRET": "", "NEXTAUTH_SECRET": key(), "AUTH_SECRET_2": key()}
    assert resolve_secret(values, "v5").used == ("AUTH_SECRET_2",)


def test_two_different_secrets_are_a_finding_naming_which_one_wins() -> None:
    finding = secret_source_finding({"AUTH_SECRET": key(), "NEXTAUTH_SECRET": key()}, UNKNOWN)
    assert finding.seen is not None
    assert "AUTH_SECRET and NEXTAUTH_SECRET hold different values" in finding.seen
    assert "next-auth 4 signs with NEXTAUTH_SECRET" in finding.seen
    assert "next-auth 5 signs with AUTH_SECRET" in finding.seen
    same = key()
    assert secret_source_finding({"AUTH_SECRET": same, "NEXTAUTH_SECRET": same}, V5).ok


def test_one_secret_passes_and_reports_which_variable_signs() -> None:
    finding = secret_source_finding({"AUTH_SECRET": key()}, V5)
    assert finding.ok
    assert finding.metrics == {"signing_secret": "AUTH_SECRET"}


def test_every_configured_secret_gets_every_strength_rule_under_its_own_name() -> None:
    values = {
        "AUTH_SECRET": key(),
        "AUTH_SECRET_2": "short-one",
        "NEXTAUTH_SECRET": "a very predictable passphrase that is long",
    }
    material = secret_rule_finding("key-material", values, V5)
    assert material.variable == "AUTH_SECRET_2"
    assert material.seen is not None
    assert material.seen.startswith("AUTH_SECRET_2: 9 bytes")
    entropy = secret_rule_finding("entropy", values, V5)
    assert entropy.variable == "AUTH_SECRET_2 and NEXTAUTH_SECRET"
    assert "short-one" not in (entropy.seen or "")
    assert secret_rule_finding("deny-list", {"AUTH_SECRET_1": "supersecret"}, V5).variable == "AUTH_SECRET_1"
    assert secret_rule_finding("key-material", {}, V5).skipped is not None


# ================================================================================================= URL


@pytest.mark.parametrize(
    ("values", "flavor", "source", "broken"),
    [
        ({"AUTH_URL": SITE}, "v5", "AUTH_URL", None),
        ({"NEXTAUTH_URL": SITE}, "v4", "NEXTAUTH_URL", None),
        ({"VERCEL": "1"}, "v5", "the request's Host header (trusted because of VERCEL)", None),
        ({"CF_PAGES": "1"}, "v5", "the request's Host header (trusted because of CF_PAGES)", None),
        ({"AUTH_TRUST_HOST": "true"}, "v5", None, "a forged Host header can point sign-in links elsewhere"),
        ({"NODE_ENV": "development"}, "v5", None, "trusted because of NODE_ENV=development"),
        ({}, "v5", None, "every /api/auth request answers 500 (UntrustedHost)"),
        ({"NEXTAUTH_URL": SITE}, "v5", "NEXTAUTH_URL", "rename NEXTAUTH_URL to AUTH_URL"),
        ({"NEXTAUTH_URL": SITE, "AUTH_TRUST_HOST": "1"}, "v5", "NEXTAUTH_URL", None),
        # JavaScript's ??: a defined but empty AUTH_TRUST_HOST decides (false) before VERCEL is looked at
        ({"AUTH_TRUST_HOST": "", "VERCEL": "1"}, "v5", None, "the Host header is not trusted"),
        ({"AUTH_URL": SITE}, "v4", None, "AUTH_URL is set but next-auth 4 does not read it"),
        ({"AUTH_TRUST_HOST": "1"}, "v4", None, "set NEXTAUTH_URL"),
    ],
)
def test_url_source_and_trust_host(
    values: dict[str, str], flavor: str, source: str | None, broken: str | None
) -> None:
    choice = FlavorChoice(flavor, "test")  # type: ignore[arg-type]
    finding = origin_finding(values, choice, SITE)
    if source is not None:
        assert finding.metrics["auth_url_source"] == source
    if broken is None:
        assert finding.ok, finding
    else:
        assert finding.seen is not None
        assert broken in finding.seen, finding.seen


def test_a_vercel_app_host_counts_as_vercel_which_sets_the_variable_at_run_time() -> None:
    origin = resolve_origin({}, "v5", "https://app-git-feature-acme.vercel.app")
    assert origin.trusted_by == "VERCEL"
    assert any("vercel.app" in note for note in origin.notes)
    assert origin_finding({}, V5, "https://app-git-feature-acme.vercel.app").ok


def test_two_different_urls_are_a_finding_naming_which_one_wins() -> None:
    finding = origin_finding({"AUTH_URL": SITE, "NEXTAUTH_URL": "https://old.acme-corp.test"}, UNKNOWN, SITE)
    assert finding.seen is not None
    assert (
        "AUTH_URL and NEXTAUTH_URL differ (next-auth 4 uses NEXTAUTH_URL; next-auth 5 uses AUTH_URL)"
        in finding.seen
    )


def test_an_unknown_flavour_whose_verdicts_differ_asks_for_auth_flavor() -> None:
    finding = origin_finding({"AUTH_URL": SITE}, UNKNOWN, SITE)
    assert finding.seen is not None
    assert "set auth.flavor" in finding.seen


# ============================================================================================ required


def test_a_required_name_is_satisfied_by_the_variable_next_auth_reads_in_its_place() -> None:
    values = {"AUTH_SECRET": key(), "AUTH_URL": SITE}
    secret = required_variable_finding("NEXTAUTH_SECRET", values, V5, from_defaults=False)
    assert secret.ok
    assert "next-auth 5 reads AUTH_SECRET" in secret.notes[0]
    assert required_variable_finding("NEXTAUTH_URL", values, V5, from_defaults=False).ok
    # next-auth 4 does not read AUTH_URL
    assert required_variable_finding("NEXTAUTH_URL", values, V4, from_defaults=False).seen == "it is not set"
    # both versions read AUTH_SECRET in place of NEXTAUTH_SECRET: no need to know which
    assert required_variable_finding("NEXTAUTH_SECRET", values, UNKNOWN, from_defaults=False).ok
    undecided = required_variable_finding("NEXTAUTH_URL", values, UNKNOWN, from_defaults=False)
    assert "set auth.flavor" in (undecided.seen or "")


def test_a_default_name_the_flavour_does_not_need_is_skipped_with_the_reason() -> None:
    finding = required_variable_finding("NEXTAUTH_URL", {"AUTH_SECRET": key()}, V5, from_defaults=True)
    assert finding.skipped is not None
    assert "next-auth 5 does not need it" in finding.skipped


def test_a_placeholder_is_still_a_placeholder_under_either_name() -> None:
    finding = required_variable_finding("AUTH_SECRET", {"AUTH_SECRET": "changeme"}, V5, from_defaults=True)
    assert finding.rule == "placeholder"


def test_a_default_url_name_is_not_needed_where_vercel_sets_the_trusted_host() -> None:
    values = {"NEXTAUTH_SECRET": key(), "VERCEL": "1"}
    finding = required_variable_finding("NEXTAUTH_URL", values, V4, from_defaults=True)
    assert finding.skipped is not None
    assert "VERCEL is set" in finding.skipped
    on_vercel_app = required_variable_finding(
        "NEXTAUTH_URL",
        {"NEXTAUTH_SECRET": key()},
        V4,
        from_defaults=True,
        base_url="https://x-acme.vercel.app",
    )
    assert on_vercel_app.skipped is not None
    # listed by hand, it is required all the same
    assert required_variable_finding("NEXTAUTH_URL", values, V4, from_defaults=False).seen == "it is not set"
