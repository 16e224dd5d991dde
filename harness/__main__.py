"""``python -m harness`` is the ``harness`` CLI."""

from harness.cli import main

raise SystemExit(main())
