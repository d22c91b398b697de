"""BlazeFace over overlapping tiles of a large frame: small faces in a room view stay big enough to be found.

Letterboxing a 1920x1080 frame into BlazeFace back's 256x256 input shrinks a
40 px face to 5 px, below the 8 px the model needs. Here the frame is scaled
by `tile_scale` (0.4: a 40 px face becomes 16 px, a 20 px one 8 px) and cut
into 256x256 tiles that overlap by at least `min_overlap` input pixels, so a
face up to that size (times 1/tile_scale in the frame) lies whole in some tile.
The whole frame, letterboxed as the `back` detector does, is searched too:
it finds the faces bigger than a tile holds. A tile's big box that this pass
missed gets a second look (`SecondLook`) before it counts. A frame that fits
one tile at that scale gets only that pass: there `room` is `back`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import UsageError
from ..geometry import Box, Detection, iou_matrix
from .base import option
from .blazeface import BlazeFaceDetector
from .spread import Part
from .vet import VET_SCORE, BigBoxVet
from .zoom import ZOOM_VARIANT, close_faces

TILE_SIZE = 256  # BlazeFace back's input
TILE_SCALE = 0.4  # input pixels per frame pixel in the tiles: a 20 px face becomes 8 px, the least back finds
LEAST_FACE = 8  # input pixels: the smallest face back finds
MIN_OVERLAP = 64  # input pixels: faces up to 64 / TILE_SCALE = 160 frame px lie whole in some tile
SAME_FACE = 0.5  # intersection over the smaller box: above this, two boxes are one face
# A tile box this wide or more in the whole-frame pass's 256 px input needs that pass to have found it too, or a
# second look on a crop around it: the false boxes tiles add (a sleeve, a hand, a patterned backdrop seen up close,
# in the shared photos) are all of that size, and the second look rejects each of them; the whole-frame pass alone
# finds only half the 80-160 px faces at 1080p (10-20 px in its input), which the tiles all find.
CONFIRM_PX = 12
# A tile box scoring under the threshold but at least HINT_SCORE, narrower than HINT_PX frame px and on no face found,
# is a hint: the tiles see a 20-40 px face at 8-16 px, where back often scores a real one 0.2-0.4, and a close look
# (zoom.py) at full size finds it if it is one. Composed 1080p clips, recall of YuNet's faces with hints and without:
# 0.878 and 0.847 on seeds 0-9 (the two values were chosen there: a floor of 0.3 or 0.1 did worse), 0.865 and 0.820 on
# seeds 10-19, which nothing was chosen on; boxes on no face a frame 0.18 and 0.09, 0.17 and 0.16
# (python -m fer_edge.benchmarks.scene_misses; docs/bench.md has the defaults' figures).
HINT_SCORE = 0.2
HINT_PX = 60

# The second look at a box only a tile found (`SecondLook`, below), which the tracker and the big-box vet take.
CHECK_VARIANT = "full"  # BlazeFace full-range, 192x192: the one that said "no face" to every texture tried
CHECK_CONTEXT = 3.0  # the crop is this many face widths wide: the face fills a third of the model's input
CHECK_IOU = 0.3  # the second look's box must overlap the tile's this much to count as the same face
# The second look's threshold (`detector.options.check_score`; full-range's own). Lower puts more boxes on textures
# and, on composed clips nothing was chosen on, finds no more faces (docs/run.md, "Tracking", has the figures).
CHECK_SCORE = 0.5


def tile_starts(length: int, tile: int, min_overlap: int) -> list[int]:
    """Evenly spread tile origins covering [0, length) with at least `min_overlap` between neighbours."""
    if length <= tile:
        return [0]
    n = math.ceil((length - min_overlap) / (tile - min_overlap))
    step = (length - tile) / (n - 1)
    return [round(i * step) for i in range(n)]


def tile_grid(width: int, height: int, tile: int, min_overlap: int) -> list[tuple[int, int, int, int]]:
    """Tiles (x, y, w, h) over a width x height image, row by row."""
    return [(x, y, min(tile, width), min(tile, height))
            for y in tile_starts(height, tile, min_overlap) for x in tile_starts(width, tile, min_overlap)]


def merge(dets: list[Detection], cut: list[bool]) -> list[Detection]:
    """One box per face: whole boxes before ones cut by a tile edge, then by score; drop any box that covers
    more than SAME_FACE of a kept box (or is so covered)."""
    order = sorted(range(len(dets)), key=lambda i: (cut[i], -dets[i].score))
    kept: list[Detection] = []
    for i in order:
        b = dets[i].box
        if all(_overlap_of_smaller(b, k.box) < SAME_FACE for k in kept):
            kept.append(dets[i])
    return sorted(kept, key=lambda d: -d.score)


def with_close(dets: Sequence[Detection], found: Sequence[Detection]) -> list[Detection]:
    """A frame's detections and its close looks' faces (zoom.py), less those a detection already has."""
    return list(dets) + [d for d in found if not _on_known(d.box, [k.box for k in dets])]


def _on_known(box: Box, known: Sequence[Box]) -> bool:
    return any(_overlap_of_smaller(box, k) >= SAME_FACE for k in known)


def _overlap_of_smaller(a: Box, b: Box) -> float:
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(1e-9, min(a.width * a.height, b.width * b.height))


def _shift(det: Detection, dx: float, dy: float, scale: float) -> Detection:
    """Tile pixels -> frame pixels; the box is marked as a tile's."""
    b = det.box
    box = Box((b.x1 + dx) / scale, (b.y1 + dy) / scale, (b.x2 + dx) / scale, (b.y2 + dy) / scale)
    kps = tuple(((x + dx) / scale, (y + dy) / scale) for x, y in det.keypoints)
    return Detection(box, det.score, kps, tile_only=True)


