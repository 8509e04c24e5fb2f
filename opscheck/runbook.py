"""A markdown runbook → sections a failed check can point at.

A section is found by the GitHub-style slug of its heading (``## Site Down (P0)`` → ``site-down-p0``), so
links into a rendered runbook work. Its text runs to the next heading of the same or a higher level;
its commands are the lines of its fenced code blocks. Teams whose headings differ map a slug to their
own heading with ``runbook_sections``; a slug that is still missing falls back to built-in advice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["BUILTIN_ADVICE", "Remedy", "Runbook", "Section", "slugify"]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SEVERITY_IN_TITLE = re.compile(r"\b(P[0-3])\b")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+(.*)$")


def slugify(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _plain(text: str) -> str:
    """Markdown emphasis and links reduced to their words."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*`]{1,3}", "", text).strip()


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    level: int
    text: str
    commands: tuple[str, ...] = ()

    @property
    def severity(self) -> str | None:
        match = _SEVERITY_IN_TITLE.search(self.title)
        return match.group(1) if match else None

    @property
    def headline(self) -> str:
        """The first thing to do: the first list item that is an action, else the first command."""
        in_fence = False
        for line in self.text.splitlines():
            if _FENCE.match(line):
                in_fence = not in_fence
                continue
            item = _LIST_ITEM.match(line)
            if in_fence or not item:
                continue
            words = _plain(item.group(1))
            if words and not words.endswith(":"):
                return words
        if self.commands:
            return self.commands[0]
        for line in self.text.splitlines():
            words = _plain(line)
            if words and not _FENCE.match(line):
                return words
        return self.title


@dataclass
class Runbook:
    path: Path | None
    sections: dict[str, Section] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, path: Path | None = None) -> Runbook:
        lines = text.splitlines()
        headings: list[tuple[int, int, str]] = []  # (line index, level, title)
        in_fence = False
        for index, line in enumerate(lines):
            if _FENCE.match(line):
                in_fence = not in_fence
            elif not in_fence and (match := _HEADING.match(line)):
                headings.append((index, len(match.group(1)), match.group(2)))
        runbook = cls(path)
        for position, (index, level, title) in enumerate(headings):
            end = len(lines)
            for later_index, later_level, _ in headings[position + 1 :]:
                if later_level <= level:
                    end = later_index
                    break
            body = "\n".join(lines[index + 1 : end]).strip("\n")
            slug = slugify(_plain(title))  # GitHub slugs the rendered text: a link counts by its words
            unique, n = slug, 1
            while unique in runbook.sections:
                unique, n = f"{slug}-{n}", n + 1
            runbook.sections[unique] = Section(unique, _plain(title), level, body, _commands(body))
        return runbook

    @classmethod
    def load(cls, path: Path) -> Runbook:
        return cls.parse(path.read_text(encoding="utf-8"), path)

    def find(self, slug: str, aliases: Mapping[str, str] | None = None) -> Section | None:
        """The section for ``slug``; ``aliases`` maps a slug to this runbook's own heading or slug."""
        target = (aliases or {}).get(slug, slug)
        return self.sections.get(target) or self.sections.get(slugify(target))


def _commands(body: str) -> tuple[str, ...]:
    commands: list[str] = []
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        stripped = line.strip()
        if in_fence and stripped and not stripped.startswith("#"):
            commands.append(stripped)
    return tuple(commands)


@dataclass(frozen=True)
class Remedy:
    """What a failed check tells people to do: the runbook section's text, or built-in advice."""

    slug: str
    title: str
    text: str
    headline: str
    commands: tuple[str, ...]
    from_runbook: bool
    link: str | None = None

    @classmethod
    def for_section(
        cls,
        slug: str,
        runbook: Runbook | None,
        aliases: Mapping[str, str] | None = None,
        link_base: str | None = None,
    ) -> Remedy:
        section = runbook.find(slug, aliases) if runbook else None
        if section is not None:
            link = f"{link_base}#{section.slug}" if link_base else None
            return cls(slug, section.title, section.text, section.headline, section.commands, True, link)
        title, advice = BUILTIN_ADVICE.get(slug, (slug.replace("-", " ").title(), _GENERIC_ADVICE))
        return cls(slug, title, advice, advice.split(". ")[0].rstrip("."), (), False, None)

    @classmethod
    def run_configuration(cls, advice: str) -> Remedy:
        """Advice about the run's own configuration, in place of a runbook section (the deployment was not
        judged, so deployment advice such as a rollback would mislead)."""
        return cls(
            RUN_CONFIGURATION,
            "Configuration of this opscheck run",
            advice,
            advice.split(". ", maxsplit=1)[0],
            (),
            False,
        )

    def led_by(self, lead: str) -> Remedy:
        """This remedy with ``lead``, advice specific to the problem, first (and as the headline)."""
        headline = lead.split(". ", maxsplit=1)[0].rstrip(".")
        return replace(self, text=f"{lead}\n\n{self.text}", headline=headline)

    def render(self) -> str:
        if self.from_runbook:
            source = "runbook"
        elif self.slug == RUN_CONFIGURATION:
            source = "opscheck"
        else:
            source = "built-in advice (section missing from the runbook)"
        return f"{self.title} [{source}]\n{self.text}".rstrip()


