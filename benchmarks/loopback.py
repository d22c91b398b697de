"""Servers that misbehave, on 127.0.0.1: an MJPEG camera that stalls or sends a broken frame, a server that
accepts and never answers, an MQTT broker frozen after the login. The tests and `fer_edge.benchmarks.sigterm` point
the service at them.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import cv2

from fer_edge.sources import DEMO_IMAGE


class MjpegServer:
    """multipart/x-mixed-replace JPEGs at 30 fps, as IP cameras serve them.

    Each connection gets `frames` frames (`broken` lists the indices sent as garbage), then the connection stalls
    (kept open, nothing sent) when `stall`, else it closes. `connections` counts the clients.
    """

    def __init__(self, frames: int, stall: bool = True, broken: tuple[int, ...] = (), forever: bool = False):
        image = cv2.resize(cv2.imread(str(DEMO_IMAGE)), (256, 256))
        self._jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        self._frames, self._stall, self._broken, self._forever = frames, stall, set(broken), forever
        self.connections = 0
        self._done = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/video.mjpg"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(10)
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
                i = 0
                while (self._forever or i < self._frames) and not self._done.is_set():
                    data = os.urandom(3000) if i % self._frames in self._broken else self._jpeg
                    conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                                 + data + b"\r\n")
                    i += 1
                    time.sleep(1 / 30)
                while self._stall and not self._done.is_set():
                    time.sleep(0.1)
            except OSError:
                pass

    def close(self) -> None:
        self._done.set()
        self._sock.close()


class SilentServer:
    """Accepts connections and never answers: an open that waits on it waits for nothing."""

    def __init__(self):
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._conns: list[socket.socket] = []
        self._done = threading.Event()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/video.mjpg"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._done.is_set():
            try:
                self._conns.append(self._sock.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    @property
    def connections(self) -> int:
        return len(self._conns)

    def close(self) -> None:
        self._done.set()
        self._sock.close()
        for conn in self._conns:
            conn.close()


class FrozenBroker:
    """An MQTT broker that accepts the login (CONNACK) and then hangs as a frozen one does: its socket takes every
    byte, it acknowledges nothing. What its clients wrote is kept in `received`."""

    def __init__(self):
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.received = bytearray()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._hang, args=(conn,), daemon=True).start()

    def _hang(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)  # CONNECT
            conn.sendall(b"\x20\x02\x00\x00")  # CONNACK: no session, accepted
            while chunk := conn.recv(65536):
                self.received += chunk
        except OSError:
            pass

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._server.close()
