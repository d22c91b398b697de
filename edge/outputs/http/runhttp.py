"""The service's HTTP endpoint on `fer-edge run`, only when a `--http-*` flag asks for it (e.g. --http-preview true).

The flags are the service's `[http]` keys, validated by the same config code, so `run` and `service` agree on
names, limits and the token rule; the endpoint, monitor and preview are the service's own.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ...config import HttpConfig, add_key_argument, iter_keys, load_config

if TYPE_CHECKING:
    from ...pipeline.loop import Observer
    from ...sources import OpenedSource
    from ..events import EventWriter

log = logging.getLogger(__name__)


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("HTTP endpoint (off unless one of these is given; the service's [http] keys)")
    for path, f in iter_keys():
        if path.startswith("http.") and path != "http.enabled":
            add_key_argument(group, path, f)


def http_config(args: argparse.Namespace) -> HttpConfig | None:
    """The [http] the flags give, checked like the service's config (exit 2 naming the flag); None: no flag given."""
    given = {path: getattr(args, path) for path, _ in iter_keys()
             if path.startswith("http.") and getattr(args, path, None) is not None}
    return load_config(None, given).http if given else None


class _SourceCounts:
    """What the monitor reads of a source, for `run`'s plain one (which neither reconnects nor counts errors)."""

    up, errors, reconnects = True, 0, 0

    def __init__(self, source: OpenedSource) -> None:
        self._source = source

    @property
    def dropped(self) -> int:
        return self._source.dropped

    @property
    def undecodable(self) -> int:
        return self._source.undecodable


@contextmanager
def serving(http: HttpConfig | None, source: OpenedSource, events: EventWriter, labels: tuple[str, ...],
            info: dict[str, str]) -> Iterator[Observer | None]:
    """Yields the loop observer that feeds the endpoint (None without one); the endpoint closes on the way out."""
    if http is None:
        yield None
        return
    from ...pipeline.loop import chain
    from ...service.monitor import Monitor
    from ...service.sdnotify import Notifier
    from .preview import make_preview
    from .server import HttpEndpoint

    endpoint = HttpEndpoint(http.host, http.port, http.allowed_hosts)
    try:
        monitor = Monitor(Notifier({}), _SourceCounts(source), events, labels, http.stale_after_s, info)
        preview = make_preview(http, info) if http.preview else None
        endpoint.start(monitor, preview)
        log.info(f"http {endpoint.url}")
        if endpoint.exposure:
            log.warning(endpoint.exposure)
        yield chain(monitor.on_frame, preview.on_frame if preview is not None else None)
    finally:
        endpoint.close()
