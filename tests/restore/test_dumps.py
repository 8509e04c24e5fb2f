"""opscheck.restore's dump checks (dumps, dumptext, dumpgzip, dumpcustom) against real pg_dump output from a
throwaway PostgreSQL cluster."""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import tracemalloc
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from opscheck.errors import CheckFailed
from opscheck.restore.dumpcustom import verify_custom
from opscheck.restore.dumpgzip import PIECE_BYTES, GzipDumpVerifier, verify_plain_gzip
from opscheck.restore.dumps import DumpFacts, parse_major
from opscheck.restore.dumpscan import DumpScanner
from opscheck.restore.dumptext import TAIL_BYTES, verify_plain
from opscheck.restore.passes import with_advice
from opscheck.restore.s3 import S3Store
from opscheck.restore.servers.local import LocalCluster
from tests.support.moto import client_for
from tests.support.pgdump import pg_dump

pytest_plugins = ["tests.support.s3_server"]

KiB = 1024

SCHEMA = """
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers,
    total numeric(10, 2),
    note text
);
CREATE TABLE audit_empty (at timestamptz);
INSERT INTO customers SELECT g, 'customer ' || g, md5(g::text) || '@example.com' FROM generate_series(1, 20000) g;
INSERT INTO orders SELECT g, 1 + g % 20000, (g % 1000) / 7.0, repeat('n', g % 40) FROM generate_series(1, 30000) g;
CREATE INDEX orders_customer ON orders (customer_id);
"""


@dataclass(frozen=True)
class Dumps:
    plain: bytes  # pg_dump of the whole database, plain format
    small: bytes  # pg_dump -t audit_empty: a few KiB, for byte-by-byte feeding
    custom: Path  # pg_dump -Fc
    major: int
    pg_restore: str
    gz: bytes  # the plain dump gzip'ed, as backup-database.sh writes it


