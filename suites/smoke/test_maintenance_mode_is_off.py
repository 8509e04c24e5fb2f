"""Scheduled Maintenance: the deployment is not in maintenance mode."""

import pytest

from opscheck.clients.http import Probe
from opscheck.errors import CheckFailed
from opscheck.smoke.rules import maintenance_signal


@pytest.mark.runbook("scheduled-maintenance", severity="P1")
def test_maintenance_mode_is_off(health_probe: Probe | None, home_probe: Probe) -> None:
    signal = maintenance_signal(health_probe, home_probe)
    if signal:
        raise CheckFailed("maintenance mode", "off (no maintenance announced)", signal)