SEARCHES = ("spread", "whole")


@dataclass(frozen=True)
class RoomOptions:
    search: str = option("spread", "spread: on a video, search a part of the frame every frame or two, where "
                                   "something moved first (edge/detection/spread.py); whole: all of it every Nth frame")
    zoom: bool = option(True, "with search=spread, also look at small patches of motion no followed face explains on "
                              "a full-size crop, for faces too small for the tiles (edge/detection/zoom.py)")
    check_score: float = option(CHECK_SCORE, "the score a box only a tile found needs from the second look (BlazeFace "
                                             "full-range on a crop around it) to be reported: lower puts more boxes on "
                                             "textures (docs/run.md, \"Tracking\")")

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise UsageError(f"detector.options.search: {self.search!r} is not one of {', '.join(SEARCHES)}")
        if not 0 < self.check_score < 1:
            raise UsageError(f"detector.options.check_score: must be between 0 and 1, not {self.check_score}")


class TiledBlazeFace:
    """The `room` detector: BlazeFace back on the whole frame, and on tiles of it for the faces too small for that."""

    name = "room"
    Options = RoomOptions

    @classmethod
    def load(cls, name: str, options: RoomOptions, threads: int, min_score: float | None) -> TiledBlazeFace:
        return cls(min_score=min_score, threads=threads, spread=options.search == "spread", zoom=options.zoom,
                   check_score=options.check_score)

    def __init__(self, min_score: float | None = None, threads: int = 1, tile_scale: float = TILE_SCALE,
                 min_overlap: int = MIN_OVERLAP, spread: bool = False, zoom: bool = False,
                 check_score: float = CHECK_SCORE):
        self.spread = spread  # the loop searches a video in parts (`parts`, `search`) rather than all at once
        self.close = CropLook(threads, ZOOM_VARIANT) if spread and zoom else None  # close looks at small motion
        self.closer = 0  # close looks run since the start
        self.passes = 0  # BlazeFace passes run since the start (the whole frame or a tile each)
        self.back = BlazeFaceDetector("back", min_score=min_score, threads=threads)
        self.size = TILE_SIZE
        self.tile_scale, self.min_overlap = tile_scale, min_overlap
        self.hints: list[Box] = []  # the last search's tile boxes under the threshold where a close look may pay
        self.look = SecondLook(threads, min_score=check_score)  # the tracker's second look at tile-only faces, the vet's
        self.vet = BigBoxVet(self.look)

    def grid(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """Tiles in scaled-frame pixels; empty when the frame fits one tile (the whole-frame pass is then enough)."""
        sw, sh = round(width * self.tile_scale), round(height * self.tile_scale)
        if max(sw, sh) <= self.size:
            return []
        return tile_grid(sw, sh, self.size, self.min_overlap)

    def macs(self, width: int, height: int) -> int:
        """Multiply-accumulates per detect call: one back invoke for the whole frame and one per tile."""
        return (1 + len(self.grid(width, height))) * self.back.spec.macs

    @property
    def spent_macs(self) -> int:
        """MACs spent since the start: every pass run, the second looks at big tile boxes and the close looks."""
        return self.passes * self.back.spec.macs + self.looked_macs

    @property
    def looked_macs(self) -> int:
        """MACs spent on second looks at big tile boxes and on close looks since the start, on top of `macs` per
        call."""
        return self.vet.macs + self.closer * self.close_macs

    @property
    def close_macs(self) -> int:
        """One close look's MACs; 0 when there are none (zoom off, or no spread search)."""
        return self.close.macs if self.close is not None else 0

    def look_close(self, frame: np.ndarray, crop: Box) -> list[Detection]:
        """The faces on `crop` of the frame at full size (a spread search's close look, zoom.py), as a tile's."""
        if self.close is None:
            return []
        self.closer += 1
        return close_faces(self.close.around(frame, crop, 1.0), crop)

    def parts(self, width: int, height: int) -> list[Part]:
        """The search in parts a spread search (spread.py) runs one or two at a time: the whole-frame pass, for the
        faces too big for a tile, then each tile, for the faces that lie whole inside it."""
        tiles = self.grid(width, height)
        most = self.min_overlap / self.tile_scale  # a face this wide lies whole in some tile
        macs = self.back.spec.macs
        whole = Part((0.0, 0.0, float(width), float(height)), most if tiles else 0.0, math.inf, macs)
        s = self.tile_scale
        least = LEAST_FACE / s
        if self.spread:  # a static texture's verdict holds for two rounds of parts, as it did for one whole search
            self.vet.memory = 2 * (1 + len(tiles))
        return [whole] + [Part((x / s, y / s, (x + tw) / s, (y + th) / s), least, most, macs) for x, y, tw, th in tiles]

    def detect(self, frame: np.ndarray) -> list[Detection]:
        h, w = frame.shape[:2]
        return self.search(frame, range(1 + len(self.grid(w, h))))

    def search(self, frame: np.ndarray, which: Iterable[int], known: Sequence[Box] = ()) -> list[Detection]:
        """Faces found by the parts `which` (indices into `parts`: 0 the whole frame, i the (i-1)th tile). A big tile
        box the whole-frame pass (when it ran) did not see is looked at again, unless it lies on a `known` face
        (one being followed): that one is a face already. Small tile boxes under the threshold go to `hints`."""
        which = set(which)
        h, w = frame.shape[:2]
        tiles = self.grid(w, h)
        whole = self.back.detect(frame) if 0 in which else []
        self.hints = []
        self.passes += (0 in which) + sum(1 for i in which if 0 < i <= len(tiles))
        if not tiles:
            return whole
        self.vet.next_call()
        # a whole-frame box at 1080p is a face of 90 px or more, which scores 0.7-0.9; one scoring under VET_SCORE
        # (a raised hand on a poster: 0.55) gets the closer look too, unless it lies on a face being followed
        whole = [d for d in whole if d.score >= VET_SCORE or _on_known(d.box, known) or self.vet(frame, d, 0.0)]
        s = self.tile_scale
        sw, sh = round(w * s), round(h * s)
        everything = all(n in which for n in range(1, len(tiles) + 1))
        scaled = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA) if everything else None
        confirm = CONFIRM_PX * max(w, h) / self.size  # frame px: a face this wide is the whole-frame pass's to find
        dets, cut = list(whole), [False] * len(whole)
        hinted: list[Detection] = []
        for n, (x, y, tw, th) in enumerate(tiles, start=1):
            if n not in which:
                continue
            # a tile or two of a spread search: only its own pixels are scaled (the whole frame takes 2-3 ms at 1080p)
            image = scaled[y:y + th, x:x + tw] if scaled is not None else cv2.resize(
                frame[round(y / s):min(h, round((y + th) / s)), round(x / s):min(w, round((x + tw) / s))], (tw, th),
                interpolation=cv2.INTER_AREA)
            found, below = self.back.detect_below(image, HINT_SCORE if self.close is not None else None)
            hinted += [h for h in (_shift(d, x, y, s) for d in below) if h.box.width < HINT_PX]
            for d in found:
                fd = _shift(d, x, y, s)
                if fd.box.width >= confirm and all(_overlap_of_smaller(fd.box, o.box) < SAME_FACE for o in whole):
                    if not _on_known(fd.box, known) and not self.vet(frame, fd):
                        continue  # big, unseen by the whole-frame pass, not a face on a closer look: a sleeve, a hand
                    fd = dataclasses.replace(fd, tile_only=False)  # looked at: the tracker need not look again
                b = d.box
                # touches a tile edge that is not a frame edge: the face may be cut, another tile has it whole
                cut.append((b.x1 < 1 and x > 0) or (b.y1 < 1 and y > 0) or (b.x2 > tw - 1 and x + tw < sw)
                           or (b.y2 > th - 1 and y + th < sh))
                dets.append(fd)
        found_boxes = [f.box for f in dets]  # a hint on a face another tile found is that face: nothing to look for
        self.hints = [d.box for d in sorted(hinted, key=lambda d: -d.score) if not _on_known(d.box, found_boxes)]
        # a tile's box that the whole-frame pass saw too is not tile-only, whichever of the two merge kept
        return [dataclasses.replace(d, tile_only=False) if d.tile_only and any(
            _overlap_of_smaller(d.box, o.box) >= SAME_FACE for o in whole) else d for d in merge(dets, cut)]


