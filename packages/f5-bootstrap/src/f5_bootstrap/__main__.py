from f5_bootstrap.cli import main

raise SystemExit(main())
