"""fer-edge: facial-expression recognition on edge devices.

For embedding: `from fer_edge import Analyzer; faces = Analyzer().analyze(image)`. `Analyzer` runs the same
detector, classifier and tracker as `fer-edge run` (no TensorFlow); results are `Face` records. See
`help(Analyzer)`. The subpackages `fer_edge.train`, `fer_edge.convert` and `fer_edge.benchmarks` are the
desktop side; the device side (this package's own modules) never imports them.

The names below load on first use, so `import fer_edge.<module>` stays light (no OpenCV or LiteRT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Analyzer", "Face", "DEMO_IMAGE"]

if TYPE_CHECKING:
    from .pipeline.analyzer import Analyzer, Face
    from .sources import DEMO_IMAGE


def __getattr__(name: str) -> Any:
    if name in ("Analyzer", "Face"):
        from .pipeline import analyzer

        return getattr(analyzer, name)
    if name == "DEMO_IMAGE":  # the bundled demo photo (one smiling face), for trying the API
        from .sources import DEMO_IMAGE

        return DEMO_IMAGE
    raise AttributeError(f"module 'fer_edge' has no attribute {name!r}")
