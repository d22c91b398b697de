"""Scoring detections against reference boxes: one-to-one matching at IoU >= 0.3, recall and extra boxes."""

from __future__ import annotations

import numpy as np

from fer_edge.geometry import iou_matrix

MATCH_IOU = 0.3  # loose on purpose: detectors draw the face box a little differently (YuNet's is taller)
SIZE_BANDS = ((0, 40), (40, 80), (80, 10_000))  # face box width, px: recall is also given per band


def pairs(reference: list[list[float]], found: list[list[float]], iou: float = MATCH_IOU) -> list[tuple[int, int]]:
    """One-to-one (reference index, found index) matches at IoU >= `iou`, greedy from the highest IoU."""
    if not reference or not found:
        return []
    m = iou_matrix(np.asarray(reference, np.float32), np.asarray(found, np.float32))
    candidates = sorted(((m[i, j], i, j) for i, j in zip(*np.nonzero(m >= iou))), reverse=True)
    used_r, used_f, out = set(), set(), []
    for _, i, j in candidates:
        if i not in used_r and j not in used_f:
            used_r.add(i)
            used_f.add(j)
            out.append((int(i), int(j)))
    return out


def score(reference: list[list[list[float]]], found: list[list[list[float]]], iou: float = MATCH_IOU) -> dict:
    """Recall (overall and per face-width band) and unmatched detections per frame over a clip."""
    if len(reference) != len(found):
        raise ValueError(f"{len(reference)} reference frames but {len(found)} detected ones")
    hit = extra = 0
    band_hit, band_all = [0] * len(SIZE_BANDS), [0] * len(SIZE_BANDS)
    for ref, det in zip(reference, found):
        matched = {i for i, _ in pairs(ref, det, iou)}
        hit += len(matched)
        extra += len(det) - len(matched)
        for i, b in enumerate(ref):
            k = next(k for k, (lo, hi) in enumerate(SIZE_BANDS) if lo <= b[2] - b[0] < hi)
            band_all[k] += 1
            band_hit[k] += i in matched
    faces = sum(band_all)
    bands = {f"{lo}-{hi}px" if hi < 10_000 else f">={lo}px": round(h / a, 4) if a else None
             for (lo, hi), h, a in zip(SIZE_BANDS, band_hit, band_all)}
    return {"faces": faces, "found": hit, "recall": round(hit / max(1, faces), 4),
            "extra_per_frame": round(extra / max(1, len(reference)), 4), "recall_by_width": bands}
