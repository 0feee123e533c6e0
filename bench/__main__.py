"""``python -m bench``: the one entry point (see bench.cli)."""

from bench.cli import main

raise SystemExit(main())
