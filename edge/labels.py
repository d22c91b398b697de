"""The seven FER2013 expression labels, in the dataset's id order (0-6)."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
