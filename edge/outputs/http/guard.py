"""Who may ask the endpoint what, and at what cost: the warning for an address beyond loopback, the `Host:` check that
stops a DNS rebinding page, the limit on wrong preview tokens per client, the descriptors kept for the loop."""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import resource
import selectors
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

TRIES = 10  # wrong tokens a client may send at once; then one every TRY_EVERY_S (429 Too Many Requests between)
TRY_EVERY_S = 2.0
LOG_EVERY_S = 60.0  # a client's wrong tokens: its first is logged, then one line a minute at most


def forget(selector: selectors.BaseSelector, sock: socket.socket) -> None:
    """Stop watching a client's socket (it may not be watched: never registered, or already gone) and close it, so
    its descriptor is free for the next client."""
    try:
        selector.unregister(sock)
    except (KeyError, ValueError):
        pass
    sock.close()


def free_descriptors(reserve: int) -> int | None:
    """Descriptors this process may still open before eating into `reserve`; None when it cannot be told."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
    return soft - reserve - used


def exposure_warning(host: str) -> str | None:
    """What an address other than loopback exposes, for the start log; None for loopback."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if address.is_loopback:
        return None
    where = "every network interface" if address.is_unspecified else f"the network at {host}"
    return (f"http: listening on {where}: /healthz, /metrics and /events/latest (face labels, scores and boxes) "
            "can be read by anyone who can reach the port, without authentication; "
            'set http.host = "127.0.0.1" to keep them local')


def allowed_hosts(extra: str = "") -> frozenset[str] | None:
    """The host names a request's `Host:` may carry besides an address and `localhost`: this machine's name (and
    NAME.local, as mDNS has it) and `extra` (http.allowed_hosts, comma-separated); None when `extra` is "*"."""
    names = [n.strip().lower().rstrip(".") for n in extra.split(",") if n.strip()]
    if "*" in names:
        return None
    hostname = socket.gethostname().lower()
    return frozenset({hostname, hostname.split(".", 1)[0] + ".local", *names} - {""})


def host_allowed(header: str, names: frozenset[str] | None) -> bool:
    """Whether a request's `Host:` names this server. A DNS rebinding page reaches 127.0.0.1 under its own domain
    name, which is refused; an address (what `ssh -L` and a LAN client use) cannot be rebound, and a request
    without the header does not come from a browser."""
    host = header.strip().lower()
    if names is None or not host:
        return True
    if host.startswith("["):  # [v6]:port
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        pass
    return host == "localhost" or host.endswith(".localhost") or host in names


class Tries:
    """Wrong tokens per client: a bucket of TRIES refilled at one per TRY_EVERY_S, and when each was last logged."""

    MAX_CLIENTS = 1024  # kept in memory at most; the oldest is forgotten first

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._clients: dict[str, list[float]] = {}  # client -> [tries left, when counted, unlogged, logged at]

    def _entry(self, client: str) -> list[float]:
        now = self._clock()
        entry = self._clients.setdefault(client, [float(TRIES), now, 0.0, -math.inf])
        entry[0] = min(float(TRIES), entry[0] + (now - entry[1]) / TRY_EVERY_S)
        entry[1] = now
        if len(self._clients) > self.MAX_CLIENTS:
            self._clients.pop(next(iter(self._clients)))
        return entry

    def limited(self, client: str) -> bool:
        """No try left: answer 429 without looking at the token."""
        return client in self._clients and self._entry(client)[0] < 1.0

    def failed(self, client: str) -> None:
        """A wrong token: one try used, and a log line (never the token) at most every LOG_EVERY_S per client."""
        entry = self._entry(client)
        entry[0] -= 1.0
        entry[2] += 1
        if self._clock() - entry[3] >= LOG_EVERY_S:
            log.warning(f"preview: {entry[2]:.0f} wrong token{'s' if entry[2] > 1 else ''} from {client}"
                        f"{' since the last such line' if entry[3] > -math.inf else ''}; each client gets {TRIES} "
                        f"tries, then one every {TRY_EVERY_S:g} s")
            entry[2], entry[3] = 0.0, self._clock()
