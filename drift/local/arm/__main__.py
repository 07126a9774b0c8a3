"""``python -m drift.local.arm --ca-dir DIR [--port N] [--ready-file F]``: see cli.py."""

from drift.local.arm.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