@pytest.fixture(scope="module")
def dumps(pg_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Dumps:
    name = f"dumps_{uuid.uuid4().hex[:10]}"
    workdir = tmp_path_factory.mktemp("dumps")
    pg_cluster.create_database(name)
    try:
        proc = pg_cluster.psql("-q", "-c", SCHEMA, dbname=name)
        assert proc.returncode == 0, proc.stderr
        plain = pg_dump(pg_cluster, name)
        small = pg_dump(pg_cluster, name, "-t", "audit_empty")
        custom = workdir / "backup_20240110_020000.dump"
        pg_dump(pg_cluster, name, "-Fc", "-f", str(custom))
    finally:
        pg_cluster.drop_database(name)
    gz = gzip.compress(plain, compresslevel=6, mtime=0)
    return Dumps(plain, small, custom, pg_cluster.major, str(pg_cluster.bindir / "pg_restore"), gz)


def feed_all(data: bytes, chunk: int, name: str = "backup_20240110_020000.sql.gz") -> tuple[DumpFacts, bytes]:
    verifier = GzipDumpVerifier(name)
    out = bytearray()
    for start in range(0, len(data), chunk):
        out += verifier.feed(data[start : start + chunk])
    return verifier.finish(), bytes(out)


def verify_bytes(data: bytes, name: str = "backup_20240110_020000.sql.gz") -> DumpFacts:
    return verify_plain_gzip(io.BytesIO(data), name)


# the lines pg_dump >= 17.6 / 16.10 / 15.14 wraps a dump in
_WRAPPING = re.compile(rb"^\\(?:un)?restrict [^\n]*\n\n?", re.MULTILINE)
_HEADER_END = b"-- PostgreSQL database dump\n--\n\n"
_COMPLETE_END = b"-- PostgreSQL database dump complete\n--\n\n"


def unwrap(dump: bytes) -> bytes:
    """The dump as a pg_dump before 15.14 wrote it: no \\restrict / \\unrestrict lines."""
    return _WRAPPING.sub(b"", dump)


def wrap(dump: bytes, key: bytes) -> bytes:
    r"""Add \restrict after the header comments and \unrestrict after the end marker, as pg_dump does."""
    dump = dump.replace(_HEADER_END, _HEADER_END + b"\\restrict " + key + b"\n\n", 1)
    head, marker, tail = dump.rpartition(_COMPLETE_END)
    assert marker, "the dump has no end marker"
    return head + marker + b"\\unrestrict " + key + b"\n\n" + tail


# ------------------------------------------------------------------------------------- plain, gzip


def test_good_plain_gzip_verifies_with_versions_and_end_marker(dumps: Dumps) -> None:
    facts = verify_bytes(dumps.gz)

    assert facts.format == "plain-gzip"
    assert facts.end_marker is True
    assert facts.source_major == dumps.major
    assert facts.pg_dump_major == dumps.major
    assert facts.source_server_version is not None
    assert facts.source_server_version.startswith(f"{dumps.major}.")
    assert facts.pg_dump_version is not None
    assert f"-- Dumped by pg_dump version {facts.pg_dump_version}\n".encode() in dumps.plain
    assert facts.restricted == (b"\n\\restrict " in dumps.plain)  # pg_dump >= 15.14 writes it
    assert facts.compressed_bytes == len(dumps.gz)
    assert facts.uncompressed_bytes == len(dumps.plain)
    assert facts.lines == dumps.plain.count(b"\n")
    assert facts.gzip_members == 1
    assert len(dumps.plain) > 1_000_000, "the test database should give a dump of a few MB"


def test_feed_returns_exactly_the_sql_text(dumps: Dumps) -> None:
    facts, text = feed_all(dumps.gz, 64 * KiB)
    assert text == dumps.plain
    assert facts.end_marker


@pytest.mark.parametrize("chunk", [7, 64 * KiB, 1 << 20])
def test_odd_chunk_sizes_give_the_same_facts(dumps: Dumps, chunk: int) -> None:
    facts, _ = feed_all(dumps.gz, chunk)
    assert facts == verify_bytes(dumps.gz)


def test_byte_by_byte_feeding_finds_header_and_marker(dumps: Dumps) -> None:
    small_gz = gzip.compress(dumps.small)
    facts, text = feed_all(small_gz, 1)
    assert text == dumps.small
    assert facts.end_marker
    assert facts.pg_dump_major == dumps.major
    assert facts.restricted == (b"\n\\restrict " in dumps.small)
    # a dump cut by one byte before the marker's closing line is not complete, even fed byte by byte
    cut = dumps.small[: dumps.small.rindex(b"-- PostgreSQL database dump complete") + 10]
    with pytest.raises(CheckFailed, match="no 'PostgreSQL database dump complete' marker"):
        feed_all(gzip.compress(cut), 1)


def test_truncated_gzip_is_caught(dumps: Dumps) -> None:
    half = dumps.gz[: len(dumps.gz) // 2]
    with pytest.raises(CheckFailed) as caught:
        verify_bytes(half)
    assert str(caught.value) == (
        "gzip stream of backup_20240110_020000.sql.gz: expected complete (CRC and length verified), "
        f"saw truncated after {len(half)} compressed bytes"
    )


def test_valid_gzip_of_a_dump_cut_inside_copy_data_is_caught(dumps: Dumps) -> None:
    copy_at = dumps.plain.index(b"COPY public.orders ")
    cut = dumps.plain[: copy_at + 100_000 + 3]  # inside a row of the orders data
    assert not cut.endswith(b"\n")
    with pytest.raises(CheckFailed) as caught:
        verify_bytes(gzip.compress(cut))
    lines = cut.count(b"\n")
    assert caught.value.seen == (
        "dump truncated: no 'PostgreSQL database dump complete' marker; "
        f"last complete line {lines} (cut inside the COPY data of public.orders)"
    )
    # cut between two statements: no COPY to blame, still not complete
    between = dumps.plain[: dumps.plain.index(b"CREATE INDEX")]
    with pytest.raises(CheckFailed, match=r"marker; last complete line \d+$"):
        verify_bytes(gzip.compress(between))


def test_sql_after_the_end_marker_is_not_complete(dumps: Dumps) -> None:
    with pytest.raises(CheckFailed, match="no 'PostgreSQL database dump complete' marker"):
        verify_bytes(gzip.compress(dumps.plain + b"DROP TABLE public.orders;\n"))
    # comments and blank lines after it are fine
    verify_bytes(gzip.compress(dumps.plain + b"\n-- written by backup-database.sh\n\n"))


@pytest.mark.parametrize(
    ("data", "seen"),
    [
        (b"<!DOCTYPE html><html>AccessDenied</html>", "not gzip (starts with 3c 21 44 4f 43 54 59 50 …)"),
        (b"--\n-- PostgreSQL database dump\n--\n", "not gzip (starts with 2d 2d 0a 2d 2d 20 50 6f …)"),
        (b"", "an empty file (0 bytes)"),
        (b"\x1f", "not gzip (1 byte(s): 1f)"),
    ],
)
def test_not_gzip_at_all(data: bytes, seen: str) -> None:
    with pytest.raises(CheckFailed) as caught:
        verify_bytes(data)
    assert caught.value.checked == "gzip stream of backup_20240110_020000.sql.gz"
    assert caught.value.seen == seen


def test_gzip_of_something_else_is_rejected_at_the_first_line() -> None:
    verifier = GzipDumpVerifier("backup_20240110_020000.sql.gz")
    with pytest.raises(CheckFailed) as caught:
        verifier.feed(gzip.compress(b"PGDMP\x01\x0e\x00 this is a custom archive, renamed\n" + b"x" * 10_000))
    assert caught.value.checked == "dump backup_20240110_020000.sql.gz"
    assert "pg_dump plain-format header" in caught.value.expected
    assert caught.value.seen.startswith("line 1: 'PGDMP")
    with pytest.raises(CheckFailed, match="no SQL text at all"):
        verify_bytes(gzip.compress(b""))


def test_corrupt_crc_is_caught(dumps: Dumps) -> None:
    data = bytearray(dumps.gz)
    data[-6] ^= 0xFF  # inside the CRC32 of the trailer
    with pytest.raises(CheckFailed) as caught:
        verify_bytes(bytes(data))
    assert caught.value.expected == "intact gzip data (CRC and length verified)"
    assert "incorrect data check" in caught.value.seen


def test_multi_member_gzip_and_zero_padding_are_accepted_garbage_is_not(dumps: Dumps) -> None:
    middle = len(dumps.plain) // 2
    two_members = gzip.compress(dumps.plain[:middle]) + gzip.compress(dumps.plain[middle:])
    facts, text = feed_all(two_members, 4 * KiB)
    assert (facts.gzip_members, text) == (2, dumps.plain)
    assert verify_bytes(dumps.gz + b"\0" * 512).end_marker
    with pytest.raises(CheckFailed) as caught:
        verify_bytes(dumps.gz + b"garbage!")
    assert caught.value.seen == (
        f"8+ bytes of non-gzip data after the end of the gzip stream at byte {len(dumps.gz)} "
        "(starts with 67 61 72 62 61 67 65 21)"
    )


def test_restrict_wrapping_verifies_with_and_without(dumps: Dumps) -> None:
    old_style = unwrap(dumps.plain)
    assert b"\\restrict" not in old_style
    facts = verify_bytes(gzip.compress(old_style))
    assert (facts.end_marker, facts.restricted) == (True, False)

    key = b"OpsCheckRestrictKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
    wrapped = wrap(old_style, key)
    assert wrapped.index(b"\\restrict ") < wrapped.index(b"-- Dumped from database version")
    assert wrapped.rindex(b"\\unrestrict ") > wrapped.rindex(b"dump complete")
    facts = verify_bytes(gzip.compress(wrapped))
    assert (facts.end_marker, facts.restricted) == (True, True)
    assert facts.pg_dump_major == dumps.major


def peak_memory_of_verifying(data: bytes) -> tuple[DumpFacts, int]:
    stream = io.BytesIO(data)
    tracemalloc.start()
    try:
        facts = verify_plain_gzip(stream, "big.sql.gz", chunk_size=64 * KiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return facts, peak


def test_memory_stays_flat_whatever_the_dump_size(dumps: Dumps) -> None:
    facts, peak = peak_memory_of_verifying(dumps.gz)
    assert facts.uncompressed_bytes == len(dumps.plain)
    # six gzip members of the same dump: six times the text (still one header, one final marker)
    six, peak_six = peak_memory_of_verifying(dumps.gz * 6)
    assert six.uncompressed_bytes == 6 * len(dumps.plain)
    assert six.gzip_members == 6
    assert peak < 4 * PIECE_BYTES + 4 * TAIL_BYTES, f"peak {peak} bytes for a {len(dumps.plain)} byte dump"
    assert peak_six < peak * 1.25 + 64 * KiB, f"peak {peak_six} for six times the text, {peak} for once"


def test_uncompressed_plain_dump(dumps: Dumps) -> None:
    facts = verify_plain(io.BytesIO(dumps.plain), "backup_20240110_020000.sql", chunk_size=7 * KiB)
    assert (facts.format, facts.end_marker, facts.lines) == ("plain", True, dumps.plain.count(b"\n"))
    cut = dumps.plain[: dumps.plain.index(b"COPY public.customers ") + 5000]
    with pytest.raises(CheckFailed, match=r"COPY data of public\.customers"):
        verify_plain(io.BytesIO(cut), "backup_20240110_020000.sql")


def test_a_good_dump_streamed_from_s3_verifies(
    dumps: Dumps, s3_server: str, aws_env: Mapping[str, str]
) -> None:
    bucket = f"dumps-{uuid.uuid4().hex[:10]}"
    client = client_for(s3_server)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="db/backup_20240110_020000.sql.gz", Body=dumps.gz)
    store = S3Store(bucket, "db/", endpoint_url=s3_server, timeout_s=10)
    (backup,) = store.list()
    with store.open(backup) as stream:
        facts = verify_plain_gzip(stream, backup.name, chunk_size=256 * KiB)
    assert facts.end_marker
    assert facts.compressed_bytes == backup.size


# ------------------------------------------------------------------------------------------ custom


def test_good_custom_archive_verifies_with_table_count(dumps: Dumps) -> None:
    facts = verify_custom(dumps.custom, dumps.pg_restore)
    assert facts.format == "custom"
    assert facts.table_count == 3  # customers, orders and the empty audit table
    assert facts.source_major == facts.pg_dump_major == dumps.major
    assert facts.pg_dump_version is not None
    assert facts.compressed_bytes == dumps.custom.stat().st_size
    assert facts.end_marker is None


def test_not_a_custom_archive(tmp_path: Path, dumps: Dumps) -> None:
    renamed = tmp_path / "backup_20240110_020000.dump"
    renamed.write_bytes(gzip.compress(b"--\n-- PostgreSQL database dump\n", mtime=0))
    with pytest.raises(CheckFailed) as caught:
        verify_custom(renamed, dumps.pg_restore)
    assert caught.value.checked == "dump backup_20240110_020000.dump"
    assert caught.value.expected == "a pg_dump custom-format archive (starts with 'PGDMP')"
    assert caught.value.seen == "starts with 1f 8b 08 00 00"
    empty = tmp_path / "empty.dump"
    empty.write_bytes(b"")
    with pytest.raises(CheckFailed, match="an empty file"):
        verify_custom(empty, dumps.pg_restore)


def test_custom_archive_with_a_broken_header_fails_pg_restore(tmp_path: Path, dumps: Dumps) -> None:
    broken = tmp_path / "backup_20240110_020000.dump"
    broken.write_bytes(b"PGDMP" + b"\xff" * 64)
    with pytest.raises(CheckFailed) as caught:
        verify_custom(broken, dumps.pg_restore)
    assert caught.value.checked == "table of contents of backup_20240110_020000.dump"
    assert caught.value.seen.startswith("exit 1: pg_restore: error:")


def test_truncated_custom_archive_is_caught_although_its_table_of_contents_lists(
    tmp_path: Path, dumps: Dumps
) -> None:
    data = dumps.custom.read_bytes()
    half = tmp_path / "backup_20240110_020000.dump"
    half.write_bytes(data[: len(data) // 2])
    listing = subprocess.run([dumps.pg_restore, "-l", str(half)], capture_output=True, check=False)
    assert listing.returncode == 0  # the TOC is at the start: -l alone would pass
    with pytest.raises(
        CheckFailed, match=r"data blocks of backup_20240110_020000\.dump: expected every block"
    ):
        verify_custom(half, dumps.pg_restore)


# ------------------------------------------------------------------------------------------- tools


@pytest.mark.parametrize(
    ("version", "major"),
    [
        ("15.18 (Debian 15.18-0+deb12u1)", 15),
        ("16.4", 16),
        ("17beta1", 17),
        ("9.6.24", 9),
        ("", None),
        (None, None),
    ],
)
def test_parse_major(version: str | None, major: int | None) -> None:
    assert parse_major(version) == major


def test_a_psql_too_old_for_restrict_is_told_which_release_knows_it() -> None:
    """psql before 15.14 (13.22, 14.19, 16.10, 17.6) stops at pg_dump's ``\\restrict`` line."""
    error = "error: invalid command \\restrict"
    advice = with_advice(error)
    assert advice.startswith(error)
    assert "13.22, 14.19, 15.14, 16.10, 17.6 and 18" in advice
    assert "[restore] image" in advice
    assert with_advice("error: invalid command \\restricted") == "error: invalid command \\restricted"


# -- concatenated dumps, plain .sql, corruption offsets (issue 10) -------------------------------------------


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _dump_text(body: str) -> bytes:
    return (
        "--\n-- PostgreSQL database dump\n--\n\n\\restrict K\n\n"
        "-- Dumped from database version 15.18\n-- Dumped by pg_dump version 15.18\n\n"
        f"{body}\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict K\n\n"
    ).encode()


SCHEMA_PART = _dump_text(
    "CREATE TABLE public.t (id integer);\nALTER TABLE public.t OWNER TO app_owner;\n"
    "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n"
)
DATA_PART = _dump_text("COPY public.t (id) FROM stdin;\n1\n2\n\\.\n")


def test_a_schema_plus_data_stream_whose_first_part_was_cut_fails_naming_the_part() -> None:
    cut = SCHEMA_PART[: SCHEMA_PART.index(b"ALTER TABLE ONLY")]
    for body in (gzip_bytes(cut + DATA_PART), gzip_bytes(cut) + gzip_bytes(DATA_PART)):
        with pytest.raises(CheckFailed) as caught:
            verify_plain_gzip(io.BytesIO(body), "backup_20240110_020000.sql.gz")
        lines = cut.count(b"\n")
        assert caught.value.seen == (
            "part 1 of the stream (header at line 2) has no '-- PostgreSQL database dump complete' before "
            f"the next dump header at line {lines + 2}: its last complete line is {lines + 1}"
        )
    whole = verify_plain_gzip(io.BytesIO(gzip_bytes(SCHEMA_PART) + gzip_bytes(DATA_PART)), "x.sql.gz")
    assert (whole.parts, whole.gzip_members, sorted(whole.roles)) == (2, 2, ["app_owner"])


def test_a_part_cut_inside_copy_data_and_followed_by_another_dump_fails() -> None:
    cut = DATA_PART[: DATA_PART.index(b"2\n")]
    with pytest.raises(CheckFailed, match=r"part 1 .* \(cut inside the COPY data of public\.t\)"):
        verify_plain(io.BytesIO(cut + SCHEMA_PART), "backup_20240110_020000.sql")


def test_plain_sql_is_verified_like_gzip_less_the_gzip_checks() -> None:
    facts = verify_plain(io.BytesIO(DATA_PART), "backup_20240110_020000.sql")
    assert (facts.format, facts.parts, facts.restricted) == ("plain", 1, True)
    with pytest.raises(CheckFailed, match="dump truncated"):
        verify_plain(io.BytesIO(DATA_PART[:-40]), "backup_20240110_020000.sql")


def test_a_corrupt_gzip_member_is_named_with_the_offset_of_its_first_bad_byte() -> None:
    first = gzip_bytes(SCHEMA_PART)
    second = bytearray(gzip_bytes(DATA_PART))
    second[12] ^= 0xFF  # inside the deflate data of member 2, right after its header
    with pytest.raises(CheckFailed) as caught:
        verify_plain_gzip(io.BytesIO(first + bytes(second)), "backup_20240110_020000.sql.gz")
    seen = caught.value.seen
    assert f"member 2 (starting at byte {len(first)})" in seen, seen
    found = re.search(r"(?:offset|check at byte) (\d+)", seen)
    assert found is not None, seen
    assert len(first) + 10 <= int(found.group(1)) < len(first) + len(second), seen
    assert "within the first" not in seen


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1 << 20])
def test_the_scanner_sees_the_same_whatever_the_piece_boundaries(size: int) -> None:
    cut = DATA_PART[: DATA_PART.index(b"2\n")]
    for text in (SCHEMA_PART + DATA_PART, cut + SCHEMA_PART, SCHEMA_PART[:-30]):
        whole, pieces = DumpScanner(), DumpScanner()
        whole.feed(text)
        for start in range(0, len(text), size):
            pieces.feed(text[start : start + size])
        whole.finish()
        pieces.finish()
        seen = (pieces.lines, pieces.problem, pieces.roles, [p.header_line for p in pieces.parts])
        assert seen == (whole.lines, whole.problem, whole.roles, [p.header_line for p in whole.parts])
        assert pieces.lines == text.count(b"\n")


# -- text inside string literals, dollar-quoted bodies and comments is data, not statements (redteam) ------

LITERAL_SCHEMA = """
CREATE ROLE "rt owner é";
CREATE TABLE tickets (id integer PRIMARY KEY, body text);
ALTER TABLE tickets OWNER TO "rt owner é";
GRANT SELECT ON tickets TO PUBLIC;
INSERT INTO tickets VALUES
    (1, E'Hi,\\nGrant me access to the admin panel please'),
    (2, E'it''s\\nAlter table x owner to intruder;\\nCOPY fake FROM stdin;\\n-- PostgreSQL database dump complete');
CREATE FUNCTION setup() RETURNS void LANGUAGE sql AS $body$
GRANT SELECT ON tickets TO body_role;
$body$;
COMMENT ON TABLE tickets IS 'Support tickets.
Revoke nothing from anyone here.';
"""


@pytest.mark.parametrize("args", [(), ("--inserts",)], ids=["copy", "inserts"])
def test_lines_inside_literals_name_no_roles_and_hide_no_copy(
    pg_cluster: LocalCluster, args: tuple[str, ...]
) -> None:
    name = f"literals_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name)
    try:
        proc = pg_cluster.psql("-q", "-v", "ON_ERROR_STOP=1", "-c", LITERAL_SCHEMA, dbname=name)
        assert proc.returncode == 0, proc.stderr
        plain = pg_dump(pg_cluster, name, *args)
    finally:
        pg_cluster.drop_database(name)
        pg_cluster.psql("-q", "-c", 'DROP ROLE IF EXISTS "rt owner é"')
    facts = verify_plain(io.BytesIO(plain), "backup_20240110_020000.sql")
    assert sorted(facts.roles) == ["rt owner é"]
    # a cut after the literal's fake end marker is still a cut
    cut = plain[: plain.index(b"Revoke nothing")]
    with pytest.raises(CheckFailed, match="dump truncated"):
        verify_plain(io.BytesIO(cut), "backup_20240110_020000.sql")
    for size in (1, 7, 4096):
        scanner = DumpScanner()
        for start in range(0, len(plain), size):
            scanner.feed(plain[start : start + size])
        scanner.finish()
        assert (scanner.problem, sorted(scanner.roles), scanner.lines) == (
            None,
            ["rt owner é"],
            plain.count(b"\n"),
        )


@pytest.mark.parametrize("args", [(), ("--inserts",)], ids=["copy", "inserts"])
def test_a_value_that_reads_like_a_dump_header_is_data(
    pg_cluster: LocalCluster, args: tuple[str, ...]
) -> None:
    name = f"header_value_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name)
    try:
        proc = pg_cluster.psql(
            "-q",
            "-c",
            "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('-- PostgreSQL database dump'), "
            "(E'pasted:\\n-- PostgreSQL database dump\\nend');",
            dbname=name,
        )
        assert proc.returncode == 0, proc.stderr
        plain = pg_dump(pg_cluster, name, *args)
    finally:
        pg_cluster.drop_database(name)
    facts = verify_plain(io.BytesIO(plain), "backup_20240110_020000.sql")
    assert (facts.parts, facts.lines) == (1, plain.count(b"\n"))
    # the same text after a part cut there is a cut: pg_dump's own header is followed by its "--" line
    cut = plain[: plain.index(b"-- PostgreSQL database dump\n", 10)]
    with pytest.raises(CheckFailed, match="part 1 of the stream"):
        verify_plain(io.BytesIO(cut + plain), "backup_20240110_020000.sql")


@pytest.mark.parametrize("size", [7, 1000, 1 << 16, 1 << 20])
def test_a_statement_line_longer_than_the_kept_head_does_not_leave_a_literal_open(size: int) -> None:
    """Only the first 64 KiB of a line are kept: the quote closing an --inserts value further on is never
    seen, and the rest of the dump must not be read as the inside of that literal."""
    body = (
        "INSERT INTO public.t VALUES (1, 'LONG');\nINSERT INTO public.t VALUES (2, 'short');\n"
        "ALTER TABLE public.t OWNER TO app_owner;\n"
    )
    text = _dump_text(body.replace("LONG", "a" * (3 * 64 * KiB)))
    scanner = DumpScanner()
    for start in range(0, len(text), size):
        scanner.feed(text[start : start + size])
    scanner.finish()
    assert (scanner.problem, sorted(scanner.roles), len(scanner.parts)) == (None, ["app_owner"], 1)
    assert scanner.parts[0].end_line is not None
    assert scanner.lines == text.count(b"\n")
