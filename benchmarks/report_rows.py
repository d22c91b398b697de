"""The rows and points every bench output is made of, flattened from results.json: a row per model and thread
count, the accuracy-against-latency points with their Pareto fronts, the loop plot's points. One place, so the
table, the CSV, the plots and `--compare` agree on them."""

from __future__ import annotations

SCHEMA = "fer-edge-bench/1"
# FER+ figures a model row carries: majority accuracy (ours), by the published rule, neutral recall
FERPLUS_KEYS = ("ferplus_accuracy", "ferplus_published_accuracy", "ferplus_neutral_recall")
PNG_POINTS_KEY = "fer-edge-points"  # a PNG text chunk: how many points the plot holds (checked by the tests)


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For (latency, accuracy) points: True where no other point is at least as fast and as accurate, and
    strictly better in one of the two."""
    flags = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(lo <= lat and ao >= acc and (lo < lat or ao > acc)
                        for j, (lo, ao) in enumerate(points) if j != i)
        flags.append(not dominated)
    return flags


def model_rows(results: dict) -> list[dict]:
    """One flat row per model and thread count (failed models: one row with the error)."""
    rows = []
    for m in results["models"]:
        base = {"model": m["name"], "kind": m["kind"], "variant": m.get("variant"), "size_bytes": m.get("size_bytes"),
                "macs": m.get("macs"), "params": m.get("params"),
                "accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"), "accuracy_source": m.get("accuracy_source"),
                **{k: m.get(k) for k in FERPLUS_KEYS},
                "status": m["status"], "error": m.get("error")}
        if not m.get("threads"):
            rows.append(base | {"threads": None})
        for threads, t in sorted(m.get("threads", {}).items(), key=lambda kv: int(kv[0])):
            lat = t.get("latency_ms", {})
            rows.append(base | {"threads": int(threads), "load_ms": t.get("load_ms"),
                                **{f"{k}_ms": lat.get(k) for k in ("min", "mean", "p50", "p90", "p99")},
                                "cv": lat.get("cv"), "peak_rss_mb": t.get("peak_rss_mb"),
                                "status": t.get("status", m["status"]), "error": t.get("error") or m.get("error")})
    return rows


def plotted(results: dict) -> tuple[str, str]:
    """The accuracy the plots and the front show, as (key, words): FER+ majority accuracy when every model with an
    accuracy has one (the labels people agree with, which the default learned), else FER2013's."""
    scored = [m for m in results["models"] if m["status"] == "ok" and m.get("accuracy") is not None]
    if scored and all(m.get("ferplus_accuracy") is not None for m in scored):
        return "ferplus_accuracy", "FER+ majority accuracy"
    return "accuracy", "FER2013 accuracy"


def plot_points(results: dict) -> list[dict]:
    """Points of the accuracy-against-latency plot: every model with an accuracy, at the first thread count asked
    for (the other counts are in the table: their points would sit on top of each other), at `y` the accuracy
    `plotted` chooses. `pareto` marks the front against latency, `pareto_macs` the front against MACs among the
    points whose MACs are known."""
    key, _ = plotted(results)
    first = (results["settings"].get("threads") or [1])[0]
    pts = [r | {"y": r[key]} for r in model_rows(results) if r["status"] == "ok" and r["accuracy"] is not None
           and r.get(key) is not None and r.get("p50_ms") and r["threads"] == first]
    flags = pareto_front([(r["p50_ms"], r["y"]) for r in pts])
    counted = [r for r in pts if r.get("macs")]
    by_macs = dict(zip((r["model"] for r in counted), pareto_front([(r["macs"], r["y"]) for r in counted])))
    return [r | {"pareto": f, "pareto_macs": by_macs.get(r["model"], False)} for r, f in zip(pts, flags)]


def loop_points(results: dict) -> list[dict]:
    """Points of the loop plot: each loop row that ran, at `y` its model's accuracy as `plotted` chooses (measured
    or from the sidecar)."""
    key, _ = plotted(results)
    accuracy = {m["name"]: m.get(key) for m in results["models"] if m["status"] == "ok"}
    return [{"label": f"{v['detector']} + {v['model']} ×{v['threads']}", "fps": v["fps"], "y": accuracy[v["model"]]}
            for v in results.get("video", []) if v["status"] == "ok" and v.get("fps") and accuracy.get(v["model"])]
