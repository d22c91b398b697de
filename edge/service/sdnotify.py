"""sd_notify(3) with the standard library: READY, WATCHDOG, STATUS and STOPPING to systemd over $NOTIFY_SOCKET.

Outside systemd (no NOTIFY_SOCKET) every call is a no-op, so the service runs the same from a shell.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address  # "@name": an abstract socket
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed = False
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        # systemd asks for a ping at least every WATCHDOG_USEC; pinging at half of it leaves room for a slow frame
        self.watchdog_s = int(usec) / 1e6 / 2 if usec.isdigit() and int(usec) > 0 and mine else 0.0

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> None:
        """One datagram, e.g. send("READY=1", "STATUS=running"); a failure is logged once and never raised."""
        if self._sock is None:
            return
        try:
            with self._lock:
                self._sock.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning(f"NOTIFY_SOCKET {self._address!r}: {exc}; systemd is not told")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
