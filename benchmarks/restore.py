#!/usr/bin/env python3
"""The whole restore drill against the runbook's raw ``gunzip | psql``, at several sizes, and its memory.

What it does, in one run:

1. Builds plain ``pg_dump`` files of ``--sizes`` MB of SQL each (default 30, 300; add 3000 for the 3 GB
   point) in a throwaway LocalCluster, gzip'ed by Python at level 6 into ``backup_YYYYMMDD_HHMMSS.sql.gz``,
   one per directory (a FileStore each). ``--dumps DIR`` keeps them there and reuses them next time.
2. For each size, alternating ``--runs`` times (side by side, so both see the same machine load):
   - raw: ``set -o pipefail; gunzip -c FILE | psql -X -q -v ON_ERROR_STOP=1 -d fresh_db`` into a server
     that is already running (a fresh LocalCluster started outside the timing); timed: CREATE DATABASE +
     the pipeline;
   - the whole drill as a user waits for it: ``python -m pytest suites/restore`` in a child process on a
     generated ``opscheck.toml`` (``provider = "local"``, exact ``min_rows``), timed from the process's
     start to its exit (pytest start-up, collection, listing, the one pass over the backup with the
     server starting meanwhile, the verification, the report, the server's stop: all counted). The child
     reports its own peak RSS (``ru_maxrss``; psql and the server are other processes) and the drill's
     metrics: ``server_start_seconds``, ``restore_seconds``, ``verification_seconds``.
3. With ``--s3``: the same drill once per size against a local ``moto_server`` holding the backup (one
   download, in concurrent ranged parts above 64 MiB), for its wall time and peak RSS.

Targets (issue 14): drill / raw <= 1.15 at 300 MB (best / best; each pair's ratio is printed too); peak RSS
of the drill process <= 200 MB at 300 MB and 3 GB of SQL.

    .venv/bin/python benchmarks/restore.py --dumps /tmp/dumps                       # 30 + 300 MB
    .venv/bin/python benchmarks/restore.py --dumps /tmp/dumps --sizes 30,300,3000 --s3
    .venv/bin/python benchmarks/restore.py --quick                                  # 10 + 40 MB

Results are printed as tables and written to ``benchmarks/results/restore-<date>.json``.
"""

from __future__ import annotations

import argparse
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

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, print_machine, table, verdict, write_results

RATIO_TARGET = 1.15
RSS_TARGET_MB = 200.0
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
    from opscheck.restore.servers.local import LocalCluster  # noqa: PLC0415

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


def _write_config(directory: Path, location: str, orders: int, customers: int, endpoint: str = "") -> Path:
    path = directory / "opscheck.toml"
    backups: dict[str, Any] = {"location": location}
    if endpoint:
        backups["s3_endpoint_url"] = endpoint
    backups.update(rpo_hours=24, rto_minutes=120, retention_days=1)
    restore = {
        "provider": "local",
        "expect_tables": ["orders", "customers"],
        "min_rows": {"orders": orders, "customers": customers},
    }
    bench = {"base_url": "http://127.0.0.1:9", "backups": backups, "restore": restore}
    path.write_text(tomli_w.dumps({"environments": {"bench": bench}}), encoding="utf-8")
    return path


def _maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


DRILL_METRICS = ("server_start_seconds", "restore_seconds", "verification_seconds", "restore_provider")


def child_suite(
    location: str, orders: int, customers: int, endpoint: str = "", *, single_get: bool = False
) -> dict[str, Any]:
    """Runs in the child: the real ``suites/restore`` under pytest against the backup location.

    ``single_get``: download S3 objects in one GET whatever their size (moto_server copies the whole
    object for every ranged GET, so ranged parts of a GB-sized object crawl there; real S3 does not)."""
    import pytest  # noqa: PLC0415

    if single_get:
        from opscheck.restore import s3  # noqa: PLC0415

        s3.RANGED_FROM_BYTES = 1 << 62

    with tempfile.TemporaryDirectory(prefix="opscheck-bench-suite-") as tmp:
        cfg = _write_config(Path(tmp), location, orders, customers, endpoint)
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
        messages: dict[str, str] = {}
        durations: dict[str, float] = {}
        metrics: dict[str, Any] = {}
        summary = reports / "opscheck-summary.json"
        if summary.is_file():
            for check in json.loads(summary.read_text(encoding="utf-8")).get("checks", []):
                name = check["nodeid"].split("::", 1)[-1]
                outcomes[name] = check.get("outcome")
                if check.get("outcome") not in ("passed", "skipped"):
                    messages[name] = check.get("message")
                durations[name] = check.get("duration_s")
                for key in DRILL_METRICS:
                    if key in (check.get("metrics") or {}):
                        metrics[key] = check["metrics"][key]
    return {
        "exit_code": int(rc),
        "outcomes": outcomes,
        "messages": messages,
        "check_seconds": durations,
        "metrics": metrics,
        "peak_rss_mb": round(_maxrss_kb() / 1024, 1),
    }


