"""Unit tests of opscheck.runbook: slugs, sections, headlines, remediation and the shipped runbooks."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from opscheck.runbook import BUILTIN_ADVICE, Remedy, Runbook, Section, slugify
from tests.support.project import REPO

SEED_RUNBOOK = REPO / "tests" / "data" / "seed-runbook-outline.md"
EXAMPLE_RUNBOOK = REPO / "examples" / "RUNBOOK.md"
SUITES = REPO / "suites"
LINK_BASE = "https://github.com/acme/app/blob/main/docs/RUNBOOK.md"

#: sections the shipped suites point at that the seed runbook does not have (built-in advice covers them)
SEED_RUNBOOK_GAPS = frozenset(
    {"tls-certificates", "security-headers", "credential-rotation", "database-role-privileges"}
)

_RUNBOOK_MARKER = re.compile(r"""pytest\.mark\.runbook\(\s*["']([^"']+)["']""")


def suite_slugs() -> list[str]:
    """Every section slug a shipped suite's ``runbook`` marker names."""
    slugs = {
        match.group(1)
        for path in SUITES.rglob("*.py")
        for match in _RUNBOOK_MARKER.finditer(path.read_text(encoding="utf-8"))
    }
    return sorted(slugs)


def parse(markdown: str) -> Runbook:
    return Runbook.parse(textwrap.dedent(markdown))


def section(markdown: str, slug: str) -> Section:
    found = parse(markdown).find(slug)
    assert found is not None, f"no section {slug!r}"
    return found


# ---------------------------------------------------------------------------------------------------
# slugify
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Site Down (P0)", "site-down-p0"),
        ("RTO/RPO Targets", "rtorpo-targets"),
        ("1. Deployment", "1-deployment"),
        ("Database Connection Errors", "database-connection-errors"),
        ("Performance Degradation", "performance-degradation"),
        ("  Padded Title  ", "padded-title"),
        ("snake_case and-hyphen", "snake_case-and-hyphen"),
        ("What's new?", "whats-new"),
        ("Two  spaces", "two--spaces"),
        ("Überprüfung", "überprüfung"),
    ],
)
def test_slugify_matches_github_anchors(title: str, slug: str) -> None:
    assert slugify(title) == slug


# ---------------------------------------------------------------------------------------------------
# Parsing sections
# ---------------------------------------------------------------------------------------------------
NESTED = """
    # Runbook

    ## Incident Response

    Intro text.

    ### Site Down (P0)

    - Roll back.

    #### Details

    More detail.

    ### Performance Degradation

    - Find the bottleneck.

    ## Troubleshooting

    Last words.
    """


def test_section_runs_to_next_heading_of_same_level() -> None:
    text = section(NESTED, "site-down-p0").text
    assert "Roll back." in text
    assert "Find the bottleneck." not in text


def test_section_includes_its_subsections() -> None:
    text = section(NESTED, "site-down-p0").text
    assert "#### Details" in text
    assert "More detail." in text


def test_section_stops_at_higher_level_heading() -> None:
    text = section(NESTED, "performance-degradation").text
    assert "Find the bottleneck." in text
    assert "Last words." not in text


def test_parent_section_contains_all_its_children() -> None:
    text = section(NESTED, "incident-response").text
    assert text.startswith("Intro text.")
    assert "### Site Down (P0)" in text
    assert "Find the bottleneck." in text
    assert "Troubleshooting" not in text


def test_last_section_runs_to_end_of_document() -> None:
    assert section(NESTED, "troubleshooting").text == "Last words."


def test_section_records_level_and_plain_title() -> None:
    found = section("## **Bold** `Heading`\n", "bold-heading")
    assert found.level == 2
    assert found.title == "Bold Heading"


def test_headings_inside_fenced_code_blocks_are_ignored() -> None:
    runbook = parse(
        """
        ## Deploy

        ```bash
        # Automated deployment
        ./deploy.sh
        ```

        ~~~
        ## not a heading either
        ~~~
        """
    )
    assert list(runbook.sections) == ["deploy"]
    assert "./deploy.sh" in runbook.sections["deploy"].text


def test_duplicate_headings_get_numbered_suffixes() -> None:
    runbook = parse(
        """
        ## Rollback
        first
        ## Rollback
        second
        ## Rollback
        third
        """
    )
    assert [(s.slug, s.text) for s in runbook.sections.values()] == [
        ("rollback", "first"),
        ("rollback-1", "second"),
        ("rollback-2", "third"),
    ]


def test_heading_with_link_is_slugged_by_its_words() -> None:
    runbook = parse("## See [the docs](https://docs.example.com/x) first\n")
    assert list(runbook.sections) == ["see-the-docs-first"]


def test_closing_hashes_are_not_part_of_title() -> None:
    assert list(parse("## Closed heading ##\n").sections) == ["closed-heading"]


def test_hash_without_space_is_not_a_heading() -> None:
    assert parse("#hashtag\n").sections == {}


