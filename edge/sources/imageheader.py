"""A picture's width and height from its header (JPEG, PNG, BMP), without decoding it, so a still too large for
memory is scaled down while decoding, or skipped, before any pixel is held."""

from __future__ import annotations

import math
from typing import NamedTuple


class Header(NamedTuple):
    width: int
    height: int
    reducible: bool  # a baseline JPEG: libjpeg scales it down while decoding, never holding the full size


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_BASELINE = {0xC0, 0xC1}  # progressive and lossless JPEGs keep every coefficient at full size, whatever the scale


def jpeg_header(data: bytes) -> Header | None:
    """Walks the marker segments to the frame header (SOFn): height and width sit 3 and 5 bytes into it."""
    i = 2
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
        elif marker in _SOF:
            return Header(int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big"),
                          marker in _BASELINE)
        elif marker == 0xDA:  # the scan starts before any frame header: not a JPEG we can size
            return None
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def image_header(data: bytes) -> Header | None:
    """Width and height from a JPEG, PNG or BMP header, without decoding; None for other formats."""
    if data[:2] == b"\xff\xd8":
        return jpeg_header(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return Header(int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), False)
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = (abs(int.from_bytes(data[k:k + 4], "little", signed=True)) for k in (18, 22))
        return Header(width, height, False)
    return None


def reduction(header: Header | None, max_pixels: int) -> int | None:
    """The least decode scale (1, 2, 4, 8) that fits `max_pixels`; None when none does (1 for an unknown header)."""
    if header is None:
        return 1
    for factor in (1, 2, 4, 8) if header.reducible else (1,):
        if math.ceil(header.width / factor) * math.ceil(header.height / factor) <= max_pixels:
            return factor
    return None
