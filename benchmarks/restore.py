#!/usr/bin/env python3
"""Restore drill throughput and memory, against the runbook's raw ``gunzip | psql``.

What it does, in one run:

1. Builds two plain ``pg_dump`` files in a throwaway LocalCluster (a big one, ``--size-mb``, default 300 MB
   of SQL, and a small one, ``--small-mb``, default 60 MB), gzip'ed by Python at level 6 into
   ``backup_YYYYMMDD_HHMMSS.sql.gz`` files, one per directory (a FileStore each).
2. Restores the big dump alternately with the raw baseline
   ``set -o pipefail; gunzip -c FILE | psql -X -q -v ON_ERROR_STOP=1 -d fresh_db`` and with the drill's
   restore phase ``opscheck.restore.restore_backup`` (FileStore backup, ``RestoreGuard([])``), each into a
   fresh database of a fresh LocalCluster, ``--runs`` times each (default 2). Both timings include the
   ``CREATE DATABASE`` (restore_backup does it itself; the raw side runs it before the pipeline).
3. Runs the whole drill (``opscheck.drill.Drill``: list + select, integrity pass, server start, restore,
   then the verification queries of ``opscheck.restored``: table_names, row_counts, amcheck_indexes) in a
   child Python process per dump size, which prints its own ``ru_maxrss``: the peak RSS of the process
   running the drill, without this parent's memory. Unless ``--no-suite``, it also runs the real
   ``suites/restore`` under pytest in a child, for the RSS/wall time of the drill as CI runs it.

Each restore also records CPU seconds (client processes + the PostgreSQL server, read from /proc), which
move far less than wall time when other work shares the two cores.

Targets: restore_backup / raw ≤ 1.15 (best / best of the runs; the median of the per-run ratios and the
CPU ratio are printed too); peak RSS of the drill process ≤ 200 MB and flat (the big dump's peak within
10 % of the small one's).

    .venv/bin/python benchmarks/restore.py               # full size: several minutes
    .venv/bin/python benchmarks/restore.py --quick       # 40 MB + 10 MB, about a minute
    .venv/bin/python benchmarks/restore.py --keep-files /tmp/dumps

Results are printed as a table and written to ``benchmarks/results/restore-<date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, print_machine, table, verdict, write_results

RATIO_TARGET = 1.15
RSS_TARGET_MB = 200.0
RSS_FLAT_TOLERANCE = 0.10
CHUNK = 1 << 20
CHILD_MARK = "BENCH-RESULT "
CHILD_TIMEOUT_S = 3600.0

# The generated schema: a customers table, a wide orders table with mixed column types, a primary key on
# both and a secondary index on orders. Row width grows slowly with the id (more digits).
SCHEMA_SQL = """
CREATE TABLE customers (
    id integer PRIMARY KEY, email text NOT NULL, country char(2), created_at timestamptz NOT NULL
);
CREATE TABLE orders (
    id bigint PRIMARY KEY, customer_id integer NOT NULL, created_at timestamptz NOT NULL,
    status text NOT NULL, amount numeric(12,2) NOT NULL, paid boolean NOT NULL, reference uuid NOT NULL,
    note text
);
"""
ORDER_COLUMNS = """
    g::bigint AS id,
    1 + (g * 7919) % {customers} AS customer_id,
    timestamptz '2021-01-01 00:00:00+00' + g * interval '3 seconds' AS created_at,
    (ARRAY['new', 'paid', 'shipped', 'cancelled', 'refunded'])[1 + g % 5] AS status,
    round(((g * 37) % 100000) / 7.0, 2)::numeric(12,2) AS amount,
    g % 3 = 0 AS paid,
    md5(g::text)::uuid AS reference,
    CASE WHEN g % 4 = 0 THEN NULL ELSE 'note ' || md5((g * 13)::text) END AS note
"""
FILL_SQL = """
INSERT INTO customers
SELECT g, 'user' || g || '@example.com', (ARRAY['DE', 'FR', 'US', 'GB', 'NL'])[1 + g % 5],
       timestamptz '2020-01-01 00:00:00+00' + g * interval '17 seconds'
