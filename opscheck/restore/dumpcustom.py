"""A ``pg_dump -Fc`` archive, checked before it is restored (:func:`verify_custom`): its magic, a table of
contents ``pg_restore -l`` reads, and every data block decoded by ``pg_restore -f -`` (no server) through the
plain-text checks, which also find the roles its owners and grants name.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Final

from opscheck.errors import CheckFailed
from opscheck.restore.dumps import CHUNK_BYTES, DumpFacts, hex_head, parse_major
from opscheck.restore.dumptext import DumpTextVerifier

__all__ = ["CUSTOM_MAGIC", "PG_RESTORE_TIMEOUT_S", "verify_custom"]

CUSTOM_MAGIC: Final = b"PGDMP"
PG_RESTORE_TIMEOUT_S: Final = 120.0
_TOC_FROM: Final = re.compile(r"^;\s+Dumped from database version:\s*(.+?)\s*$", re.MULTILINE)
_TOC_BY: Final = re.compile(r"^;\s+Dumped by pg_dump version:\s*(.+?)\s*$", re.MULTILINE)
_TOC_TABLE_DATA: Final = re.compile(r"^\d+; \d+ \d+ TABLE DATA ", re.MULTILINE)


def verify_custom(path: Path, pg_restore: str, timeout_s: float = PG_RESTORE_TIMEOUT_S) -> DumpFacts:
    """Check a ``pg_dump -Fc`` archive: ``PGDMP`` magic, a table of contents ``pg_restore -l`` reads, and
    every data block readable (``pg_restore -f /dev/null`` decodes the whole archive without a server).

    ``pg_restore -l`` alone succeeds on a truncated archive because the TOC is at its start.
    """
    name = path.name
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(CUSTOM_MAGIC))
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckFailed(f"dump {name}", "an existing file", f"no such file {path}") from None
    except OSError as exc:
        raise CheckFailed(f"dump {name}", "a readable file", exc.strerror or str(exc)) from None
    if magic != CUSTOM_MAGIC:
        seen = "an empty file (0 bytes)" if not magic else f"starts with {hex_head(magic)}"
        raise CheckFailed(f"dump {name}", "a pg_dump custom-format archive (starts with 'PGDMP')", seen)
    cmd = [pg_restore, "-l", str(path)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(
            f"table of contents of {name}", f"pg_restore -l within {timeout_s:g} s", "timed out"
        ) from None
    except OSError as exc:
        raise CheckFailed(
            f"table of contents of {name}", f"{pg_restore} to run", exc.strerror or str(exc)
        ) from None
    if proc.returncode != 0:
        raise CheckFailed(
            f"table of contents of {name}",
            "pg_restore -l to read it (exit 0)",
            f"exit {proc.returncode}: {_first_error(proc.stderr)}",
        )
    toc = proc.stdout
    script = _read_every_block(path, pg_restore, timeout_s)
    source = _TOC_FROM.search(toc)
    dumper = _TOC_BY.search(toc)
    source_version = source.group(1) if source else None
    pg_dump_version = dumper.group(1) if dumper else None
    return DumpFacts(
        name=name,
        format="custom",
        source_server_version=source_version,
        pg_dump_version=pg_dump_version,
        source_major=parse_major(source_version),
        pg_dump_major=parse_major(pg_dump_version),
        compressed_bytes=size,
        uncompressed_bytes=None,
        end_marker=None,
        restricted=False,
        table_count=len(_TOC_TABLE_DATA.findall(toc)),
        roles=frozenset(script.scan.roles),
        parts=len(script.scan.parts),
    )


def _read_every_block(path: Path, pg_restore: str, timeout_s: float) -> DumpTextVerifier:
    """Stream ``pg_restore -f -`` (the archive as a script, every data block decoded, no server) through
    the plain-text checks: the roles it names and its end marker come from pg_restore's own output."""
    checked = f"data blocks of {path.name}"
    text = DumpTextVerifier(f"{path.name} (as pg_restore writes it out)")
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                [pg_restore, "-f", "-", str(path)], stdout=subprocess.PIPE, stderr=errors
            )
        except OSError as exc:
            raise CheckFailed(checked, f"{pg_restore} to run", exc.strerror or str(exc)) from None
        out = process.stdout
        assert out is not None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_s, stop)
        timer.start()
        try:
            for chunk in iter(lambda: out.read(CHUNK_BYTES), b""):
                text.take(chunk)
            returncode = process.wait(timeout=timeout_s)
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            out.close()
        if timed_out.is_set():
            raise CheckFailed(checked, f"pg_restore to read them within {timeout_s:g} s", "timed out")
        errors.seek(0)
        stderr = errors.read(16384).decode("utf-8", errors="replace")
    if returncode != 0:
        raise CheckFailed(
            checked,
            "every block readable (pg_restore -f -)",
            f"exit {returncode}: {_first_error(stderr)}",
        )
    text.finish()
    return text


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line or "fatal:" in line.lower():
            return line
    return lines[0] if lines else "(no output)"
