"""A moto_server that enforces IAM and hands out *old* access keys to some users.

AWS never lets anyone backdate an access key, and neither does moto's API, so the credentials suite
cannot otherwise meet a 120-day-old key. ``running_iam_moto()`` starts the real moto server (same code,
same HTTP API, ``INITIAL_NO_AUTH_ACTION_COUNT=0`` so unknown or wrong keys are rejected) in a child
process whose IAM model dates the keys of users named ``stale-*`` ``STALE_KEY_AGE_DAYS`` days back.
Everything else behaves like ``tests.support.moto.running_moto``; lift enforcement for setup with the
returned server's ``auth_disabled()``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.moto import MotoServer, running_moto

__all__ = ["STALE_KEY_AGE_DAYS", "STALE_USER_PREFIX", "running_iam_moto"]

STALE_USER_PREFIX = "stale-"
STALE_KEY_AGE_DAYS = 120

_LAUNCHER = """
import datetime, sys
from moto.iam import models

_created = models.AccessKey.__init__

def _aged(self, user_name, *args, **kwargs):
    _created(self, user_name, *args, **kwargs)
    if (user_name or "").startswith({prefix!r}):
        self.create_date = self.create_date - datetime.timedelta(days={days})

models.AccessKey.__init__ = _aged

from moto.server import main
main(sys.argv[1:])
"""


@contextmanager
def running_iam_moto() -> Iterator[MotoServer]:
    """Start the IAM-enforcing moto with aged ``stale-*`` keys on 127.0.0.1; always stop it."""
    script = _LAUNCHER.format(prefix=STALE_USER_PREFIX, days=STALE_KEY_AGE_DAYS)
    with running_moto(
        {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}, command=[sys.executable, "-c", script]
    ) as server:
        yield server
