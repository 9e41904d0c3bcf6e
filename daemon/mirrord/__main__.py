"""Allows `python -m mirrord`."""

from mirrord.cli import run

run()