#: the slug of :meth:`Remedy.run_configuration`'s advice
RUN_CONFIGURATION = "run-configuration"

_GENERIC_ADVICE = (
    "Follow the incident response process: assess severity and impact, notify stakeholders, "
    "mitigate, then resolve and review."
)

#: Short advice used when a team's runbook lacks a section a check points at.
BUILTIN_ADVICE: dict[str, tuple[str, str]] = {
    "site-down-p0": (
        "Site Down (P0)",
        "Revert to the last known good deployment. Check the deployment status and the health "
        "endpoint, and the database connection; enable maintenance mode and update the status page.",
    ),
    "performance-degradation": (
        "Performance Degradation",
        "Find the bottleneck in request durations and slow queries. Enable caching, scale resources "
        "and rate-limit aggressive clients.",
    ),
    "database-connection-errors": (
        "Database Connection Errors",
        "Check DATABASE_URL (host, port, user, password, sslmode), network reachability of the "
        "database port, and the database server's state and connection limits.",
    ),
    "authentication-issues": (
        "Authentication Issues",
        "Verify NEXTAUTH_URL and NEXTAUTH_SECRET in the deployment's environment, then the session "
        "configuration of the auth provider.",
    ),
    "security-incident": (
        "Security Incident",
        "Isolate affected systems, revoke and rotate compromised credentials, and enable additional "
        "logging. Then investigate access logs and reset affected sessions.",
    ),
    "1-deployment": (
        "Deployment",
        "Roll back to the last known good deployment, or redeploy the expected version.",
    ),
    "4-cache-management": (
        "Cache Management",
        "Check the cache server is up and reachable with the configured URL; the app must degrade "
        "gracefully without it.",
    ),
    "scheduled-maintenance": (
        "Scheduled Maintenance",
        "Maintenance mode is on: if no maintenance is announced, remove MAINTENANCE_MODE and redeploy.",
    ),
    "tls-certificates": (
        "TLS Certificates",
        "Renew the certificate before it expires and make sure it names the host and chains to a "
        "trusted root; check automatic renewal.",
    ),
    "security-headers": (
        "Security Headers",
        "Send HSTS (max-age of at least a year), X-Content-Type-Options: nosniff, a frame-ancestors "
        "CSP or X-Frame-Options, and a Referrer-Policy from the app or the edge.",
    ),
    "backup-strategy": (
        "Backup Strategy",
        "Check the scheduled backup job ran and uploaded its file; run it by hand if it did not.",
    ),
    "complete-system-recovery": (
        "Complete System Recovery",
        "Provision infrastructure, restore the database from the latest good backup, verify services.",
    ),
    "data-recovery": (
        "Data Recovery",
        "Identify the affected time range, restore from backup into a separate database, and validate "
        "the data before copying it back.",
    ),
    "rtorpo-targets": (
        "RTO/RPO Targets",
        "Backups must be recent enough to meet the RPO, and a restore must finish within the RTO.",
    ),
    "environment-variables": (
        "Environment Variables",
        "Set the critical environment variables in the deployment's secure vault and redeploy.",
    ),
    "database-role-privileges": (
        "Database Role Privileges",
        "Give the app a database role of its own that is not a superuser and cannot create roles or "
        "databases. Point DATABASE_URL at it, then remove the extra attributes from the old role.",
    ),
    "credential-rotation": (
        "Credential Rotation",
        "Replace a credential that is old, rejected or shared: create the new one, deploy it, then revoke "
        "the old one. Every environment has secrets of its own; AWS access keys live at most 90 days.",
    ),
    "3-monitoring": (
        "Monitoring",
        "Check the health endpoint, the logs and the error tracker (SENTRY_DSN: the DSN of the project, "
        "https://PUBLIC_KEY@HOST/PROJECT_ID, without a secret key).",
    ),
}
