from frugalml.cli import main

raise SystemExit(main())
