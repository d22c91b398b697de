"""The opt-in live preview (`http.preview = true`): a page, the annotated view as MJPEG, the current faces as JSON.

Nothing here is built unless asked, so with the preview off no path can serve a picture. The loop only hands over
a reference to its latest frame and records (`on_frame`: no copy, no encoding); JPEG is encoded on the streamer's
thread, at `preview_fps`, while someone watches, or for the page's own request. Pictures exist only in memory and on
viewers' sockets, never on disk. Beyond loopback the preview asks for a token (`?token=` or `Authorization: Bearer`),
checked at start.

One moment: every encoded picture is a *moment* (a number that only grows), kept with the face records drawn on it.
The page fetches `/moment.jpg` (the picture; headers `X-Moment` and `X-Frame` say which) and then
`/faces?moment=N`, the faces of that very picture, so the list beside it never belongs to another frame.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from ...config.http import read_token
from ...pipeline.sink import Closing
from ...records import FaceRecord, FrameResult
from ..events import face_json
from .guard import TRY_EVERY_S, Tries
from .mjpeg import MjpegStreamer

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from ...config import HttpConfig

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parents[2] / "assets" / "preview.html"
PATHS = ("/", "/preview", "/faces", "/preview.mjpg", "/moment.jpg")
MOMENTS = 16  # encoded pictures whose records are kept for `/faces?moment=N`: a few seconds at the page's rate


class Stream:
    """`answer` for the MJPEG path: the HTTP thread hands the socket to the streamer."""


STREAM = Stream()
MAX_VIEWERS = 4  # open streams at once; each costs an encode share and a socket, none costs a thread
MAX_WIDTH = 1280  # wider frames are scaled down before drawing: the page is a check, not a recording
JPEG_QUALITY = 75
Answer = tuple[int, str, str | bytes, dict[str, str]]  # status, content type, body, extra headers


@dataclasses.dataclass(frozen=True)
class Moment:
    """One picture the preview encoded and what was drawn on it: the faces, the frame, the loop's rate then."""

    seq: int  # the moment's number: grows with every frame the loop hands over
    frame: int  # the loop's frame number
    records: Sequence[FaceRecord]
    fps: float
    seen: float  # the clock when the loop handed the frame over


class Headers(Protocol):
    """A request's headers (http.server's message, or a dict)."""

    def get(self, name: str, default: str, /) -> str: ...


