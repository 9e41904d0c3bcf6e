"""The state database as the daemon uses it: several threads, real SQLite files."""

from __future__ import annotations

import threading

from mirrord.state import State


def test_threads_opening_a_new_database_at_once_all_succeed(tmp_path):
    """The daemon's first jobs and its main thread open a database that does not exist yet together."""
    errors: list[str] = []

    def open_and_write(path):
        try:
            state = State(path)
            state.channel_succeeded("source", "channel")
            state.close()
        except Exception as error:  # the test reports every failure, whatever it is
            errors.append(repr(error))

    for round_ in range(100):
        path = tmp_path / str(round_) / "state.sqlite3"
        threads = [threading.Thread(target=open_and_write, args=(path,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
