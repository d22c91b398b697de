"""What a crop benchmark run reports: the table by face size (recall, accuracy at each margin beside the same faces
classified directly, the share shown `uncertain`), the margin and `smoothing.min_face` chosen from it, report.md,
crops.png and faces.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.benchmarks.tables import fmt, write_rows_csv

# the smallest face size from which on the loop's accuracy is within this of the same faces classified directly
# decides `smoothing.min_face`
MIN_FACE_TOLERANCE = 0.05


def summarize(rows: list[dict], direct: dict[int, str], margins: tuple[float, ...], min_face: int) -> list[dict]:
    """Per face size: detection recall, the detector's box side, accuracy at each margin over the found faces,
    the same faces classified directly, and the share shown `uncertain` (and below the minimum size)."""
    out = []
    for side in sorted({r["size"] for r in rows}):
        at = [r for r in rows if r["size"] == side]
        hit = [r for r in at if r["detected"]]
        sides = np.array([r["box_side"] for r in hit]) if hit else np.zeros(0)
        row = {"size": side, "faces": len(at), "detected": len(hit), "recall": round(len(hit) / len(at), 4),
               "box_side_median": round(float(np.median(sides)), 1) if hit else None,
               "box_side_p10": round(float(np.percentile(sides, 10)), 1) if hit else None,
               "direct_all": round(float(np.mean([direct[r["row"]] == r["truth"] for r in at])), 4),
               "direct_found": round(float(np.mean([direct[r["row"]] == r["truth"] for r in hit])), 4) if hit else None,
               "accuracy": {f"{m:g}": round(float(np.mean([r.get(f"label@{m:g}") == r["truth"] for r in hit])), 4)
                            if hit else None for m in margins},
               "uncertain": round(float(np.mean([r["shown"] == "uncertain" for r in hit])), 4) if hit else None,
               **_published(hit, direct, margins),
               "below_min_face": round(float(np.mean(sides < min_face)), 4) if hit else None}
        out.append(row)
    return out


def _published(hit: list[dict], direct: dict[int, str], margins: tuple[float, ...]) -> dict:
    """The same accuracies by the published FER+ rule, over the found faces that rule scores."""
    scored = [r for r in hit if r["published"]]
    mean = lambda said: round(float(np.mean(said)), 4) if scored else None  # noqa: E731
    return {"published_faces": len(scored),
            "published_accuracy": {f"{m:g}": mean([r.get(f"label@{m:g}") == r["published"] for r in scored])
                                   for m in margins},
            "published_direct_found": mean([direct[r["row"]] == r["published"] for r in scored])}


def choose(table: list[dict], margins: tuple[float, ...]) -> dict:
    """The margin with the best accuracy over the found faces of 48 px and more (where the loop should match the
    direct figure), and the smallest size from which on every size is within MIN_FACE_TOLERANCE of the same faces
    classified directly; `min_face` is the 10th percentile of the detector's box side at that size (so nine in
    ten such faces are still labelled)."""
    big = [r for r in table if r["size"] >= 48 and r["detected"]]
    scores = {f"{m:g}": float(np.mean([r["accuracy"][f"{m:g}"] for r in big])) for m in margins} if big else {}
    margin = max(scores, key=lambda k: scores[k]) if scores else f"{margins[0]:g}"
    ok = [r["detected"] and r["direct_found"] - r["accuracy"][margin] <= MIN_FACE_TOLERANCE for r in table]
    first = next((i for i in range(len(table)) if all(ok[i:])), None)
    size_row = table[first] if first is not None else None
    return {"margin": float(margin), "margin_scores_48px_up": {k: round(v, 4) for k, v in scores.items()},
            "min_face_size": size_row["size"] if size_row else None,
            "min_face": int(size_row["box_side_p10"]) if size_row and size_row["box_side_p10"] else None,
            "rule": f"margin: best mean accuracy over sizes >= 48 px; min_face: the 10th percentile of the box side "
                    f"at the smallest size from which every size is within {MIN_FACE_TOLERANCE:.0%} of the same "
                    "faces classified directly"}


def render_markdown(results: dict) -> str:
    s = results["settings"]
    d = results["direct"]
    margins = [f"{m:g}" for m in s["margins"]]
    lines = [f"# Accuracy where the loop crops: {results['machine_name']}", "",
             f"{results['created']} · `{results['command']}`", "",
             f"{s['split']}: {s['faces']} faces with a 7-way FER+ majority, each blended at every size over the face "
             f"of a head cut from the shared photos, in {s['frame'][0]}x{s['frame'][1]} frames cut from them "
             f"({s['per_frame']} a frame at most, {results['frames']} frames); detector `{s['detector']}`, "
             f"classifier `{s['model']}`, crop margin "
             f"{', '.join(margins)}, `smoothing.min_face` {s['min_face']} px. Found: a detection at IoU >= "
             f"{s['match_iou']} with the pasted square. Classified directly (48x48): **{d['accuracy']:.2%}** FER+ "
             f"majority accuracy, neutral recall {d['neutral_recall']:.1%}; by the published rule (single votes "
             f"dropped, one emotion over half the rest; the {d['published_faces']} of these faces it scores) "
             f"**{fmt(d['published_accuracy'], '.2%')}**.", "",
             "| face px | faces | found | box px (median) | " + " | ".join(f"accuracy, margin {m}" for m in margins)
             + " | directly, same faces | " + " | ".join(f"published rule, margin {m}" for m in margins)
             + " | published rule, directly | uncertain | below min_face |",
             "|---|---|---|---|" + "---|" * (2 * len(margins)) + "---|---|---|---|"]
    for r in results["sizes"]:
        lines.append(f"| {r['size']} | {r['faces']} | {fmt(r['recall'], '.1%')} | {r['box_side_median'] or '-'} | "
                     + " | ".join(fmt(r["accuracy"][m], ".1%") for m in margins)
                     + f" | {fmt(r['direct_found'], '.1%')} | "
                     + " | ".join(fmt(r["published_accuracy"][m], ".1%") for m in margins)
                     + f" | {fmt(r['published_direct_found'], '.1%')} | {fmt(r['uncertain'], '.1%')} "
                     f"| {fmt(r['below_min_face'], '.1%')} |")
    c = results.get("choice")
    if c:
        lines += ["", f"Choice ({c['rule']}): margin **{c['margin']:g}**, min_face **{c['min_face']} px** "
                      f"(faces pasted at {c['min_face_size']} px)." if c["min_face"] else
                  f"Choice: margin **{c['margin']:g}**; no size qualifies for min_face."]
    if results.get("plot"):
        lines += ["", f"![accuracy and recall by face size]({results['plot']})"]
    return "\n".join(lines) + "\n"


def draw(results: dict, path: Path) -> bool:
    """Accuracy by face size (each margin, and the same faces directly) and detection recall, log size axis."""
    from fer_edge.eval.plots import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False
    table = results["sizes"]
    x = [r["size"] for r in table]
    fig, (acc, rec) = plt.subplots(1, 2, figsize=(12, 4.4))
    for m in results["settings"]["margins"]:
        y = [None if r["accuracy"][f"{m:g}"] is None else r["accuracy"][f"{m:g}"] * 100 for r in table]
        acc.plot(x, y, marker="o", label=f"through the loop, margin {m:g}")
    acc.plot(x, [None if r["direct_found"] is None else r["direct_found"] * 100 for r in table], "k--",
             label="same faces, 48x48 directly")
    acc.axhline(results["direct"]["accuracy"] * 100, color="grey", lw=0.8, ls=":", label="all faces directly")
    rec.plot(x, [r["recall"] * 100 for r in table], marker="o", color="tab:green", label="found by the detector")
    rec.plot(x, [None if r["uncertain"] is None else r["uncertain"] * 100 for r in table], marker="s",
             color="tab:orange", label="shown uncertain (share of those found)")
    c = results.get("choice") or {}
    for ax, what in ((acc, "FER+ majority accuracy (%)"), (rec, "share of faces (%)")):
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x])
        ax.minorticks_off()
        ax.set_xlabel("pasted face side (px)")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        if c.get("min_face_size"):
            ax.axvline(c["min_face_size"], color="tab:red", lw=0.8, ls="--")
        ax.legend(fontsize=8)
    s = results["settings"]
    fig.suptitle(f"{s['split']}, {s['faces']} faces, {s['detector']} + {s['model']}: {results['machine_name']}",
                 fontsize=10)
    save_png(fig, plt, path, {"source": "fer_edge.benchmarks.crops"})
    return True


def write_faces(rows: list[dict], margins: tuple[float, ...], path: Path) -> None:
    fields = ["row", "size", "x", "y", "truth", "published", "detected", "box_side", "label", "shown",
              *(f"label@{m:g}" for m in margins)]
    write_rows_csv(path, fields, rows)
