"""The systemd units agree with the daemon: notify type, stop and watchdog times, every setting explained."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from mirrord.scheduler import HEARTBEAT, STOP_TIMEOUT

UNITS = Path(__file__).resolve().parents[1] / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS / name)
    return parser


def test_daemon_unit_matches_the_daemons_timers():
    service = unit("mirrord.service")["Service"]
    assert service["Type"] == "notify" and service["KillMode"] == "mixed" and service["Restart"] == "on-failure"
    assert int(service["TimeoutStopSec"]) > STOP_TIMEOUT, "systemd must not kill a push mirrord still waits for"
    assert int(service["WatchdogSec"]) > 3 * HEARTBEAT, "the liveness check must fit in the watchdog's time"


@pytest.mark.parametrize("name", ["mirrord.service", "mirrord-once.service"])
def test_every_service_setting_has_a_comment_above_it(name):
    lines = (UNITS / name).read_text(encoding="utf-8").splitlines()
    start = lines.index("[Service]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    settings = [i for i in range(start + 1, end) if "=" in lines[i] and not lines[i].startswith("#")]
    unexplained = [lines[i] for i in settings if not comment_above(lines, i)]
    assert unexplained == []


def comment_above(lines: list[str], index: int) -> bool:
    """Tell whether a comment line comes before index in its group of settings (lines without a blank one)."""
    while index > 0 and lines[index - 1].strip():
        index -= 1
        if lines[index].startswith("#"):
            return True
    return False
