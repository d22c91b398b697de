"""fer-edge for embedding: `from fer_edge import Analyzer; faces = Analyzer().analyze(image)`.

`Analyzer` runs the same detector, classifier and tracker as `fer-edge run` (no TensorFlow); results are `Face`
records. See `help(Analyzer)`.
"""

from edge.sources import DEMO_IMAGE  # the bundled demo photo (one smiling face), for trying the API
from fer_edge.analyzer import Analyzer, Face

__all__ = ["Analyzer", "Face", "DEMO_IMAGE"]
