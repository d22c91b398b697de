"""The [http] section and its checks: an address this machine can bind, and the preview's token beyond loopback.

The preview (`fer_edge.outputs.http.preview`) reads its token with the same function, so the token the check
accepted is the one the page asks for.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .keys import key

MIN_TOKEN = 16
MIN_TOKEN_BITS = 64  # `openssl rand -hex 16` gives about 150 by token_bits' count; `aaaaaaaaaaaaaaaa` 5


def check_host(host: str, port: int) -> None:
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"http.host: {host!r} is not an address this machine can bind ({reason})") from None


def is_loopback(host: str) -> bool:
    """Every address `host` resolves to is loopback (127.0.0.0/8, ::1); False when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]).is_loopback for i in infos)
    except (OSError, UnicodeError, ValueError):
        return False


def read_token(http: HttpConfig) -> str:
    """The preview token of an `HttpConfig` ("" for none), checked; a UsageError names the key."""
    if http.token and http.token_file:
        raise UsageError("http.token_file: set http.token or http.token_file, not both")
    key, token = "http.token", http.token
    if http.token_file:
        key, path = "http.token_file", Path(http.token_file)
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{key}: {path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise UsageError(f"{key}: {path}: empty (want the token on its first line)")
    if token and not (token.isascii() and token.isprintable() and " " not in token):
        raise UsageError(f"{key}: want printable ASCII without spaces")
    if token and len(token) < MIN_TOKEN:
        raise UsageError(f"{key}: too short ({len(token)} characters; want at least {MIN_TOKEN}, "
                         "e.g. from `openssl rand -hex 16`)")
    if token and (bits := token_bits(token)) < MIN_TOKEN_BITS:
        raise UsageError(f"{key}: too easy to guess (about {bits:.0f} bits: repeats, runs and repeated parts count "
                         f"for little; want {MIN_TOKEN_BITS}), e.g. from `openssl rand -hex 16`")
    return token


def token_bits(token: str) -> float:
    """A cautious estimate of a token's entropy: bits per character from the classes it uses (digits, lower and
    upper case letters, others), times the characters that are new: not a repeat of the one before, not the third
    of a run (abc, 321), not the end of a three-character piece seen before (pass-pass)."""
    alphabet = sum(size for chars, size in ((str.isdigit, 10), (str.islower, 26), (str.isupper, 26))
                   if any(chars(c) for c in token))
    alphabet += 33 if any(not c.isalnum() for c in token) else 0
    new = 0
    for i, c in enumerate(token):
        repeat = i >= 1 and c == token[i - 1]
        run = i >= 2 and ord(c) - ord(token[i - 1]) == ord(token[i - 1]) - ord(token[i - 2]) in (1, -1)
        seen = i >= 2 and token[i - 2:i + 1] in token[:i]
        new += not (repeat or run or seen)
    return new * math.log2(max(alphabet, 2))


def check_http(http: HttpConfig) -> None:
    """The endpoint's address, and the preview's part: it needs the endpoint, and a token beyond loopback."""
    if not http.host.strip():
        raise UsageError("http.host: empty")
    if http.enabled:
        check_host(http.host, http.port)
    if not http.preview:
        return
    if not http.enabled:
        raise UsageError("http.preview: needs http.enabled = true (the preview is served by the HTTP endpoint)")
    if not read_token(http) and not is_loopback(http.host):
        raise UsageError(f"http.token: needed: http.preview shows camera pictures and http.host {http.host!r} is "
                         "not loopback; set http.token_file (or http.token), or http.host = \"127.0.0.1\"")


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = key(True, "serve /healthz, /metrics and /events/latest")
    host: str = key("127.0.0.1", "address to bind (0.0.0.0 exposes it to the network)")
    port: int = key(8787, "TCP port (0: any free port, logged at start)", lo=0, hi=65535)
    stale_after_s: float = key(5.0, "/healthz says 503 when no frame was processed for this long", above=0)
    preview: bool = key(False, "serve a live preview page at / (annotated camera pictures and the faces); "
                                "off: no path serves a picture")
    preview_fps: float = key(2.0, "frames per second of the preview's MJPEG stream (JPEG is encoded only while "
                                   "someone watches)", above=0, hi=30)
    token: str = key("", "secret the preview asks for (?token= or Authorization: Bearer); needed when http.host "
                          "is not loopback; prefer token_file")
    token_file: str = key("", "file holding the preview token (first line), instead of http.token")
    allowed_hosts: str = key("", "host names a request's Host header may carry besides an address, localhost and "
                                  "this machine's name (comma-separated; \"*\": any). Others get 421: a web page "
                                  "that rebinds its name to this address reads nothing")

    def check(self) -> None:
        check_http(self)
