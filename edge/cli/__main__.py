"""`python -m fer_edge.cli`: the `fer-edge` command (how the tests run it, without the entry-point script)."""

import sys

from . import main

sys.exit(main())
