"""Low-resolution augmentation (`--lowres P`): a share P of the Training faces is shrunk to a few pixels a side and
scaled back to the model's input, as the loop's crop of a small face in a frame is (a face whose box is 38 px is
upscaled to 48). FER2013's faces are all sharp 48x48 crops, and a model trained on them alone falls behind on blurred
ones (docs/bench.md, "Small faces and the crop"). With `--teacher`, the target stays the teacher's view of the sharp
face, so the student learns to read the blurred one as the teacher reads the sharp one."""

from __future__ import annotations

import keras
from keras import ops

SIDES = (20, 26, 32, 40)  # px a side a face is shrunk to, each as likely; about a loop crop of faces of 24 to 48 px


@keras.saving.register_keras_serializable(package="fer_edge")
class RandomLowRes(keras.layers.Layer):
    """Each face, with probability `rate` (training only), shrunk to one of `sides` (bilinear with antialiasing, as an
    area resize) and scaled back (bilinear); the rest pass unchanged."""

    def __init__(self, rate: float, sides: tuple[int, ...] = SIDES, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1 or not sides:
            raise ValueError(f"RandomLowRes: rate {rate} not in 0-1 or no sides")
        self.rate, self.sides, self.seed = float(rate), tuple(int(s) for s in sides), seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training or self.rate == 0:
            return images
        height, width = images.shape[1], images.shape[2]
        shrunk = [ops.image.resize(ops.image.resize(images, (s, s), antialias=True), (height, width))
                  for s in self.sides]
        n = ops.shape(images)[0]
        pick = keras.random.randint((n,), 0, len(self.sides), seed=self.generator)
        chosen = ops.sum(ops.stack(shrunk, axis=1) * ops.reshape(ops.one_hot(pick, len(self.sides), dtype=images.dtype),
                                                                 (n, len(self.sides), 1, 1, 1)), axis=1)
        hit = ops.cast(keras.random.uniform((n,), seed=self.generator) < self.rate, images.dtype)
        hit = ops.reshape(hit, (n, 1, 1, 1))
        return hit * chosen + (1 - hit) * images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"rate": self.rate, "sides": list(self.sides), "seed": self.seed}
