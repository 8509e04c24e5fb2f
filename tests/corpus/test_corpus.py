"""The restore drill against real dumps of a realistic database, in every format it accepts.

For each dump of the corpus (``conftest.py``): the real shipped suite passes with the corpus roles
declared, its expected tables named schema-qualified and with mixed case, and every table's exact row
count; cut at several points or with one byte flipped, the drill fails. Beside each verdict the runbook's
own ``gunzip -c backup | psql`` (``pg_restore -d`` for a custom dump) runs into a fresh database of the
same cluster, roles present, and its exit status and whether the data came back complete are recorded,
so the table printed at the end shows exactly where the drill is stricter than the runbook.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opscheck.config import load_config
from opscheck.errors import CheckFailed, OpscheckError
from opscheck.restore.drill import Drill
from opscheck.restore.expectations import missing_tables, row_counts
from opscheck.restore.servers.local import LocalCluster
from tests.corpus.conftest import CORPUS_ROLES, Corpus, fingerprint, gz
from tests.support.reference_dumps import without_restrict
from tests.support.suite_run import ENV, RESTORE_SUITE, run_suite, write_opscheck_toml

# the corpus is built once per session: one xdist worker runs all of it (.ci/run uses --dist loadgroup)
pytestmark = pytest.mark.xdist_group("restore-corpus")

DUMPS = (
    "plain.sql.gz",
    "custom.dump",
    "schema+data.sql.gz",
    "schema+data-2-members.sql.gz",
    "create-C.sql.gz",
    "plain.sql",
)
RUNBOOK_TIMEOUT_S = 120.0
#: checks that rightly skip here: a directory is not S3, the corpus is not a Prisma app
MATVIEWS = ("app.revenue_by_month",)
NOT_APPLICABLE = ("test_backup_is_encrypted_at_rest", "test_migrations_are_complete")


def _cut(fraction: float) -> Callable[[Corpus, str], bytes]:
    def damage(corpus: Corpus, name: str) -> bytes:
        body = corpus.dumps[name]
        return body[: int(len(body) * fraction)]

    return damage


def _flip(corpus: Corpus, name: str) -> bytes:
    body = bytearray(corpus.dumps[name])
    body[len(body) // 2] ^= 0xFF
    return bytes(body)


def _first_part_cut(corpus: Corpus, name: str, *, restrict: bool = True) -> bytes:
    """The schema part cut at 60 % (its end marker lost), the data part whole: constraints, indexes,
    triggers and policies never get created. Without ``\\restrict`` (pg_dump before 15.14) psql does not
    trip over the second part's header either."""
    schema, data = corpus.schema, corpus.data
    if not restrict:
        schema, data = without_restrict(schema), without_restrict(data)
    schema = schema[: len(schema) * 6 // 10]
    return gz(schema) + gz(data) if "2-members" in name else gz(schema + data)


DAMAGES: dict[str, Callable[[Corpus, str], bytes]] = {
    "cut at 25%": _cut(0.25),
    "cut at 50%": _cut(0.5),
    "cut at 90%": _cut(0.9),
    "1 byte flipped": _flip,
}
PART_CUTS = ("part 1 cut", "part 1 cut, no \\restrict")
DAMAGED = [(dump, damage) for dump in DUMPS for damage in DAMAGES] + [
    (dump, cut) for dump in ("schema+data.sql.gz", "schema+data-2-members.sql.gz") for cut in PART_CUTS
]


def _ext(name: str) -> str:
    return "dump" if name.endswith(".dump") else "sql.gz" if name.endswith(".gz") else "sql"


def _backups(tmp_path: Path, name: str, body: bytes) -> Path:
    directory = tmp_path / "backups"
    directory.mkdir()
    taken = datetime.now(UTC) - timedelta(hours=1)
    (directory / f"backup_{taken:%Y%m%d_%H%M%S}.{_ext(name)}").write_bytes(body)
    return directory


def _expected_rows(corpus: Corpus, name: str) -> dict[str, int]:
    """Every table's exact row count -- but a schema-only + data-only pair leaves materialized views
    unpopulated (``pg_dump -a`` writes no REFRESH; the runbook's restore shows the same), so not those."""
    if name.startswith("schema+data"):
        return {table: rows for table, rows in corpus.counts.items() if table not in MATVIEWS}
    return corpus.counts


def _config(tmp_path: Path, corpus: Corpus, directory: Path, name: str) -> Path:
    return write_opscheck_toml(
        tmp_path,
        top={"timeout_s": 5},
        backups={"location": directory.as_uri(), "rpo_hours": 24, "rto_minutes": 10, "retention_days": 1},
        restore={
            "provider": "local",
            "expect_tables": sorted(corpus.counts),
            "min_rows": _expected_rows(corpus, name),
            "roles": list(CORPUS_ROLES),
        },
    )


# -- the runbook's own restore ---------------------------------------------------------------------------


def runbook_restore(cluster: LocalCluster, corpus: Corpus, name: str, body: bytes, tmp_path: Path) -> str:
    """Exit status, ERROR count and completeness of the runbook's restore of ``body`` (roles present)."""
    path = tmp_path / f"runbook-{uuid.uuid4().hex[:6]}-{name}"
    path.write_bytes(body)
    path.chmod(0o644)
    creates = name.startswith("create-C")
    target = corpus.dbname if creates else f"runbook_{uuid.uuid4().hex[:10]}"
    if not creates:
        cluster.create_database(target)
    try:
        if name.endswith(".dump"):
            command = shlex.join(cluster.client_command("pg_restore", target, str(path)))
        else:
            psql = shlex.join(cluster.client_command("psql", "postgres" if creates else target))
            reader = "gunzip -c" if name.endswith(".gz") else "cat"
            command = f"{reader} {shlex.quote(str(path))} | {psql}"  # no pipefail: as the runbook runs it
        proc = subprocess.run(
            ["bash", "-c", command],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=RUNBOOK_TIMEOUT_S,
            check=False,
        )
        errors = proc.stderr.count("ERROR:")
        try:
            complete = fingerprint(cluster, target) == corpus.fingerprint
        except AssertionError:
            complete = False
        data = "data complete" if complete else "data INCOMPLETE"
        return f"exit {proc.returncode}, {errors} ERROR(s), {data}"
    finally:
        with contextlib.suppress(OpscheckError):
            cluster.drop_database(target)


# -- the drill -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def drill_for(tmp_path: Path, corpus: Corpus, name: str, body: bytes) -> Iterator[Drill]:
    config = _config(tmp_path, corpus, _backups(tmp_path, name, body), name)
    drill = Drill(load_config(config).environment(ENV), "latest", [])
    try:
        yield drill
    finally:
        drill.close()


def drill_verdict(drill: Drill, corpus: Corpus) -> tuple[str, str]:
    """(which step failed, its message) -- or ("PASSES", …) when nothing caught the damage."""
    try:
        drill.facts()
    except CheckFailed as exc:
        return "stream check fails", exc.seen
    try:
        drill.restored()
    except OpscheckError as exc:
        return "restore fails", exc.seen if isinstance(exc, CheckFailed) else str(exc)
    with drill.connect() as conn:
        missing = missing_tables(conn, sorted(corpus.counts))
        counts, failed = row_counts(conn, exact=set(corpus.counts))
    short = sorted(name for name, least in corpus.counts.items() if counts.get(name, 0) < least)
    if missing or failed or short:
        return "data checks fail", f"missing {missing}, uncounted {sorted(failed)}, short {short}"
    return "PASSES", "nothing caught the damage"


@pytest.mark.parametrize("name", DUMPS)
def test_healthy_dump_passes_every_check(
    name: str,
    corpus: Corpus,
    pg_cluster: LocalCluster,
    pytester: pytest.Pytester,
    tmp_path: Path,
    *,
    corpus_log: Callable[..., None],
) -> None:
    body = corpus.dumps[name]
    config = _config(tmp_path, corpus, _backups(tmp_path, name, body), name)
    runbook = runbook_restore(pg_cluster, corpus, name, body, tmp_path)
    run = run_suite(pytester, RESTORE_SUITE, config, tmp_path / "reports")
    not_passed = {
        check: f"{outcome}: {run.checks[check]['message']}"
        for check, outcome in run.outcomes().items()
        if outcome != "passed" and not (outcome == "skipped" and check in NOT_APPLICABLE)
    }
    says = "; ".join(f"{check} {why}" for check, why in sorted(not_passed.items())) or "every check passed"
    corpus_log(
        dump=name, order=0, damage="none", drill="passes" if not not_passed else "FAILS", says=says,
        runbook=runbook, verdict="ok" if not not_passed and run.ret == 0 else "FALSE RED",
    )  # fmt: skip
    assert not_passed == {}, run.output
    assert run.ret == 0, run.output
    assert run.check("test_restore_roles_are_declared")["metrics"]["roles_needed"] == sorted(CORPUS_ROLES)
    counted = run.check("test_tables_have_minimum_rows")["metrics"]["row_counts"]
    assert {table: counted[table] for table in _expected_rows(corpus, name)} == _expected_rows(corpus, name)


@pytest.mark.parametrize(("name", "damage"), DAMAGED)
def test_damaged_dump_fails_the_drill(
    name: str,
    damage: str,
    corpus: Corpus,
    pg_cluster: LocalCluster,
    tmp_path: Path,
    *,
    corpus_log: Callable[..., None],
) -> None:
    if damage in PART_CUTS:
        body = _first_part_cut(corpus, name, restrict=damage == PART_CUTS[0])
    else:
        body = DAMAGES[damage](corpus, name)
    runbook = runbook_restore(pg_cluster, corpus, name, body, tmp_path)
    with drill_for(tmp_path, corpus, name, body) as drill:
        step, says = drill_verdict(drill, corpus)
    order = [*DAMAGES, *PART_CUTS].index(damage) + 1
    corpus_log(
        dump=name, order=order, damage=damage, drill=step, says=says.replace("\n", " "), runbook=runbook,
        verdict="FALSE GREEN" if step == "PASSES" else "ok",
    )  # fmt: skip
    assert step != "PASSES", f"{name} with {damage}: the drill passed; runbook: {runbook}"
