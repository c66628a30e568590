"""`python -m op_system`: the `op-system` command line (see `_cli.py`)."""

from ._cli import main

raise SystemExit(main())
