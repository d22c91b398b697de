"""The one interface every output has: it sees each processed frame's result, and is closed once at the end.

The loop knows only this (never the outputs themselves); `fer_edge.outputs.build.build_outputs` makes them from
the config. A sink is a context manager and its `close()` may be called again, doing nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, Self

from ..closing import Closing as Closing  # the one `with` support, re-exported for the sinks
from ..records import FrameResult


class Sink(Protocol):
    def on_frame(self, result: FrameResult) -> None:
        """One processed frame: its faces, the ids that ended, the loop's stats. Called from the loop's thread."""
        ...

    def close(self) -> None:
        """Finish (flush, say goodbye, release); a second call does nothing."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class NullSink(Closing):
    """An output that keeps nothing: the sink's null twin, for a loop run for its stats or its faces alone."""

    def __init__(self) -> None:
        self.frames = 0  # frames seen, so a test can tell the loop fed it

    def on_frame(self, result: FrameResult) -> None:
        self.frames += 1


class CallbackSink(Closing):
    """A function as a sink: `CallbackSink(results.append)` keeps every frame's result (a program that wants them
    all, a benchmark, a test)."""

    def __init__(self, call: Callable[[FrameResult], None]) -> None:
        self.call = call

    def on_frame(self, result: FrameResult) -> None:
        self.call(result)
