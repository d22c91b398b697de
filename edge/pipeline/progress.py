"""What a person running `fer-edge run` on a long file sees: a progress line on a terminal, a summary table at the end.

Both are sinks: they read the records the loop made, never pixels. The progress line is drawn only on a
terminal (a pipe or a log file gets none: `\\r` redraws would be noise there) and only for sources with an end.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ..records import FrameResult
from ..sources import OpenedSource
from .sink import Closing

CLEAR = "\x1b[K"  # erase to the end of the line: a shorter redraw leaves nothing of the longer one before it


def clock_text(seconds: float, tenths: bool = False) -> str:
    """0:07, 1:02:03 (hours when there are any); with `tenths`, 0:07.3."""
    s = max(0.0, round(seconds, 1) if tenths else float(round(seconds)))
    h, rest = divmod(int(s), 3600)
    m, sec = divmod(rest, 60)
    frac = f".{int(round(s * 10)) % 10}" if tenths else ""
    return f"{h}:{m:02d}:{sec:02d}{frac}" if h else f"{m}:{sec:02d}{frac}"


def progress_text(done: int, total: int, fps: float) -> str:
    """`frame 120/275 (44%), 73.1 fps, ETA 0:02`; the ETA is left out until a rate is known."""
    share = min(done / total, 1.0) if total else 0.0
    eta = f", ETA {clock_text((total - done) / fps)}" if fps > 0 and done < total else ""
    return f"frame {done}/{total} ({share:.0%}), {fps:.1f} fps{eta}"


def wants_progress(source: OpenedSource, stream: TextIO) -> bool:
    """A file or folder of several frames, and a person looking at `stream` (a terminal)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not source.live and (source.length or 0) > 1


class Progress(Closing):
    """Redraws one line on `stream` at most every EVERY_S seconds, and the last frame's; `close` erases it."""

    EVERY_S = 0.25

    def __init__(self, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._total, self._stream, self._clock = total, stream, clock
        self._next = 0.0
        self.drawn = False

    def on_frame(self, result: FrameResult) -> None:
        now = self._clock()
        done = result.frame.index + 1
        if now < self._next and done < self._total:
            return
        self._next = now + self.EVERY_S
        self._stream.write(f"\r{progress_text(done, self._total, result.stats.fps_mean())}{CLEAR}")
        self._stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Erases the line, so the lines logged after it start at the left edge."""
        if self.drawn:
            self._stream.write(f"\r{CLEAR}")
            self._stream.flush()
            self.drawn = False


@dataclass
class _Seen:
    """One face id over the run: how many frames, from when to when, and its smoothed labels."""

    first: int
    last: int
    first_s: float | None
    last_s: float | None
    labels: collections.Counter[str] = field(default_factory=collections.Counter)


class Summary(Closing):
    """Counts faces, ids and each id's smoothed labels, for the table `--summary` prints when the run ends."""

    ROWS = 20  # ids listed, those seen longest first; the rest are counted in one line

    def __init__(self) -> None:
        self.frames = self.faces = 0
        self.ids: dict[int, _Seen] = {}
        self.labels: collections.Counter[str] = collections.Counter()

    def on_frame(self, result: FrameResult) -> None:
        index = result.frame.index
        self.frames += 1
        self.faces += len(result.faces)
        for r in result.faces:
            seen = self.ids.get(r.face_id)
            if seen is None:
                seen = self.ids[r.face_id] = _Seen(index, index, r.video_time, r.video_time)
            seen.last, seen.last_s = index, r.video_time
            seen.labels[r.smoothed_label] += 1
            self.labels[r.smoothed_label] += 1

    def table(self) -> str:
        """The summary as lines of text: totals, label shares over all faces, and one row per id."""
        per_frame = self.faces / self.frames if self.frames else 0.0
        lines = [f"{self.frames} frames, {self.faces} faces ({per_frame:.2f} a frame), {len(self.ids)} face ids"]
        if not self.ids:
            return "\n".join(lines) + "\n"
        lines.append(f"smoothed labels over all faces: {_shares(self.labels)}")
        timed = any(s.first_s is not None for s in self.ids.values())
        head = f"{'id':>6}  {'frames':>6}  {'seen (frames)':<15}" + (f"  {'seen (video)':<17}" if timed else "")
        lines += ["", f"{head}  smoothed labels (share of the id's frames)"]
        ranked = sorted(self.ids.items(), key=lambda kv: (-sum(kv[1].labels.values()), kv[0]))
        for face_id, s in ranked[:self.ROWS]:
            row = f"{face_id:>6}  {sum(s.labels.values()):>6}  {f'{s.first}-{s.last}':<15}"
            if timed:
                span = (f"{clock_text(s.first_s, True)}-{clock_text(s.last_s, True)}"
                        if s.first_s is not None and s.last_s is not None else "")
                row += f"  {span:<17}"
            lines.append(f"{row}  {_shares(s.labels)}")
        if len(ranked) > self.ROWS:
            rest = ranked[self.ROWS:]
            lines.append(f"... and {len(rest)} more ids, seen in {sum(sum(s.labels.values()) for _, s in rest)} "
                         "face records in all")
        return "\n".join(lines) + "\n"


def _shares(counts: collections.Counter[str], shown: int = 4) -> str:
    """`happy 62%, neutral 30%, uncertain 8%`: the most common first, the smallest shares folded into `other`."""
    total = sum(counts.values())
    top = counts.most_common(shown)
    parts = [f"{label} {n / total:.0%}" for label, n in top]
    rest = total - sum(n for _, n in top)
    if rest:
        parts.append(f"other {rest / total:.0%}")
    return ", ".join(parts)
