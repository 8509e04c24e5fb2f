"""Which PostgreSQL server installation on this machine a local cluster runs, and its major version.

:func:`find_postgres_bindir` picks the newest installation that has every program a cluster needs (at least
a given major when a dump asks for one); :func:`server_major` reads an installation's version. Both back
:class:`~opscheck.restore.servers.local.LocalCluster` and the restore drill's choice of binaries.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from opscheck.errors import OpscheckError
from opscheck.restore.servers.base import tail

__all__ = ["REQUIRED_TOOLS", "PostgresNotFound", "find_postgres_bindir", "server_major"]

#: the binaries a cluster needs, all from one PostgreSQL installation
REQUIRED_TOOLS = ("initdb", "pg_ctl", "postgres", "psql")
_INSTALL_HINT = "install them with `apt-get install -y postgresql`"

_PACKAGED_BINDIRS = Path("/usr/lib/postgresql")
_VERSION_TIMEOUT = 15.0  # seconds


class PostgresNotFound(OpscheckError):
    """No PostgreSQL server installation with initdb, pg_ctl, postgres and psql was found."""


def find_postgres_bindir(min_major: int | None = None) -> Path:
    """Return the bin directory of the newest installed PostgreSQL server (at least ``min_major``).

    Looks at ``/usr/lib/postgresql/<major>/bin`` (highest major first), then ``pg_config --bindir``.
    """
    rejected: list[str] = []
    for bindir in _candidate_bindirs():
        missing = [tool for tool in REQUIRED_TOOLS if not os.access(bindir / tool, os.X_OK)]
        if missing:
            rejected.append(f"{bindir} lacks {', '.join(missing)}")
            continue
        if min_major is not None and (major := server_major(bindir)) < min_major:
            rejected.append(f"{bindir} is PostgreSQL {major}")
            continue
        return bindir
    raise PostgresNotFound(_not_found_message(rejected, min_major))


def _candidate_bindirs() -> list[Path]:
    packaged = [d for d in _PACKAGED_BINDIRS.glob("*/bin") if d.parent.name.isdigit()]
    packaged.sort(key=lambda d: int(d.parent.name), reverse=True)
    configured = _pg_config_bindir()
    if configured is not None and configured not in packaged:
        packaged.append(configured)
    return packaged


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        proc = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=_VERSION_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return Path(out) if proc.returncode == 0 and out else None


def _not_found_message(rejected: list[str], min_major: int | None) -> str:
    wanted = "PostgreSQL server binaries (" + ", ".join(REQUIRED_TOOLS) + ")"
    if min_major is not None:
        wanted += f" of major version >= {min_major}"
    if not rejected:
        seen = f"nothing in {_PACKAGED_BINDIRS}/*/bin and no pg_config on PATH"
    else:
        seen = "; ".join(rejected)
    hint = _INSTALL_HINT if min_major is None else f"{_INSTALL_HINT} (or postgresql-{min_major})"
    return f"no usable {wanted} found ({seen}); {hint}"


@functools.cache
def server_major(bindir: Path) -> int:
    """Major version of the ``postgres`` binary in ``bindir`` (e.g. 15)."""
    cmd = [str(bindir / "postgres"), "--version"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_VERSION_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresNotFound(f"`{shlex.join(cmd)}` could not run ({exc}); {_INSTALL_HINT}") from None
    match = re.search(r"\(PostgreSQL\) (\d+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        output = tail(proc.stderr or proc.stdout)
        raise PostgresNotFound(f"`{shlex.join(cmd)}` printed no PostgreSQL version ({output})")
    return int(match.group(1))