def test_load_reads_file_and_keeps_path(tmp_path: Path) -> None:
    path = tmp_path / "RUNBOOK.md"
    path.write_text("## Only Section\ntext\n", encoding="utf-8")
    runbook = Runbook.load(path)
    assert runbook.path == path
    assert list(runbook.sections) == ["only-section"]


# ---------------------------------------------------------------------------------------------------
# Commands, headline, severity
# ---------------------------------------------------------------------------------------------------
WITH_COMMANDS = """
    ## Site Down (P0)

    1. **Immediate Actions:**
       ```bash
       # Check deployment status
       vercel ls --prod

       # Check API health
       curl -I https://your-domain.com/api/health
       ```

    2. **Quick Fixes:**
       - Revert to last known good deployment
       - Scale up resources if needed
    """


def test_commands_are_non_comment_lines_of_fenced_blocks() -> None:
    assert section(WITH_COMMANDS, "site-down-p0").commands == (
        "vercel ls --prod",
        "curl -I https://your-domain.com/api/health",
    )


def test_section_without_code_has_no_commands() -> None:
    assert section("## Plain\n- do the thing\n", "plain").commands == ()


def test_headline_skips_list_items_ending_with_colon() -> None:
    assert section(WITH_COMMANDS, "site-down-p0").headline == "Revert to last known good deployment"


def test_headline_strips_markdown() -> None:
    found = section("## Fix\n- **Restart** the [worker](https://x.example.com) `now`\n", "fix")
    assert found.headline == "Restart the worker now"


def test_headline_falls_back_to_first_command() -> None:
    found = section(
        """
        ## Database Connection Errors
        ```bash
        # Test connection
        npm run db:studio
        ```
        """,
        "database-connection-errors",
    )
    assert found.headline == "npm run db:studio"


def test_headline_ignores_list_lines_inside_code() -> None:
    found = section("## Fix\n```\n- not an item\n```\n- the real step\n", "fix")
    assert found.headline == "the real step"


def test_headline_falls_back_to_first_line_of_text() -> None:
    assert section("## RTO\nRecovery within **2 hours**.\n", "rto").headline == "Recovery within 2 hours."


def test_headline_of_empty_section_is_its_title() -> None:
    assert section("## Empty Section\n## Next\n", "empty-section").headline == "Empty Section"


@pytest.mark.parametrize(
    ("title", "severity"),
    [
        ("Site Down (P0)", "P0"),
        ("Login broken P1", "P1"),
        ("Performance Degradation", None),
        ("P9 things", None),
    ],
)
def test_severity_comes_from_title(title: str, severity: str | None) -> None:
    assert Section("slug", title, 2, "").severity == severity


# ---------------------------------------------------------------------------------------------------
# find and aliases
# ---------------------------------------------------------------------------------------------------
ALIASED = """
    ## Outage
    - Page the on-call engineer.
    ## Slow Site
    - Check the database.
    """


def test_find_by_slug() -> None:
    found = parse(ALIASED).find("outage")
    assert found is not None
    assert found.title == "Outage"


def test_find_missing_slug_is_none() -> None:
    assert parse(ALIASED).find("site-down-p0") is None


def test_find_with_alias_to_heading_title() -> None:
    found = parse(ALIASED).find("site-down-p0", {"site-down-p0": "Outage"})
    assert found is not None
    assert found.slug == "outage"


def test_find_with_alias_to_slug() -> None:
    found = parse(ALIASED).find("performance-degradation", {"performance-degradation": "slow-site"})
    assert found is not None
    assert found.title == "Slow Site"


def test_alias_for_other_slug_does_not_affect_lookup() -> None:
    found = parse(ALIASED).find("outage", {"site-down-p0": "Slow Site"})
    assert found is not None
    assert found.title == "Outage"


# ---------------------------------------------------------------------------------------------------
# Remedy
# ---------------------------------------------------------------------------------------------------
def test_remedy_from_runbook_section() -> None:
    remedy = Remedy.for_section("site-down-p0", parse(WITH_COMMANDS), link_base=LINK_BASE)
    assert remedy.from_runbook is True
    assert remedy.title == "Site Down (P0)"
    assert remedy.headline == "Revert to last known good deployment"
    assert remedy.commands == ("vercel ls --prod", "curl -I https://your-domain.com/api/health")
    assert remedy.link == f"{LINK_BASE}#site-down-p0"


def test_remedy_link_uses_aliased_section_slug() -> None:
    remedy = Remedy.for_section("site-down-p0", parse(ALIASED), {"site-down-p0": "Outage"}, LINK_BASE)
    assert remedy.link == f"{LINK_BASE}#outage"
    assert remedy.slug == "site-down-p0"


def test_remedy_without_link_base_has_no_link() -> None:
    assert Remedy.for_section("outage", parse(ALIASED)).link is None


