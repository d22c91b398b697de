"""What every `python -m fer_edge.benchmarks.X` entry point says the same way: the command line it writes beside its
results, and a bad input as one line on stderr with its exit code (2 for usage), never a traceback."""

from __future__ import annotations

import sys

from fer_edge.errors import FerEdgeError


def command_line(module: str, argv: list[str] | None) -> str:
    """`python -m MODULE ARGS` as this run was started (the arguments from sys.argv when `argv` is None)."""
    return ("python -m " + module + " " + " ".join(sys.argv[1:] if argv is None else argv)).strip()


def failed(module: str, exc: FerEdgeError) -> int:
    """`MODULE: error: ...` on stderr; returns the exit code for it."""
    print(f"{module}: error: {exc}", file=sys.stderr)
    return exc.exit_code
