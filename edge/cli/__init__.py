"""The `fer-edge` console script: the device's own commands (run, service, evaluate) and, through the
`fer_edge.commands` entry points, the commands the other packages own (train, convert, bench), loaded only when
named. Subcommands import their heavy modules lazily.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn

from ..bundled import package_version
from ..errors import FerEdgeError
from ..redact import redact
from .evaluate import add_evaluate
from .plugins import COMMANDS, entry_points
from .run import add_run, run_config

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["build_parser", "main", "run_config"]


def _add_service(sub: Subparsers) -> None:
    from ..service import add_service_parser

    add_service_parser(sub)


# Optional packages a command may need, by the extra that brings them: a missing one is one line, exit 2.
EXTRAS = {"keras": "train", "tensorflow": "train", "jax": "train", "matplotlib": "plot", "paho": "mqtt"}


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors in one line, naming the command and where its help is (not a usage block of 2-25 lines);
    every subcommand's parser is of this class too (add_subparsers makes them of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command_word(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The device's commands, and the other packages' commands: only the one named is loaded (all of them for
    `--help` or no command), so `fer-edge run` never imports train, convert or benchmarks."""
    parser: argparse.ArgumentParser = OneLineParser(prog="fer-edge", description="Facial-expression recognition on edge devices.")
    parser.add_argument("--version", action="version", version=f"fer-edge {package_version()}")
    parser.add_argument("--verbose", action="store_true",
                        help="show the native libraries' own log lines (LiteRT, OpenCV/FFmpeg, TensorFlow)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_evaluate(sub)
    add_run(sub)
    _add_service(sub)
    word = _command_word(sys.argv[1:] if argv is None else argv)
    if word not in sub.choices:  # another package's command, --help, or a typo (whose error lists every command)
        plugins = entry_points(COMMANDS)
        for name, ep in plugins.items():
            if word is None or word == name or word not in plugins:
                ep.load().register(sub)
    for p in sub.choices.values():  # after the subcommand too: `fer-edge run --verbose`
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _absent(modules: tuple[str, ...]) -> str | None:
    """The first of `modules` this install lacks: a command that cannot work without it says so first."""
    from importlib.util import find_spec

    return next((m for m in modules if find_spec(m) is None), None)


def _needs_extra(prefix: str, module: str | None) -> int:
    """One line naming the extra that brings `module`, exit 2; a module no extra brings is a real bug (raised)."""
    extra = EXTRAS.get((module or "").partition(".")[0])
    if extra is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    print(f"{prefix}: error: this needs {module}, which the light install leaves out: pip install \"fer-edge[{extra}]\"",
          file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser(argv)
    except ModuleNotFoundError as exc:  # a command's own module needs an extra to load
        return _needs_extra("fer-edge", exc.name)
    args = parser.parse_args(argv)
    from .. import quiet
    from ..logs import log_to_stderr

    quiet.configure(args.verbose)  # before any subcommand loads OpenCV, LiteRT or TensorFlow
    log_to_stderr(f"fer-edge {args.command}")  # diagnostics: `fer-edge COMMAND: ...` on stderr, levels for journald
    try:
        if (absent := _absent(getattr(args, "needs", ()))) is not None:
            return _needs_extra(f"fer-edge {args.command}", absent)
        return int(args.func(args) or 0)
    except FerEdgeError as exc:
        print(f"fer-edge {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"fer-edge {args.command}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        return _needs_extra(f"fer-edge {args.command}", exc.name)