def test_remedy_falls_back_to_builtin_advice_without_runbook() -> None:
    remedy = Remedy.for_section("site-down-p0", None, link_base=LINK_BASE)
    assert remedy.from_runbook is False
    assert remedy.title == BUILTIN_ADVICE["site-down-p0"][0]
    assert remedy.text == BUILTIN_ADVICE["site-down-p0"][1]
    assert remedy.headline == "Revert to the last known good deployment"
    assert remedy.link is None


def test_remedy_falls_back_to_builtin_advice_for_section_runbook_lacks() -> None:
    remedy = Remedy.for_section("tls-certificates", parse(ALIASED))
    assert remedy.from_runbook is False
    assert remedy.title == "TLS Certificates"


def test_remedy_for_unknown_slug_gives_generic_advice() -> None:
    remedy = Remedy.for_section("no-such-section", parse(ALIASED))
    assert remedy.from_runbook is False
    assert remedy.title == "No Such Section"
    assert "incident response" in remedy.text
    assert remedy.headline
    assert remedy.commands == ()


def test_render_names_the_source() -> None:
    from_runbook = Remedy.for_section("outage", parse(ALIASED)).render()
    builtin = Remedy.for_section("outage", None).render()
    assert from_runbook.startswith("Outage [runbook]\n")
    assert "built-in advice (section missing from the runbook)" in builtin


@pytest.mark.parametrize("slug", sorted(BUILTIN_ADVICE))
def test_builtin_advice_has_title_and_sentence(slug: str) -> None:
    title, advice = BUILTIN_ADVICE[slug]
    assert slugify(title) == slug or slug.endswith(slugify(title))
    assert advice.endswith(".")


# ---------------------------------------------------------------------------------------------------
# The shipped runbooks and the slugs the shipped suites use
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_runbook() -> Runbook:
    """The outline (headings, first steps, severities, code blocks) of the runbook opscheck verifies,
    shipped in the repository so these tests run, and can fail, in every clone."""
    return Runbook.load(SEED_RUNBOOK)


@pytest.fixture(scope="module")
def example_runbook() -> Runbook:
    return Runbook.load(EXAMPLE_RUNBOOK)


def test_shipped_suites_declare_runbook_sections() -> None:
    assert "site-down-p0" in suite_slugs()


@pytest.mark.parametrize("slug", suite_slugs())
def test_suite_slug_resolves_in_example_runbook(example_runbook: Runbook, slug: str) -> None:
    assert example_runbook.find(slug) is not None, f"examples/RUNBOOK.md lacks a section for {slug!r}"


@pytest.mark.parametrize("slug", suite_slugs())
def test_suite_slug_resolves_in_seed_runbook(seed_runbook: Runbook, slug: str) -> None:
    if slug in SEED_RUNBOOK_GAPS:
        assert seed_runbook.find(slug) is None, f"{slug!r} is in the seed runbook now: drop it from the gaps"
    else:
        assert seed_runbook.find(slug) is not None, f"the seed runbook lacks a section for {slug!r}"


@pytest.mark.parametrize("slug", suite_slugs())
def test_suite_slug_has_builtin_advice(slug: str) -> None:
    assert slug in BUILTIN_ADVICE


@pytest.mark.parametrize("slug", sorted(SEED_RUNBOOK_GAPS))
def test_seed_runbook_gap_falls_back_to_builtin_advice(seed_runbook: Runbook, slug: str) -> None:
    remedy = Remedy.for_section(slug, seed_runbook)
    assert remedy.from_runbook is False
    assert remedy.text == BUILTIN_ADVICE[slug][1]


@pytest.mark.parametrize(
    ("slug", "headline"),
    [
        ("site-down-p0", "Revert to last known good deployment"),
        ("database-connection-errors", "npm run db:studio"),
        ("1-deployment", "./scripts/deploy-production.sh"),
        ("scheduled-maintenance", "48-hour advance notice"),
    ],
)
def test_seed_runbook_headlines(seed_runbook: Runbook, slug: str, headline: str) -> None:
    found = seed_runbook.find(slug)
    assert found is not None
    assert found.headline == headline


def test_seed_runbook_site_down_has_p0_severity_and_commands(seed_runbook: Runbook) -> None:
    found = seed_runbook.find("site-down-p0")
    assert found is not None
    assert found.severity == "P0"
    assert found.commands == (
        "vercel ls --prod",
        "curl -I https://your-domain.com/api/health",
        "npm run db:studio",
    )


def test_seed_runbook_subsection_text_includes_nested_headings(seed_runbook: Runbook) -> None:
    found = seed_runbook.find("response-procedures")
    assert found is not None
    assert "#### Site Down (P0)" in found.text
    assert "#### Security Incident" in found.text
    assert "## Troubleshooting" not in found.text


def test_seed_runbook_comment_lines_are_not_headings(seed_runbook: Runbook) -> None:
    assert "automated-deployment" not in seed_runbook.sections
    assert "check-deployment-status" not in seed_runbook.sections


def test_example_runbook_site_down_headline(example_runbook: Runbook) -> None:
    found = example_runbook.find("site-down-p0")
    assert found is not None
    assert found.headline == "Roll back to the last known good deployment."
