"""What bench knows of each model it measures: which files `--models` names, each one's entry in results.json (its
sidecar's variant and accuracy, MACs and parameters counted from the file), whether an Edge TPU model can run here,
a loop row's MACs per frame, and a worker's measurement recorded into the entry."""

from __future__ import annotations

from pathlib import Path

from fer_edge.benchmarks.report_rows import FERPLUS_KEYS
from fer_edge.bundled import MODELS_DIR
from fer_edge.errors import FerEdgeError, UsageError


def find_models(specs: tuple[str, ...]) -> list[Path]:
    """Files as given; folders contribute their *.tflite (not recursive: the detectors sit in a subfolder)."""
    found: list[Path] = []
    for spec in specs or (str(MODELS_DIR),):
        path = Path(spec)
        if path.is_dir():
            models = sorted(path.glob("*.tflite"))
            if not models:
                raise UsageError(f"{path}: no .tflite model in this folder")
            found += models
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path}: no such model file or folder")
    return list(dict.fromkeys(found))


def model_entry(path: Path, kind: str) -> dict:
    from fer_edge.classification.sidecar import read_sidecar

    entry = {"name": path.stem + (" (keras)" if kind == "keras" else ""), "path": str(path), "kind": kind,
             "size_bytes": path.stat().st_size if path.is_file() else None, "status": "ok", "threads": {}}
    if kind == "keras":
        return entry | {"variant": "keras float32", "macs": None, "params": None}  # counted for .tflite files only
    try:
        side = read_sidecar(path) or {}
    except FerEdgeError as exc:
        side = {}
        entry["sidecar_error"] = str(exc)
    entry["variant"] = side.get("variant")
    entry |= _cost(path, side)
    acc = side.get("accuracy") or {}
    if acc.get("tflite") is not None:
        entry["sidecar_accuracy"] = {"accuracy": acc["tflite"], "split": acc.get("split"),
                                     "data": (acc.get("fer2013") or {}).get("data") or acc.get("data")}
        plus = acc.get("ferplus") or {}
        if isinstance(plus, dict) and plus.get("accuracy") is not None:
            entry["sidecar_accuracy"] |= {"ferplus_accuracy": plus["accuracy"],
                                          "ferplus_neutral_recall": (plus.get("recall") or {}).get("neutral"),
                                          "ferplus_published_accuracy": (plus.get("published_rule") or {}).get("accuracy")}
    return entry


def _cost(path: Path, side: dict) -> dict:
    """MACs and parameters counted from the file; the sidecar's when the file can't be read here (an Edge TPU
    model), else None: a model that can't be counted is still measured."""
    from fer_edge.classification.cost import model_cost

    try:
        cost = model_cost(path)
        return {"macs": cost.macs, "params": cost.params}
    except FerEdgeError:
        return {"macs": side.get("macs"), "params": side.get("params")}


def loop_cost(model: dict, result: dict) -> dict:
    """MACs per frame of a loop row: detector MACs (the loop's detector on the clip's frame size: `room`'s tiles and
    YuNet's full frame counted as `run` counts them) / detect-every, or for `room` what it spent a frame (passes,
    second looks, close looks) + classifier MACs x faces per frame + what the tracker spent a frame (optical flow,
    second looks, regains), as the scene benchmark counts them."""
    from fer_edge.classification.cost import loop_macs_per_frame

    if not result.get("ok"):
        return {}
    det = result.get("detector_macs")
    spent = result.get("detector_macs_per_frame")  # `room`: what it spent a frame (a spread search's parts and looks)
    per_frame = (loop_macs_per_frame(det, result["detect_every"], model.get("macs"), result["faces_per_frame"])
                 if spent is None else loop_macs_per_frame(spent, 1, model.get("macs"), result["faces_per_frame"]))
    tracking = result.get("tracking_macs_per_frame") or 0
    return {"detector_macs": det, "classifier_macs": model.get("macs"), "tracking_macs_per_frame": tracking,
            "macs_per_frame": None if per_frame is None else round(per_frame + tracking)}


def edgetpu_rows(models: list[dict]) -> str:
    """Models compiled for the Edge TPU (`*_edgetpu.tflite`, edgetpu_compiler's name) are measured on it when the
    delegate loads (the detector stays on the CPU), and skipped, saying why, when it does not. Returns what was found."""
    from fer_edge.runtime import edgetpu_delegate

    tpu = [m for m in models if m["kind"] == "tflite" and Path(m["path"]).stem.endswith("_edgetpu")]
    try:
        edgetpu_delegate()
        found = "found: libedgetpu loaded its delegate"
    except FerEdgeError as exc:
        found = f"not found ({exc})"
    for m in tpu:
        if found.startswith("found"):
            m["accelerator"] = "edgetpu"
        else:
            m["status"], m["error"] = "skipped", f"no Edge TPU: {found}"
    return found


def record_model(m: dict, threads: int, r: dict) -> None:
    if not r.get("ok"):
        m["threads"][str(threads)] = {"status": "failed", "error": r.get("error")}
        if all(t.get("status") == "failed" for t in m["threads"].values()):
            m["status"], m["error"] = "failed", r.get("error")
        return
    m["status"] = "ok"
    m.pop("error", None)
    for key in ("input", "dtype"):
        m[key] = r[key]
    if "accuracy" in r:
        m |= {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"], "images": r["images"], "accuracy_source": "measured",
              "accuracy_seconds": r["accuracy_seconds"]}
        m |= {k: r[k] for k in FERPLUS_KEYS + ("ferplus_images", "ferplus_published_images") if k in r}
    m["threads"][str(threads)] = {"status": "ok", **{k: r[k] for k in
                                  ("load_ms", "latency_ms", "runs", "baseline_rss_mb", "peak_rss_mb", "tensorflow_loaded")}}
