"""What a scene benchmark run reports: report.md (a table per clip, a row per variant, the composed clip against
issue 17's targets) and scene.png, both from results.json alone."""

from __future__ import annotations

from pathlib import Path

from fer_edge.benchmarks.tables import fmt

# issue 17's targets for the defaults at 1920x1080: (measure, bound, at least?)
TARGETS = (("recall", 0.90, True), ("recall_of_yunet", 0.90, True), ("no_face_share", 0.05, False),
           ("no_face_per_frame", 0.3, False), ("box_iou_carried", 0.6, True), ("ids_per_track", 1.3, False),
           ("macs_per_frame", 150e6, False), ("fps", 25.0, True))


def _m(v) -> str:
    return "-" if v is None else f"{v / 1e6:,.0f}"


def meets(row: dict) -> list[tuple[str, bool | None]]:
    """Each of issue 17's targets for this row: met, missed, or None when not measured."""
    out = []
    for key, bound, at_least in TARGETS:
        v = row.get(key)
        out.append((key, None if v is None else (v >= bound if at_least else v <= bound)))
    return out


def mean_rows(rows: list[dict]) -> list[dict]:
    """Per variant, the mean of each target's measure over the clips it ran on (None where any clip lacks it)."""
    out = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        mean: dict = {"variant": variant, "clip": "mean"}
        for key, _, _ in TARGETS:
            values = [r.get(key) for r in mine]
            mean[key] = None if any(v is None for v in values) else sum(values) / len(values)
        out.append(mean)
    return out


def render_markdown(results: dict) -> str:
    """One table per clip, a row per variant, then the composed clip's rows against the targets."""
    lines = [f"# Real-footage scene benchmark: {results['machine_name']}", "",
             f"Matching: one-to-one at IoU >= {results['match_iou']}. Loop: {results['threads']} interpreter thread(s) on "
             f"{results['cpus']} CPU(s), classifier `{results['classifier']}`. Load average {results['load_avg']}.", ""]
    bands = None
    for name, clip in results["clips"].items():
        info = clip["info"]
        lines += [f"## {name}: {info['width']}x{info['height']}, {info['frames']} frames, truth: {clip['truth_from']}", "",
                  f"{info['faces_per_frame']} faces a frame in {info['tracks']} tracks"
                  + (f", {info['min_face']:.0f}-{info['max_face']:.0f} px wide, seed {info['seed']}; backdrops: "
                     + ", ".join(f"`{s['backdrop']}`" for s in info["segments"]) if name.startswith("composed") else "")
                  + "."]
        ref = clip.get("yunet")
        if ref:
            lines.append(f"YuNet at full size finds {ref['recall']:.3f} of the known faces, {ref['no_face_per_frame']:.2f} "
                         "boxes on no face a frame.")
        rows = [r for r in results["rows"] if r["clip"] == name]
        bands = bands or (list(rows[0]["recall_by_width"]) if rows else [])
        of_yunet = any(r.get("recall_of_yunet") is not None for r in rows)
        head = ("| variant | detect every | recall | " + ("recall of YuNet's | " if of_yunet else "")
                + " | ".join(f"recall {b}" for b in bands)
                + " | boxes on no face / frame | records on no face | box IoU | detected | carried | ids per track "
                  "| id switches | ids | M MACs / frame | classifier M MACs / frame | loop fps |")
        lines += ["", head, "|" + "---|" * (head.count("|") - 1)]
        for r in rows:
            cells = [r["variant"], str(r["detect_every"]), fmt(r["recall"], ".3f"),
                     *([fmt(r.get("recall_of_yunet"), ".3f")] if of_yunet else []),
                     *(fmt(r["recall_by_width"][b], ".3f") for b in bands),
                     fmt(r["no_face_per_frame"], ".2f"), f"{r['no_face_share']:.1%}", fmt(r["box_iou"], ".3f"),
                     fmt(r["box_iou_detected"], ".3f"), fmt(r["box_iou_carried"], ".3f"), fmt(r["ids_per_track"], ".2f"),
                     str(r["id_switches"]), str(r["ids"]), _m(r["macs_per_frame"]), _m(r["classifier_macs_per_frame"]),
                     f"{r['fps']:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    composed = [r for r in results["rows"] if r["clip"].startswith("composed")]
    if composed:
        several = len({r["clip"] for r in composed}) > 1
        lines += ["## Against issue 17's targets (composed clip" + ("s, each and their mean" if several else "") + ")", "",
                  "| variant | " + " | ".join(f"{k} {'>=' if up else '<='} {b:g}" for k, b, up in TARGETS) + " |",
                  "|---|" + "---|" * len(TARGETS)]
        for r in composed + (mean_rows(composed) if several else []):
            marks = ["-" if ok is None else ("yes" if ok else "no") for _, ok in meets(r)]
            name = r["variant"] + ("" if not several else f" ({r['clip']})")
            lines.append(f"| {name} | " + " | ".join(marks) + " |")
        if several:
            lines += ["", "| variant (mean of the composed clips) | " + " | ".join(k for k, _, _ in TARGETS) + " |",
                      "|---|" + "---|" * len(TARGETS)]
            for r in mean_rows(composed):
                lines.append(f"| {r['variant']} | " + " | ".join(
                    "-" if r.get(k) is None else (_m(r[k]) if k == "macs_per_frame" else f"{r[k]:.3g}")
                    for k, _, _ in TARGETS) + " |")
        lines.append("")
    lines += ["Re-run: `" + results["command"] + "`", ""]
    return "\n".join(lines)


def draw(results: dict, path: Path) -> bool:
    """Recall against boxes on no face, and recall against loop fps: one point per clip and variant."""
    from fer_edge.eval.plots import pyplot, save_png

    plt = pyplot()
    if plt is None or not results["rows"]:
        return False
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    markers = dict(zip(results["clips"], "os^Dvp*"))
    variants = list(dict.fromkeys(r["variant"] for r in results["rows"]))
    colours = {v: f"C{i % 10}" for i, v in enumerate(variants)}
    for r in results["rows"]:
        style = {"marker": markers.get(r["clip"], "o"), "color": colours[r["variant"]]}
        a.scatter(r["no_face_per_frame"], r["recall"], **style)
        b.scatter(r["fps"], r["recall"], **style)
        for ax, x in ((a, r["no_face_per_frame"]), (b, r["fps"])):
            ax.annotate(f"{r['variant']} ({r['clip']})", (x, r["recall"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    a.axhline(0.9, color="grey", lw=0.8, ls="--")
    a.axvline(0.3, color="grey", lw=0.8, ls="--")
    b.axhline(0.9, color="grey", lw=0.8, ls="--")
    b.axvline(25, color="grey", lw=0.8, ls="--")
    a.set_xlabel("boxes on no face per frame")
    b.set_xlabel("loop fps (one thread)")
    for ax in (a, b):
        ax.set_ylabel("recall")
        ax.grid(alpha=0.3)
        ax.margins(0.15)
    fig.suptitle(f"Scene benchmark: {results['machine_name']} (markers: {', '.join(f'{m} {c}' for c, m in markers.items())})",
                 fontsize=9)
    save_png(fig, plt, path, {"source": "fer_edge.benchmarks.scene"})
    return True