def _scaled(box: tuple[int, int, int, int], scale: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return round(x1 * scale), round(y1 * scale), round(x2 * scale), round(y2 * scale)


def _inline_hash(page: str, tag: str) -> str:
    """The CSP source for the page's one inline `<tag>` element: only that script or style runs."""
    found = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
    digest = hashlib.sha256(found.group(1).encode()).digest() if found else b""
    return f"'sha256-{base64.b64encode(digest).decode()}'"


class Preview(Closing):
    """Routes for the HTTP endpoint (`answer`, `adopt`), a sink for the loop (`on_frame`) and the MJPEG streamer."""

    def __init__(self, fps: float = 2.0, token: str = "", stale_after_s: float = 5.0, max_viewers: int = MAX_VIEWERS,
                 clock: Callable[[], float] = time.monotonic, info: dict[str, str] | None = None):
        self._token, self._stale, self._clock = token.encode(), stale_after_s, clock
        self._fps_limit, self._info = fps, dict(info or {})
        self._lock = threading.Lock()
        self._image: np.ndarray | None = None
        self._records: Sequence[FaceRecord] = ()
        self._frame = self._seq = 0
        self._loop_fps = 0.0
        self._seen: float | None = None
        self._moments: collections.OrderedDict[int, Moment] = collections.OrderedDict()  # seq -> what was drawn
        self._jpeg: tuple[int, bytes] | None = None  # the last encoded picture, for the page's requests
        self._page = PAGE.read_text()
        self._page_headers = {
            "Content-Security-Policy": (f"default-src 'none'; img-src 'self' blob:; connect-src 'self'; "
                                        f"script-src {_inline_hash(self._page, 'script')}; "
                                        f"style-src {_inline_hash(self._page, 'style')}; "
                                        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
        self.streamer = MjpegStreamer(self._encode, fps, max_viewers, clock)
        self.denied = self.refused = self.limited = 0
        self._tries = Tries(clock)
        self._closed = False

    # the loop's side: a reference under the lock, nothing more

    def on_frame(self, result: FrameResult) -> None:
        with self._lock:
            self._image, self._records, self._frame = result.frame.image, result.faces, result.frame.index
            self._seq += 1
            self._seen = self._clock()
            self._loop_fps = result.stats.fps_now

    def _encode(self, last_seq: int) -> tuple[int, bytes] | None:
        """The latest frame, annotated, as JPEG (None: nothing newer than `last_seq`); remembered as a moment."""
        from ..annotate import draw

        with self._lock:
            image, records, seq, cached = self._image, self._records, self._seq, self._jpeg
            moment = Moment(seq, self._frame, records, self._loop_fps, self._seen or 0.0)
        if image is None or seq == last_seq:
            return None
        if cached is not None and cached[0] == seq:  # another viewer or the page asked for this frame already
            return cached
        scale = min(1.0, MAX_WIDTH / image.shape[1])
        if scale < 1.0:
            image = cv2.resize(image, (MAX_WIDTH, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
            records = [dataclasses.replace(r, box=_scaled(r.box, scale)) for r in records]
        ok, jpeg = cv2.imencode(".jpg", draw(image, records), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return None
        with self._lock:
            self._jpeg = (seq, jpeg.tobytes())
            self._moments[seq] = moment  # the records at the frame's own scale: the events' boxes
            while len(self._moments) > MOMENTS:
                self._moments.popitem(last=False)
            return self._jpeg

    # the HTTP thread's side

    def answer(self, method: str, target: str, headers: Headers, client: str = "") -> Answer | Stream | None:
        """The answer to a preview path, `STREAM` to hand the socket to the streamer, or None: not a preview path.
        `client` (its address) is what wrong tokens are counted and limited by."""
        url = urlsplit(target)
        if url.path not in PATHS:
            return None
        if self._token and self._tries.limited(client):
            self.limited += 1
            return (429, "text/plain; charset=utf-8", f"too many wrong tokens: one try every {TRY_EVERY_S:g} s\n",
                    {"Retry-After": f"{TRY_EVERY_S:.0f}"})
        allowed, given = self._allowed(url.query, headers.get("Authorization", ""))
        if not allowed:
            self.denied += 1
            if given:  # a guess, not a first visit without the token
                self._tries.failed(client)
            return (401, "text/plain; charset=utf-8", "token required: add ?token=TOKEN to the address or send "
                    "Authorization: Bearer TOKEN\n", {"WWW-Authenticate": 'Bearer realm="fer-edge preview"'})
        if url.path == "/faces":
            wanted = parse_qs(url.query).get("moment", [""])[0]
            if wanted:
                body = self.moment_json(int(wanted)) if wanted.isdigit() else None
                if body is None:
                    return 404, "application/json", json.dumps({"error": "no such moment (too old: fetch "
                                                                         "/moment.jpg again)"}) + "\n", {}
                return 200, "application/json", body, {}
            return 200, "application/json", self.faces_json(), {}
        if url.path == "/moment.jpg":
            encoded = self._encode(-1)
            if encoded is None:
                return 503, "text/plain; charset=utf-8", "no frame yet\n", {}
            seq, jpeg = encoded
            with self._lock:
                frame = self._moments[seq].frame if seq in self._moments else -1
            return 200, "image/jpeg", jpeg, {"X-Moment": str(seq), "X-Frame": str(frame)}
        if url.path == "/preview.mjpg":
            if method == "HEAD":
                return 200, "multipart/x-mixed-replace; boundary=fer-edge-frame", "", {}
            if not self.streamer.has_room():
                self.refused += 1
                return 503, "text/plain; charset=utf-8", "busy: every preview stream is taken; try later\n", {}
            return STREAM
        return 200, "text/html; charset=utf-8", self._page, self._page_headers

    def _allowed(self, query: str, authorization: str) -> tuple[bool, bool]:
        """(the request may see the preview, it gave a token at all)."""
        if not self._token:
            return True, False
        given = parse_qs(query).get("token", [""])[0]
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            given = credentials.strip()
        return hmac.compare_digest(given.encode(), self._token), bool(given)

    def adopt(self, sock: socket.socket) -> bool:
        return self.streamer.adopt(sock)

    def faces_json(self) -> str:
        """The faces of the last processed frame (the events schema), none once it is older than `stale_after_s`."""
        now = self._clock()
        with self._lock:
            records, frame, seen, seq, fps = self._records, self._frame, self._seen, self._seq, self._loop_fps
        return self._json(None if seen is None else Moment(seq, frame, records, fps, seen), now)

    def moment_json(self, seq: int) -> str | None:
        """The faces drawn on moment `seq` (None once it is no longer kept), with the frame, rate and health then."""
        with self._lock:
            moment = self._moments.get(seq)
        return None if moment is None else self._json(moment, self._clock())

    def _json(self, moment: Moment | None, now: float) -> str:
        age = None if moment is None else now - moment.seen
        fresh = age is not None and age <= self._stale
        return json.dumps({"time": round(time.time(), 3), "moment": moment.seq if moment else None,
                           "frame": moment.frame if moment else None, "age_s": None if age is None else round(age, 3),
                           "fresh": fresh, "fps": round(moment.fps, 1) if moment else 0.0,
                           "preview_fps": self._fps_limit, **self._info,
                           "faces": [face_json(r) for r in moment.records] if moment and fresh else []}) + "\n"

    def collect(self) -> Iterator[Metric]:
        """Prometheus families for /metrics (a prometheus_client collector; edge/outputs/http/server.py registers it)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # only once HTTP serves

        s = self.streamer
        yield GaugeMetricFamily("fer_edge_preview_viewers", "Preview streams open now.", value=s.viewers)
        yield CounterMetricFamily("fer_edge_preview_frames_encoded_total",
                                  "Preview JPEG pictures encoded (only while watched).", value=s.encoded)
        yield CounterMetricFamily("fer_edge_preview_frames_skipped_total", "Preview pictures a slow viewer skipped.",
                                  value=s.skipped)
        yield CounterMetricFamily("fer_edge_preview_requests_denied_total", "Preview requests without the right token.",
                                  value=self.denied)
        yield CounterMetricFamily("fer_edge_preview_viewers_refused_total", "Preview streams refused: every slot taken.",
                                  value=self.refused)
        yield CounterMetricFamily("fer_edge_preview_requests_limited_total", "Preview requests refused (429) from a "
                                  "client out of tries after wrong tokens.", value=self.limited)

    def start(self, url: str) -> None:
        self.streamer.start()
        how = ("with the token (?token= or Authorization: Bearer)" if self._token
               else "without a token (loopback only)")
        log.info(f"http: preview on at {url}/ {how}: camera pictures leave the process for whoever opens it")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.streamer.close()


def make_preview(http: HttpConfig, info: dict[str, str] | None = None) -> Preview:
    """The preview an `HttpConfig` asks for (`http.preview` must be true); reads the token file once. `info` (the
    model and the detector) is shown on the page."""
    return Preview(http.preview_fps, read_token(http), http.stale_after_s, info=info)
