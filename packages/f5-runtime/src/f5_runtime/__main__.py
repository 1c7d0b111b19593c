"""`python -m f5_runtime ...`: the form the bootstrap execs (no shebang on the hot path)."""

from f5_runtime.cli import main

raise SystemExit(main())
