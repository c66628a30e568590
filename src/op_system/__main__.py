"""`python -m op_system`: the `op-system` command line (see `_cli/cli.py`)."""

from ._cli.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
