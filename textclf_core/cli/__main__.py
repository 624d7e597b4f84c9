"""``python -m textclf_core.cli``: the textclf command line."""

from .commands import main

raise SystemExit(main())
