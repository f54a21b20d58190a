"""``python -m leukutils`` is the same as the ``leukutils`` command."""
from .cli import main

raise SystemExit(main())
