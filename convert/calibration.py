"""Representative images for int8 calibration, through the same preprocessing the runtime uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.classification.preprocess import batch_to_model_input
from fer_edge.errors import FerEdgeError
from fer_edge.eval.datasets import load_split, read_image_folder, read_images, stratified_sample


def calibration_images(calib: str | Path, n: int, size: tuple[int, int], channels: int, seed: int = 0
                       ) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """(uint8 images N x H x W x C, a description for the sidecar, their label ids) from a FER2013 CSV or a folder.

    A folder may hold class subfolders (sampled stratified, labelled) or just images (no labels: None).
    """
    path = Path(calib)
    if path.is_dir() and not any(p.is_dir() for p in path.iterdir()):
        return _flat_folder(path, n, size, channels, seed)
    if path.is_dir():
        data = read_image_folder(path, size, channels)
        split = "folder"
    else:
        data = load_split(path, "Training", size, channels)
        split = "Training"
    idx = stratified_sample(data.label_ids, n, seed)
    chosen = data.subset(idx)
    images = batch_to_model_input(chosen.images, size, channels)
    return images, {"source": path.name, "split": split, "images": int(len(idx)), "sampling": "stratified by class",
                    "per_class": chosen.counts(), "seed": seed, "undecodable": data.undecodable}, chosen.label_ids


def _flat_folder(path: Path, n: int, size: tuple[int, int], channels: int, seed: int
                 ) -> tuple[np.ndarray, dict, None]:
    files = sorted(path.iterdir())
    np.random.default_rng(seed).shuffle(files)
    images, undecodable = read_images(files, size, channels, limit=n)
    if not images:
        raise FerEdgeError(f"{path}: no readable image for calibration ({undecodable} undecodable files)")
    return np.stack(images), {"source": path.name, "split": "folder", "images": len(images), "sampling": "random",
                              "seed": seed, "undecodable": undecodable}, None
