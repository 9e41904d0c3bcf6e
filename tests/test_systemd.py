"""The systemd units agree with the daemon: notify type, stop and watchdog times, every setting explained."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from mirrord.config import SYSTEM_LOGS_DIR, SYSTEM_STATE_DIR
from mirrord.scheduler import HEARTBEAT, STOP_TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "systemd"


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


@pytest.mark.parametrize("name", ["mirrord.service", "mirrord-once.service"])
def test_the_units_folders_are_those_commands_run_by_hand_use_and_running_md_names(name):
    """systemd makes /var/lib/<StateDirectory> and /var/log/<LogsDirectory>; commands run by hand default to
    SYSTEM_STATE_DIR and SYSTEM_LOGS_DIR, and the config of docs/running.md names them."""
    service = unit(name)["Service"]
    assert Path("/var/lib") / service["StateDirectory"] == SYSTEM_STATE_DIR
    assert Path("/var/log") / service["LogsDirectory"] == SYSTEM_LOGS_DIR
    assert service["Environment"] == f"HOME={SYSTEM_STATE_DIR}"
    running = (ROOT / "docs" / "running.md").read_text(encoding="utf-8")
    assert re.search(rf'^state_dir = "{SYSTEM_STATE_DIR}"', running, re.MULTILINE)
    assert re.search(rf'^log_file  = "{SYSTEM_LOGS_DIR / "status.log"}"', running, re.MULTILINE)
