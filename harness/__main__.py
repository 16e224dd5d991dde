"""``python -m harness`` is the ``harness`` CLI."""

from harness.tools.cli import main

raise SystemExit(main())
