"""The rows and points every bench output is made of, flattened from results.json: a row per model and thread
count, the accuracy-against-latency points with their Pareto fronts, the loop plot's points. One place, so the
table, the CSV, the plots and `--compare` agree on them."""

from __future__ import annotations

SCHEMA = "fer-edge-bench/1"
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
                "ferplus_accuracy": m.get("ferplus_accuracy"), "ferplus_neutral_recall": m.get("ferplus_neutral_recall"),
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


def plot_points(results: dict) -> list[dict]:
    """Points of the accuracy-against-latency plot: every model with an accuracy, at the first thread count asked
    for (the other counts are in the table: their points would sit on top of each other). `pareto` marks the front
    against latency, `pareto_macs` the front against MACs among the points whose MACs are known."""
    first = (results["settings"].get("threads") or [1])[0]
    pts = [r for r in model_rows(results) if r["status"] == "ok" and r["accuracy"] is not None and r.get("p50_ms")
           and r["threads"] == first]
    flags = pareto_front([(r["p50_ms"], r["accuracy"]) for r in pts])
    counted = [r for r in pts if r.get("macs")]
    by_macs = dict(zip((r["model"] for r in counted), pareto_front([(r["macs"], r["accuracy"]) for r in counted])))
    return [r | {"pareto": f, "pareto_macs": by_macs.get(r["model"], False)} for r, f in zip(pts, flags)]


def loop_points(results: dict) -> list[dict]:
    """Points of the loop plot: each loop row that ran, with its model's accuracy (measured or from the sidecar)."""
    accuracy = {m["name"]: m.get("accuracy") for m in results["models"] if m["status"] == "ok"}
    return [{"label": f"{v['detector']} + {v['model']} ×{v['threads']}", "fps": v["fps"], "accuracy": accuracy[v["model"]]}
            for v in results.get("video", []) if v["status"] == "ok" and v.get("fps") and accuracy.get(v["model"])]