def run_child(
    location: str,
    dump: dict[str, Any],
    endpoint: str = "",
    env: dict[str, str] | None = None,
    *,
    single_get: bool = False,
) -> dict[str, Any]:
    """The whole drill in a new Python process; timed from its start to its exit."""
    cmd = [
        sys.executable, __file__, "--child-suite", location, "--child-rows", str(dump["orders_rows"]),
        str(dump["customers_rows"]), "--child-endpoint", endpoint, *(["--child-single-get"] if single_get else []),
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
        env={**os.environ, **(env or {})},
    )
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith(CHILD_MARK)]
    if not lines:
        raise RuntimeError(
            f"child exited {proc.returncode} without a result:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(CHILD_MARK) :])
    result["wall_s"] = round(wall, 3)
    if result["exit_code"] != 0:
        raise RuntimeError(f"the drill did not pass (exit {result['exit_code']}): {result['messages']}")
    return result


# -------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="30,300", help="MB of SQL per dump, comma-separated (default 30,300)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes: 10 and 40 MB, one run")
    parser.add_argument(
        "--runs", type=int, default=2, help="alternating raw/drill pairs per size (default 2)"
    )
    parser.add_argument(
        "--big-runs", type=int, default=1, help="pairs for sizes of 1000 MB or more (default 1)"
    )
    parser.add_argument("--dumps", metavar="DIR", type=Path, help="keep (and reuse) the dump files here")
    parser.add_argument("--s3", action="store_true", help="also run the drill against a local moto_server")
    parser.add_argument("--child-suite", help=argparse.SUPPRESS)
    parser.add_argument("--child-rows", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-endpoint", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-single-get", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.size_list = [float(size) for size in args.sizes.split(",") if size.strip()]
    if args.quick:
        args.size_list, args.runs = [10.0, 40.0], 1
    return args


def _label(size: float) -> str:
    return f"s{size:g}"


def get_dumps(workdir: Path, sizes: list[float]) -> dict[str, dict[str, Any]]:
    """The dump of each size: reused from ``workdir/s<size>/dump.json`` when there, else built."""
    from opscheck.restore.servers.local import LocalCluster  # noqa: PLC0415

    dumps: dict[str, dict[str, Any]] = {}
    missing = []
    for size in sizes:
        meta = workdir / _label(size) / "dump.json"
        if meta.is_file() and Path(json.loads(meta.read_text())["path"]).is_file():
            dumps[_label(size)] = json.loads(meta.read_text())
        else:
            missing.append(size)
    if missing:
        now = datetime.now(UTC).replace(microsecond=0)
        source = LocalCluster().start()
        try:
            for offset, size in enumerate(missing):
                label = _label(size)
                log(f"building the {label} dump (~{size:g} MB of SQL)")
                directory = workdir / label
                shutil.rmtree(directory, ignore_errors=True)
                dump = build_dump(
                    source, f"src_{offset}", size, directory, now - timedelta(minutes=offset + 1)
                )
                source.drop_database(f"src_{offset}")
                (directory / "dump.json").write_text(json.dumps(dump))
                dumps[label] = dump
                log(f"  {dump['name']}: {mb(dump['sql_bytes'])} MB SQL, {mb(dump['gz_bytes'])} MB gz")
        finally:
            source.stop()
    return dumps


def _uptime() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def measure_size(label: str, dump: dict[str, Any], runs: int) -> dict[str, Any]:
    """Raw and drill, alternating ``runs`` times, on one dump."""
    path = Path(dump["path"])
    pairs = []
    for run in range(1, runs + 1):
        load = _uptime()
        log(f"{label} run {run} (load {load}): raw gunzip | psql")
        raw = raw_restore(path, dump["orders_rows"])
        log(f"  raw {raw['wall_s']} s")
        log(f"{label} run {run}: pytest suites/restore (whole drill)")
        drill = run_child(str(path.parent), dump)
        log(f"  drill {drill['wall_s']} s, peak RSS {drill['peak_rss_mb']} MB, {drill['metrics']}")
        pairs.append(
            {"load": load, "raw": raw, "drill": drill, "ratio": round(drill["wall_s"] / raw["wall_s"], 3)}
        )
    best_raw = min(p["raw"]["wall_s"] for p in pairs)
    best_drill = min(p["drill"]["wall_s"] for p in pairs)
    return {
        "sql_mb": mb(dump["sql_bytes"]),
        "gz_mb": mb(dump["gz_bytes"]),
        "pairs": pairs,
        "best_raw_s": best_raw,
        "best_drill_s": best_drill,
        "ratio_best": round(best_drill / best_raw, 3),
        "ratio_median_of_pairs": round(statistics.median(p["ratio"] for p in pairs), 3),
        "peak_rss_mb": max(p["drill"]["peak_rss_mb"] for p in pairs),
    }


def measure_s3(label: str, dump: dict[str, Any]) -> dict[str, Any]:
    """The drill once against a local moto_server holding the backup (in one GET from 1 GB on: moto
    copies the whole object for each ranged GET, which real S3 does not). A failure is recorded."""
    single_get = dump["gz_bytes"] >= 1e9
    from opscheck.demo.backups import LocalS3  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="opscheck-bench-s3-") as tmp:
        s3 = LocalS3(port=_free_port(), log_file=Path(tmp) / "moto.log").start()
        try:
            client = s3.client()
            client.create_bucket(Bucket="bench-backups")
            client.put_bucket_encryption(  # as every AWS bucket has been since 2023 (moto's are not)
                Bucket="bench-backups",
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
            log(f"{label}: uploading {mb(dump['gz_bytes'])} MB to moto")
            client.upload_file(dump["path"], "bench-backups", f"db/{dump['name']}")
            log(f"{label}: pytest suites/restore against S3")
            try:
                result = run_child(
                    "s3://bench-backups/db/", dump, s3.url, s3.credentials_env, single_get=single_get
                )
            except RuntimeError as exc:
                log(f"  FAILED: {exc}")
                return {"error": str(exc), "single_get": single_get}
            result["single_get"] = single_get
            log(f"  drill {result['wall_s']} s, peak RSS {result['peak_rss_mb']} MB")
            return result
        finally:
            s3.stop()


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_suite:
        orders, customers = args.child_rows
        result = child_suite(
            args.child_suite, orders, customers, args.child_endpoint, single_get=args.child_single_get
        )
        print(CHILD_MARK + json.dumps(result), flush=True)
        return 0

    info = machine()
    print_machine(info)
    keep = args.dumps is not None
    workdir = args.dumps.resolve() if keep else Path(tempfile.mkdtemp(prefix="opscheck-bench-restore-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "benchmark": "restore",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "args": {"sizes": args.size_list, "runs": args.runs, "big_runs": args.big_runs, "s3": args.s3},
        "targets": {"ratio_max": RATIO_TARGET, "peak_rss_mb_max": RSS_TARGET_MB},
    }
    try:
        dumps = get_dumps(workdir, args.size_list)
        results["dumps"] = dumps
        sizes: dict[str, Any] = {}
        for size in sorted(args.size_list):  # the big ones last
            label = _label(size)
            runs = args.big_runs if size >= 1000 else args.runs
            sizes[label] = measure_size(label, dumps[label], runs)
            if args.s3:
                sizes[label]["s3"] = measure_s3(label, dumps[label])
        results["sizes"] = sizes
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["load_at_end"] = _uptime()
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
    sizes = results["sizes"]
    print("\n== whole drill (pytest suites/restore, process start to exit) vs raw gunzip | psql")
    rows = []
    for label, size in sizes.items():
        for index, pair in enumerate(size["pairs"], 1):
            drill, metrics = pair["drill"], pair["drill"]["metrics"]
            rows.append(
                [
                    label, size["sql_mb"], index, pair["load"], pair["raw"]["wall_s"], drill["wall_s"], pair["ratio"],
                    metrics.get("server_start_seconds"), metrics.get("restore_seconds"),
                    metrics.get("verification_seconds"), drill["peak_rss_mb"],
                ]
            )  # fmt: skip
    headers = [
        "dump",
        "SQL MB",
        "run",
        "load",
        "raw s",
        "drill s",
        "drill/raw",
        "server s",
        "pass s",
        "verify s",
        "RSS MB",
    ]
    print(table(headers, rows))
    for label, size in sizes.items():
        met = size["ratio_best"] <= RATIO_TARGET
        print(
            f"{label}: drill/raw best/best {size['ratio_best']} ({verdict(met)} <= {RATIO_TARGET}), median of pairs "
            f"{size['ratio_median_of_pairs']}; SQL {round(size['sql_mb'] / size['best_raw_s'], 1)} MB/s raw, "
            f"{round(size['sql_mb'] / size['best_drill_s'], 1)} MB/s drill; peak RSS {size['peak_rss_mb']} MB "
            f"({verdict(size['peak_rss_mb'] <= RSS_TARGET_MB)} <= {RSS_TARGET_MB:g})"
        )
        if "s3" in size:
            s3 = size["s3"]
            how = "one GET" if s3.get("single_get") else "ranged parts"
            if "error" in s3:
                print(f"{label} from S3 (moto, {how}): FAILED {s3['error']}")
            else:
                print(
                    f"{label} from S3 (moto, {how}): {s3['wall_s']} s, peak RSS {s3['peak_rss_mb']} MB, "
                    f"{s3['metrics']}"
                )


if __name__ == "__main__":
    sys.exit(main())