class CropLook:
    """A BlazeFace variant run on square crops around boxes, loaded at its first look (a run that never needs it
    never loads it)."""

    variant = CHECK_VARIANT

    def __init__(self, threads: int = 1, variant: str | None = None, min_score: float | None = None) -> None:
        self.threads = threads
        self.variant = variant or self.variant
        self.min_score = min_score  # None: the variant's own threshold
        self._model: BlazeFaceDetector | None = None

    @property
    def macs(self) -> int:
        from .blazeface import VARIANTS

        return VARIANTS[self.variant].macs

    def around(self, image: np.ndarray, box: Box, context: float) -> list[Detection]:
        """The faces found on a square crop `context` box widths wide centred on `box`, in frame pixels."""
        if self._model is None:
            self._model = BlazeFaceDetector(self.variant, min_score=self.min_score, threads=self.threads)
        crop, x0, y0 = context_crop(image, box, context)
        return [Detection(Box(d.box.x1 + x0, d.box.y1 + y0, d.box.x2 + x0, d.box.y2 + y0), d.score,
                          tuple((x + x0, y + y0) for x, y in d.keypoints)) for d in self._model.detect(crop)]


class SecondLook(CropLook):
    """A closer look at a box only a tile found: BlazeFace full-range on a square crop three faces wide around it.

    The tiles see a 40 px face as 16 px, where buttons, letters and a painted coat of arms pass for faces; at 64 px
    in another model's input they mostly do not (docs/run.md, "Tracking"). The model loads at the first look, so a frame
    that never tiles (640x480) never loads it. 117 M MACs a look.
    """

    def __call__(self, image: np.ndarray, box: Box) -> bool:
        """Whether the crop around `box` of the BGR frame `image` holds a face at that place and size."""
        return self.score(image, box) > 0

    def score(self, image: np.ndarray, box: Box) -> float:
        """The best score of a face found on the crop at `box`'s place and size (IoU CHECK_IOU); 0 for none."""
        found = self.around(image, box, CHECK_CONTEXT)
        return max((float(d.score) for d in found if _iou(d.box, box) >= CHECK_IOU), default=0.0)


def context_crop(image: np.ndarray, box: Box, context: float) -> tuple[np.ndarray, int, int]:
    """A square `context` box widths wide centred on `box`, padded by repeating the edge where it leaves the frame;
    and its top-left corner in frame pixels."""
    h, w = image.shape[:2]
    side = max(2, int(round(max(box.width, box.height) * context)))
    cx, cy = box.center
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1, x2, y2 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if x2 <= x1 or y2 <= y1:
        return np.zeros((side, side) + image.shape[2:], image.dtype), x0, y0
    crop = image[y1:y2, x1:x2]
    pads = (y1 - y0, y0 + side - y2, x1 - x0, x0 + side - x2)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    return crop, x0, y0


def _iou(a: Box, b: Box) -> float:
    return float(iou_matrix(a.as_array()[None], b.as_array()[None])[0, 0])
