"""`python -m qa` is the `qa` command."""

from qa.app.cli import main

raise SystemExit(main())