FROM generate_series(1, {customers}) g;
INSERT INTO orders SELECT {columns} FROM generate_series(1::bigint, {rows}::bigint) g;
CREATE INDEX orders_customer_created ON orders (customer_id, created_at);
ANALYZE;
"""
# bytes of COPY text per orders row, sampled evenly over 1..rows (with a step coprime to the columns'
# periods 3, 4 and 5, so the sample sees every status, NULL pattern and so on in proportion)
ROW_WIDTH_SQL = """
SELECT avg(octet_length(concat_ws(E'\\t', id, customer_id, created_at, status, amount, paid, reference,
                                  coalesce(note, '\\N'))) + 1)
FROM (SELECT {columns} FROM generate_series(1::bigint, {rows}::bigint, {step}::bigint) g) s
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def mb(n: float) -> float:
    return round(n / 1e6, 1)


# ----------------------------------------------------------------------------------------- dump building


def _psql_ok(cluster: Any, sql: str, dbname: str, timeout: float = 3600) -> str:
    proc = cluster.psql("-q", "-At", "-c", sql, dbname=dbname, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed on {dbname}: {proc.stderr.strip()[:500]}")
    return str(proc.stdout).strip()


def _rows_for(cluster: Any, dbname: str, target_bytes: float) -> int:
    """How many orders rows make ``target_bytes`` of dump text (two rounds: width depends on the count)."""
    rows = max(1000, int(target_bytes / 120))
    for _ in range(2):
        customers = max(1000, rows // 100)
        step = max(1, rows // 20000)
        while math.gcd(step, 60) != 1:
            step += 1
        sql = ROW_WIDTH_SQL.format(columns=ORDER_COLUMNS.format(customers=customers), rows=rows, step=step)
        width = float(_psql_ok(cluster, sql, dbname))
        customer_bytes = customers * 60
        rows = max(1000, int((target_bytes - customer_bytes - 10_000) / width))
    return int(rows * 1.01)  # a little over: the size is a floor


def build_dump(cluster: Any, dbname: str, size_mb: float, directory: Path, taken: datetime) -> dict[str, Any]:
    """Create ``dbname`` with ~``size_mb`` MB of dump text, pg_dump it, gzip (level 6) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cluster.create_database(dbname)
    rows = _rows_for(cluster, dbname, size_mb * 1e6)
    customers = max(1000, rows // 100)
    started = time.perf_counter()
    _psql_ok(cluster, SCHEMA_SQL, dbname)
    _psql_ok(
        cluster,
        FILL_SQL.format(customers=customers, rows=rows, columns=ORDER_COLUMNS.format(customers=customers)),
        dbname,
    )
    fill_s = time.perf_counter() - started

    path = directory / f"backup_{taken.strftime('%Y%m%d_%H%M%S')}.sql.gz"
    started = time.perf_counter()
    dump = subprocess.Popen(
        cluster.client_command("pg_dump", dbname), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert dump.stdout is not None
    assert dump.stderr is not None
    sql_bytes = 0
    try:
        with gzip.open(path, "wb", compresslevel=6) as out:
            for chunk in iter(lambda: dump.stdout.read(CHUNK), b""):  # type: ignore[union-attr]
                out.write(chunk)
                sql_bytes += len(chunk)
    finally:
        if dump.poll() is None:
            dump.stdout.close()
        rc = dump.wait(timeout=600)
    if rc != 0:
        raise RuntimeError(f"pg_dump {dbname} exited {rc}: {dump.stderr.read().decode()[:500]}")
    dump_s = time.perf_counter() - started
    return {
        "path": str(path),
        "name": path.name,
        "orders_rows": rows,
        "customers_rows": customers,
        "sql_bytes": sql_bytes,
        "gz_bytes": path.stat().st_size,
        "fill_seconds": round(fill_s, 2),
        "dump_and_gzip_seconds": round(dump_s, 2),
    }


# ---------------------------------------------------------------------------------------------- restores


def _count_orders(cluster: Any, dbname: str) -> int:
    return int(_psql_ok(cluster, "SELECT count(*) FROM public.orders", dbname))


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # [0] is field 3 (state): field N is [N - 3]


def server_cpu_s(postmaster: int | None) -> float:
    """CPU seconds used so far by a PostgreSQL server: the postmaster, its live children, and (through
    the postmaster's cutime/cstime) the backends that already exited, such as the restore's."""
    if postmaster is None:
        return 0.0
    own = _stat_fields(postmaster)
    if own is None:
        return 0.0
    ticks = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if fields is not None and fields[1] == str(postmaster):
                ticks += sum(int(v) for v in fields[11:15])
    return ticks / _TICK


def settled_server_cpu_s(postmaster: int | None) -> float:
    """server_cpu_s once the finished session's backend has exited and been reaped (read outside timing:
    a backend reaped between the two reads of server_cpu_s would be missed)."""
    time.sleep(0.5)
    return server_cpu_s(postmaster)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def raw_restore(path: Path, expect_rows: int, *extra: str) -> dict[str, Any]:
    """``gunzip -c | psql`` into a new database of a new cluster; timed: CREATE DATABASE + the pipeline.

    ``extra`` psql options are for the diagnostic variant (``--single-transaction``)."""
    from opscheck.pgcluster import LocalCluster  # noqa: PLC0415

    cluster = LocalCluster().start()
    try:
        psql = cluster.client_command("psql", "fresh_db", "-X", "-q", "-v", "ON_ERROR_STOP=1", *extra)
        script = f"set -o pipefail; gunzip -c {shlex.quote(str(path))} | {shlex.join(psql)} >/dev/null"
        server_before, client_before = server_cpu_s(cluster.pid), _cpu(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        cluster.create_database("fresh_db")
        created = time.perf_counter()
        proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
        ended = time.perf_counter()
        client_cpu = _cpu(resource.RUSAGE_CHILDREN) - client_before
        server_cpu = settled_server_cpu_s(cluster.pid) - server_before
        if proc.returncode != 0:
            raise RuntimeError(f"raw restore exited {proc.returncode}: {proc.stderr.strip()[:500]}")
        rows = _count_orders(cluster, "fresh_db")
        if rows != expect_rows:
            raise RuntimeError(f"raw restore: {rows} orders rows, expected {expect_rows}")
    finally:
        cluster.stop()
    return {
        "wall_s": round(ended - started, 3),
        "pipeline_s": round(ended - created, 3),
        "client_cpu_s": round(client_cpu, 2),
        "server_cpu_s": round(server_cpu, 2),
    }


def decompress_only(path: Path) -> dict[str, float]:
    """Decompression alone: ``gunzip -c > /dev/null`` and a GzipDumpVerifier pass (the integrity pass)."""
    from opscheck.dumps import verify_plain_gzip  # noqa: PLC0415

    started = time.perf_counter()
    subprocess.run(["bash", "-c", f"gunzip -c {shlex.quote(str(path))} >/dev/null"], check=True)
    gunzip_s = time.perf_counter() - started
    started = time.perf_counter()
    with path.open("rb") as stream:
        verify_plain_gzip(stream, path.name)
    verifier_s = time.perf_counter() - started
    return {"gunzip_to_devnull_s": round(gunzip_s, 3), "gzip_dump_verifier_s": round(verifier_s, 3)}


def drill_restore(directory: Path, expect_rows: int) -> dict[str, Any]:
    """``restore_backup`` of the FileStore's latest backup into a new cluster; timed: the call."""
    from opscheck.backups import FileStore, select_backup  # noqa: PLC0415
    from opscheck.pgcluster import LocalCluster  # noqa: PLC0415
    from opscheck.restore import RestoreGuard, cpu_jobs, restore_backup  # noqa: PLC0415

    store = FileStore(directory)
    backup = store.details(select_backup(store.list(), "latest"))
    cluster = LocalCluster().start()
    try:
        with contextlib.closing(store.open(backup)) as stream:
            server_before = server_cpu_s(cluster.pid)
            client_before = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            restored = restore_backup(
                cluster, RestoreGuard([]), backup, stream, deadline_s=3600, jobs=cpu_jobs()
            )
            ended = time.perf_counter()
            client_cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - client_before
            server_cpu = settled_server_cpu_s(cluster.pid) - server_before
        rows = _count_orders(cluster, restored.dbname)
        if rows != expect_rows:
            raise RuntimeError(f"drill restore: {rows} orders rows, expected {expect_rows}")
    finally:
        cluster.stop()
    return {
        "wall_s": round(ended - started, 3),
        "restored_seconds": round(restored.seconds, 3),
        "uncompressed_bytes": restored.uncompressed_bytes,
        "client_cpu_s": round(client_cpu, 2),
        "server_cpu_s": round(server_cpu, 2),
    }


# ---------------------------------------------------------------------------------- child: the full drill


def _write_config(directory: Path, backups: Path, orders: int, customers: int) -> Path:
    path = directory / "opscheck.toml"
    path.write_text(
        "\n".join(
            [
                "[environments.bench]",
                'base_url = "http://127.0.0.1:9"',
                "",
                "[environments.bench.backups]",
                f"location = {json.dumps(str(backups))}",
                "rpo_hours = 24",
                "rto_minutes = 120",
                "retention_days = 1",
                "",
                "[environments.bench.restore]",
                'provider = "local"',
                'expect_tables = ["orders", "customers"]',
                f"min_rows = {{ orders = {orders}, customers = {customers} }}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


def _maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def child_drill(backups: Path, orders: int, customers: int) -> dict[str, Any]:
    """Runs in the child: the drill step by step, as the restore suite does, with times and peak RSS."""
    started = time.perf_counter()
    from opscheck.config import load_config  # noqa: PLC0415
    from opscheck.drill import Drill  # noqa: PLC0415
    from opscheck.restored import amcheck_indexes, row_counts, table_names  # noqa: PLC0415

    phases: dict[str, float] = {}
    rss: dict[str, int] = {"after_imports": _maxrss_kb()}
    with tempfile.TemporaryDirectory(prefix="opscheck-bench-cfg-") as tmp:
        env = load_config(_write_config(Path(tmp), backups, orders, customers)).environment("bench")
        drill = Drill(env, "latest", [])
        try:
            mark = time.perf_counter()
            backup = drill.backup()
            phases["list_select_s"] = time.perf_counter() - mark
            mark = time.perf_counter()
            facts, _roles = drill.facts()
            phases["integrity_pass_s"] = time.perf_counter() - mark
            rss["after_integrity_pass"] = _maxrss_kb()
            mark = time.perf_counter()
            restored = drill.restored()
            call = time.perf_counter() - mark
            phases["server_start_and_createdb_s"] = call - restored.seconds
            phases["restore_s"] = restored.seconds
            rss["after_restore"] = _maxrss_kb()
            mark = time.perf_counter()
            with drill.connect() as conn:
                tables = table_names(conn)
                counts = row_counts(conn, exact=set(env.restore.min_rows))
                indexes = amcheck_indexes(conn)
            phases["verification_queries_s"] = time.perf_counter() - mark
            rss["after_verification"] = _maxrss_kb()
        finally:
            mark = time.perf_counter()
            drill.close()
            phases["server_stop_s"] = time.perf_counter() - mark
    if counts.get("orders") != orders or not {"orders", "customers"} <= tables:
        raise RuntimeError(f"restored database is not complete: {tables}, {counts}")
    return {
        "backup": backup.name,
        "gz_bytes": backup.size,
        "sql_bytes": facts.uncompressed_bytes,
        "phases": {k: round(v, 3) for k, v in phases.items()},
        "total_s": round(time.perf_counter() - started, 3),
        "sql_mb_per_s_restore": restored.sql_mb_per_s,
        "indexes_checked": indexes,
        "row_counts": counts,
        "maxrss_kb": rss,
        "peak_rss_mb": round(_maxrss_kb() / 1024, 1),
    }


def child_suite(backups: Path, orders: int, customers: int) -> dict[str, Any]:
    """Runs in the child: the real ``suites/restore`` under pytest against the FileStore."""
    started = time.perf_counter()
    import pytest  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="opscheck-bench-suite-") as tmp:
        cfg = _write_config(Path(tmp), backups, orders, customers)
        reports = Path(tmp) / "reports"
        rc = pytest.main(
            [
                str(REPO / "suites" / "restore"),
                "--env",
                "bench",
                "--opscheck-config",
                str(cfg),
                "--opscheck-reports",
                str(reports),
                "-p",
                "no:cacheprovider",
                "-q",
            ]
        )
        outcomes: dict[str, str] = {}
        summary = reports / "opscheck-summary.json"
        if summary.is_file():
            for check in json.loads(summary.read_text(encoding="utf-8")).get("checks", []):
                outcomes[check["nodeid"].split("::", 1)[-1]] = check.get("outcome")
    return {
        "exit_code": int(rc),
        "outcomes": outcomes,
        "total_s": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(_maxrss_kb() / 1024, 1),
    }


def run_child(mode: str, directory: Path, dump: dict[str, Any]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        f"--child-{mode}",
        str(directory),
        "--child-rows",
        str(dump["orders_rows"]),
        str(dump["customers_rows"]),
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False)
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith(CHILD_MARK)]
    if not lines:
        raise RuntimeError(
            f"child {mode} exited {proc.returncode} without a result:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(CHILD_MARK) :])
    result["process_wall_s"] = round(wall, 3)
    return result


# -------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=float, default=300.0, help="SQL size of the big dump (default 300)")
    parser.add_argument(
        "--small-mb", type=float, default=60.0, help="SQL size of the small dump (default 60)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes: 40 MB and 10 MB")
    parser.add_argument("--runs", type=int, default=2, help="alternating raw/drill runs per side (default 2)")
    parser.add_argument("--keep-files", metavar="DIR", type=Path, help="write the dumps here and keep them")
    parser.add_argument("--no-suite", action="store_true", help="skip the pytest suites/restore child runs")
    parser.add_argument("--child-drill", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-suite", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-rows", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb, args.small_mb = 40.0, 10.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_drill or args.child_suite:
        orders, customers = args.child_rows
        if args.child_drill:
            result = child_drill(args.child_drill, orders, customers)
        else:
            result = child_suite(args.child_suite, orders, customers)
        print(CHILD_MARK + json.dumps(result), flush=True)
        return 0

    from opscheck.pgcluster import LocalCluster  # noqa: PLC0415

    info = machine()
    print_machine(info)
    keep = args.keep_files is not None
    if keep:
        workdir = args.keep_files.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="opscheck-bench-restore-"))
    results: dict[str, Any] = {
        "benchmark": "restore",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "args": {"size_mb": args.size_mb, "small_mb": args.small_mb, "quick": args.quick, "runs": args.runs},
        "targets": {
            "ratio_max": RATIO_TARGET,
            "peak_rss_mb_max": RSS_TARGET_MB,
            "rss_flat_tolerance": RSS_FLAT_TOLERANCE,
        },
    }
    try:
        # 1. dumps ------------------------------------------------------------------------------------
        now = datetime.now(UTC).replace(microsecond=0)
        sizes = {"big": args.size_mb, "small": args.small_mb}
        dumps: dict[str, dict[str, Any]] = {}
        source = LocalCluster().start()
        try:
            for offset, (label, size) in enumerate(sizes.items()):
                log(f"building the {label} dump (~{size:g} MB of SQL)")
                dumps[label] = build_dump(
                    source, f"src_{label}", size, workdir / label, now - timedelta(minutes=offset)
                )
                d = dumps[label]
                log(
                    f"  {d['name']}: {mb(d['sql_bytes'])} MB SQL, {mb(d['gz_bytes'])} MB gz, "
                    f"{d['orders_rows']} orders rows (fill {d['fill_seconds']} s, "
                    f"dump+gzip {d['dump_and_gzip_seconds']} s)"
                )
        finally:
            source.stop()
        results["dumps"] = dumps
        big = dumps["big"]
        big_path = Path(big["path"])
        sql_mb = big["sql_bytes"] / 1e6

        # 2. raw vs restore_backup, alternating -------------------------------------------------------
        raw_runs: list[dict[str, Any]] = []
        drill_runs: list[dict[str, Any]] = []
        for run in range(1, args.runs + 1):
            log(f"run {run}: raw gunzip | psql")
            raw = raw_restore(big_path, big["orders_rows"])
            raw["sql_mb_per_s"] = round(sql_mb / raw["wall_s"], 2)
            raw_runs.append(raw)
            log(f"  {raw['wall_s']} s, {raw['sql_mb_per_s']} MB/s")
            log(f"run {run}: opscheck.restore.restore_backup")
            drill = drill_restore(big_path.parent, big["orders_rows"])
            drill["sql_mb_per_s"] = round(sql_mb / drill["wall_s"], 2)
            drill["ratio_to_raw_same_run"] = round(drill["wall_s"] / raw["wall_s"], 3)
            drill_runs.append(drill)
            log(
                f"  {drill['wall_s']} s, {drill['sql_mb_per_s']} MB/s, ratio {drill['ratio_to_raw_same_run']}"
            )
        log("diagnostics: decompression alone; raw with psql --single-transaction (one run)")
        diagnostics: dict[str, Any] = decompress_only(big_path)
        single = raw_restore(big_path, big["orders_rows"], "--single-transaction")
        diagnostics["raw_single_transaction_s"] = single["wall_s"]
        for key in ("gunzip_to_devnull_s", "gzip_dump_verifier_s", "raw_single_transaction_s"):
            diagnostics[key + "_mb_per_s"] = round(sql_mb / diagnostics[key], 1)
        log(f"  {diagnostics}")
        best_raw = min(r["wall_s"] for r in raw_runs)
        best_drill = min(r["wall_s"] for r in drill_runs)
        ratio = round(best_drill / best_raw, 3)
        pair_ratios = [d["ratio_to_raw_same_run"] for d in drill_runs]
        raw_cpu = statistics.median(r["client_cpu_s"] + r["server_cpu_s"] for r in raw_runs)
        drill_cpu = statistics.median(d["client_cpu_s"] + d["server_cpu_s"] for d in drill_runs)
        results["restore_phase"] = {
            "sql_mb": round(sql_mb, 1),
            "raw_runs": raw_runs,
            "drill_runs": drill_runs,
            "best_raw_s": best_raw,
            "best_drill_s": best_drill,
            "ratio_best": ratio,
            "ratio_median_of_pairs": round(statistics.median(pair_ratios), 3),
            "ratio_target_met": ratio <= RATIO_TARGET,
            "cpu_s_median_raw": round(raw_cpu, 2),
            "cpu_s_median_drill": round(drill_cpu, 2),
            "cpu_ratio": round(drill_cpu / raw_cpu, 3),
            "diagnostics": diagnostics,
        }

        # 3. the whole drill in a child per size: wall time and peak RSS ------------------------------
        children: dict[str, dict[str, Any]] = {}
        for label in ("small", "big"):
            log(f"full drill in a child process ({label} dump)")
            children[label] = run_child("drill", workdir / label, dumps[label])
            c = children[label]
            log(f"  total {c['total_s']} s, peak RSS {c['peak_rss_mb']} MB")
        results["drill_child"] = children
        suites: dict[str, dict[str, Any]] = {}
        if not args.no_suite:
            for label in ("small", "big"):
                log(f"pytest suites/restore in a child process ({label} dump)")
                suites[label] = run_child("suite", workdir / label, dumps[label])
                s = suites[label]
                log(f"  total {s['total_s']} s, peak RSS {s['peak_rss_mb']} MB, exit {s['exit_code']}")
            results["suite_child"] = suites
        rss_small = children["small"]["peak_rss_mb"]
        rss_big = children["big"]["peak_rss_mb"]
        flat = rss_big <= rss_small * (1 + RSS_FLAT_TOLERANCE)
        results["rss"] = {
            "small_mb": rss_small,
            "big_mb": rss_big,
            "growth_mb": round(rss_big - rss_small, 1),
            "target_met": rss_big <= RSS_TARGET_MB and rss_small <= RSS_TARGET_MB and flat,
        }
        if suites:
            results["rss"]["suite_small_mb"] = suites["small"]["peak_rss_mb"]
            results["rss"]["suite_big_mb"] = suites["big"]["peak_rss_mb"]
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        report(results)
        out = write_results("restore", results, "-quick" if args.quick else "")
        print(f"\nresults written to {out.relative_to(REPO)}")
    finally:
        if keep:
            print(f"dump files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(results: dict[str, Any]) -> None:
    phase = results["restore_phase"]
    dumps = results["dumps"]
    big, small = dumps["big"], dumps["small"]
    print("\n== dumps")
    print(
        table(
            ["dump", "file", "SQL MB", "gz MB", "orders rows"],
            [
                [label, d["name"], mb(d["sql_bytes"]), mb(d["gz_bytes"]), d["orders_rows"]]
                for label, d in (("big", big), ("small", small))
            ],
        )
    )
    print(f"\n== restore phase, big dump ({phase['sql_mb']} MB of SQL), fresh cluster each run")
    rows = []
    for i, (raw, drill) in enumerate(zip(phase["raw_runs"], phase["drill_runs"], strict=True), 1):
        rows.append(
            [
                f"run {i}",
                raw["wall_s"],
                raw["sql_mb_per_s"],
                f"{raw['client_cpu_s']:.1f}+{raw['server_cpu_s']:.1f}",
                drill["wall_s"],
                drill["sql_mb_per_s"],
                f"{drill['client_cpu_s']:.1f}+{drill['server_cpu_s']:.1f}",
                drill["ratio_to_raw_same_run"],
            ]
        )
    rows.append(
        [
            "best",
            phase["best_raw_s"],
            round(phase["sql_mb"] / phase["best_raw_s"], 2),
            "",
            phase["best_drill_s"],
            round(phase["sql_mb"] / phase["best_drill_s"], 2),
            "",
            phase["ratio_best"],
        ]
    )
    headers = ["", "raw s", "raw MB/s", "raw CPU s", "drill s", "drill MB/s", "drill CPU s", "drill/raw"]
    print(table(headers, rows))
    print("(CPU s = client processes + PostgreSQL server; client is gunzip+psql+bash, or this process+psql)")
    print(
        f"target drill/raw <= {RATIO_TARGET} (best / best): {verdict(phase['ratio_target_met'])} "
        f"({phase['ratio_best']}); median of the per-run ratios {phase['ratio_median_of_pairs']}; "
        f"CPU drill/raw {phase['cpu_ratio']} ({phase['cpu_s_median_drill']} s / {phase['cpu_s_median_raw']} s)"
    )
    diag = phase["diagnostics"]
    print(
        "diagnostics (SQL MB/s): gunzip -c >/dev/null {}; GzipDumpVerifier pass {}; "
        "raw with psql --single-transaction {} ({} s)".format(
            diag["gunzip_to_devnull_s_mb_per_s"],
            diag["gzip_dump_verifier_s_mb_per_s"],
            diag["raw_single_transaction_s_mb_per_s"],
            diag["raw_single_transaction_s"],
        )
    )

    print("\n== whole drill in a child process (Drill: list, integrity pass, server, restore, verification)")
    children = results["drill_child"]
    names = [
        "list_select_s",
        "integrity_pass_s",
        "server_start_and_createdb_s",
        "restore_s",
        "verification_queries_s",
        "server_stop_s",
    ]
    rows = []
    for label in ("small", "big"):
        c = children[label]
        rows.append(
            [label, mb(c["sql_bytes"]), *(c["phases"][n] for n in names), c["total_s"], c["peak_rss_mb"]]
        )
    print(
        table(
            [
                "dump",
                "SQL MB",
                "list",
                "integrity",
                "server+db",
                "restore",
                "verify",
                "stop",
                "total s",
                "peak RSS MB",
            ],
            rows,
        )
    )
    suites = results.get("suite_child") or {}
    if suites:
        print("\n== pytest suites/restore in a child process (the drill as CI runs it)")
        rows = []
        for label in ("small", "big"):
            s = suites[label]
            passed = sum(1 for o in s["outcomes"].values() if o == "passed")
            rows.append(
                [
                    label,
                    s["total_s"],
                    s["peak_rss_mb"],
                    s["exit_code"],
                    f"{passed}/{len(s['outcomes'])} passed",
                ]
            )
        print(table(["dump", "total s", "peak RSS MB", "exit", "checks"], rows))
        for label in ("small", "big"):
            failed = {k: v for k, v in suites[label]["outcomes"].items() if v != "passed"}
            if failed:
                print(
                    f"  {label}: not passed: {failed} (S3-only and Prisma-only checks skip on this synthetic dump)"
                )
    rss = results["rss"]
    print(
        f"\ntarget peak RSS <= {RSS_TARGET_MB:g} MB and flat (+{RSS_FLAT_TOLERANCE:.0%}): "
        f"{verdict(rss['target_met'])} (small {rss['small_mb']} MB, big {rss['big_mb']} MB, "
        f"growth {rss['growth_mb']} MB)"
    )


if __name__ == "__main__":
    sys.exit(main())
