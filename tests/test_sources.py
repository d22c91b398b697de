"""Sources are context managers whose `close()` may come twice; the null source is a source; headers size stills."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from fer_edge.sources import DEMO_IMAGE, FrameSource, NullSource, OpenedSource, open_source
from fer_edge.sources.imageheader import Header, image_header, reduction
from fer_edge.sources.reconnect import ReconnectingSource


def _video(path, frames: int = 5) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    return str(path)


@pytest.mark.parametrize("kind", ["photo", "video", "null", "reconnecting"])
def test_a_source_closes_on_leaving_its_with_block_and_closes_twice_quietly(tmp_path, kind):
    stop = threading.Event()
    opened: OpenedSource = {
        "photo": lambda: open_source(str(DEMO_IMAGE)),
        "video": lambda: open_source(_video(tmp_path / "clip.avi")),
        "null": lambda: NullSource([np.zeros((8, 8, 3), np.uint8)] * 3),
        "reconnecting": lambda: ReconnectingSource(lambda: open_source(str(DEMO_IMAGE)), "demo", stop, fps=0),
    }[kind]()
    with opened as source:
        assert source is opened
        first = source.read()
        assert first is not None and first.image.ndim == 3
    stop.set()  # the reconnecting source gives frames until its stop, as the service's does
    assert opened.read() is None  # closed: nothing more comes
    opened.close()  # a second close does nothing


def test_the_null_source_gives_its_pictures_once_then_ends():
    images = [np.full((4, 6, 3), v, np.uint8) for v in (10, 20)]
    source: FrameSource = NullSource(images, fps=25.0)
    frames = [source.read(), source.read(), source.read()]
    assert [f.index for f in frames[:2] if f is not None] == [0, 1] and frames[2] is None
    assert [int(f.image[0, 0, 0]) for f in frames[:2] if f is not None] == [10, 20]
    assert (source.fps, source.live, source.still, source.dropped) == (25.0, False, False, 0)
    assert NullSource().read() is None  # no pictures: it ends at once


def test_image_header_sizes_a_jpeg_png_and_bmp_without_decoding():
    image = cv2.imread(str(DEMO_IMAGE))
    h, w = image.shape[:2]
    jpeg = DEMO_IMAGE.read_bytes()
    assert image_header(jpeg) == Header(w, h, True)  # baseline: libjpeg can scale it while decoding
    for suffix in (".png", ".bmp"):
        ok, data = cv2.imencode(suffix, image[:30, :50])
        assert ok and image_header(data.tobytes()) == Header(50, 30, False)
    assert image_header(b"GIF89a" + bytes(30)) is None


def test_reduction_picks_the_least_scale_that_fits():
    assert reduction(Header(8000, 8000, True), 4096 * 4096) == 2
    assert reduction(Header(30000, 30000, True), 4096 * 4096) == 8
    assert reduction(Header(40000, 40000, True), 4096 * 4096) is None  # 5000x5000 at 1/8: still too big
    assert reduction(Header(8000, 8000, False), 4096 * 4096) is None  # a PNG cannot be scaled while decoding
    assert reduction(None, 4096 * 4096) == 1  # no header read: decoded as it is
