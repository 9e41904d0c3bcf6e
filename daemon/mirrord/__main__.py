"""Allows `python -m mirrord`."""

from mirrord.cli import main

raise SystemExit(main())
