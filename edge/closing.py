"""`with` support for what the loop opens and feeds (sources, sinks, writers): leaving the block closes it."""

from __future__ import annotations

from typing import Self


class Closing:
    """Leaving `with` closes the object, whatever happened; `close()` is the subclass's and safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass
