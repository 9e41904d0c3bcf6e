"""systemd's notify protocol against real AF_UNIX datagram sockets, as systemd listens on them."""

from __future__ import annotations

import os
import socket
import uuid

from mirrord.notify import notify, reloading_message, status_line, watchdog_interval

from daemon_run import NotifySocket, wait_for


def test_notify_sends_one_datagram_per_message_to_a_path_socket():
    listener = NotifySocket()
    try:
        assert notify("READY=1", {"NOTIFY_SOCKET": listener.path})
        assert notify(status_line("3 new,\n 0 failed"), {"NOTIFY_SOCKET": listener.path})
        wait_for(lambda: len(listener.messages) == 2, what="two datagrams")
        assert listener.messages == ["READY=1", "STATUS=3 new, 0 failed"]
    finally:
        listener.close()


def test_notify_reaches_an_abstract_socket():
    name = f"mirrord-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert listener.recv(100) == b"WATCHDOG=1"


def test_notify_without_systemd_or_with_a_vanished_socket_does_nothing(tmp_path):
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})


def test_reloading_carries_the_monotonic_time():
    lines = reloading_message().splitlines()
    assert lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0


def test_watchdog_interval_is_half_of_watchdog_sec_and_only_for_our_pid():
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
