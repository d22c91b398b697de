"""What a bench run leaves behind: results.csv, report.md and pareto.png, all made from results.json alone
(so a results file from a board can be re-rendered anywhere), and `--compare` between two results files.

The tables are here; their rows (benchmarks/report_rows.py), the figures (report_plots.py) and `--compare`
(compare.py) have their own modules, and are importable from here as before."""

from __future__ import annotations

from pathlib import Path

from fer_edge.benchmarks.compare import compare, format_compare, load_results, source_differences
from fer_edge.benchmarks.machine import short_name
from fer_edge.benchmarks.report_plots import draw_loop, draw_pareto, png_text
from fer_edge.benchmarks.report_rows import PNG_POINTS_KEY, SCHEMA, loop_points, model_rows, pareto_front, plot_points
from fer_edge.benchmarks.tables import fmt, write_rows_csv
from fer_edge.classification.cost import format_macs

__all__ = ["PNG_POINTS_KEY", "SCHEMA", "compare", "draw_loop", "draw_pareto", "format_compare", "load_results",
           "loop_points", "model_rows", "pareto_front", "plot_points", "png_text", "render_markdown",
           "source_differences", "write_csv"]


def write_csv(results: dict, path: Path) -> None:
    rows = model_rows(results)
    fields = ["model", "kind", "variant", "threads", "size_bytes", "macs", "params", "accuracy", "macro_f1",
              "ferplus_accuracy", "ferplus_published_accuracy", "ferplus_neutral_recall",
              "accuracy_source", "load_ms", "min_ms", "mean_ms", "p50_ms",
              "p90_ms", "p99_ms", "cv", "peak_rss_mb", "status", "error"]
    write_rows_csv(path, fields, rows)


def _rule(results: dict) -> str:
    rules = {v.get("interval_rule") for v in results.get("video", []) if v.get("interval_rule")}
    return "; ".join(sorted(rules)) if rules else "a fixed --detect-every"


def render_markdown(results: dict, plot_file: str | None, plot_note: str | None = None,
                    loop_plot: str | None = None) -> str:
    m = results["machine"]
    s = results["settings"]
    lines = [f"# fer-edge bench: {short_name(m)}", "",
             f"{results['created']} · `{' '.join(results['command'])}`", "",
             "| machine | |", "|---|---|",
             f"| board | {m.get('board') or '-'} |", f"| CPU | {m.get('cpu')} ({m.get('cores')} cores, {m.get('arch')}) |",
             f"| governor | {', '.join(m.get('governor') or []) or 'not exposed'} |",
             f"| temperature | {', '.join(f'{k} {v} °C' for k, v in (m.get('temperature_c') or {}).items()) or 'not readable'} |",
             f"| throttling | {m.get('throttled') or 'not readable (no vcgencmd)'} |",
             f"| OS | {m.get('os')}, kernel {m.get('kernel')} |", f"| Python | {m.get('python')} |",
             f"| runtime | {m.get('runtime')} {m.get('packages', {}).get(m.get('runtime'), '')}, delegate {m.get('delegate')} |",
             f"| Edge TPU | {m.get('edgetpu') or '-'} |",
             ""]
    if results.get("emulated"):
        lines += ["**Emulated run: every timing below is meaningless** (the CPU was emulated); only the accuracy "
                  "and that everything ran are results.", ""]
    for warning in m.get("warnings", []):
        lines.append(f"> warning: {warning}")
    if m.get("warnings"):
        lines.append("")
    data = s.get("data")
    lines += ["## Models", "",
              (f"Accuracy on `{data}` {s.get('split')} ({s.get('images')} images)"
               + (f"; FER+ majority accuracy, FER+ accuracy by the published rule (single votes dropped, one emotion "
                  f"over half the rest: compare published FER+ figures with it) and FER+ neutral recall from "
                  f"`{s['ferplus']}`. " if s.get("ferplus")
                  else ". ") if data else
               "No `--data`: accuracy (FER2013, and FER+ where recorded) is the one in each model's sidecar "
               "(marked *). ")
              + f"Latency: one face through `classify` (preprocessing included), {s.get('warmup')} warm-up calls, "
              f"then {s.get('runs')} timed; cv is the standard deviation over the mean. MACs: multiply-accumulates "
              "per face, counted from the model file (the same on every machine; both passes of a mirror-averaged "
              "model). ★ marks the Pareto front (nothing else is both as fast and as accurate) at the first thread "
              "count.", "",
              "| model | variant | size | MACs | threads | accuracy | macro-F1 | FER+ accuracy | FER+ published rule "
              "| FER+ neutral recall | load ms | p50 ms | p90 ms | p99 ms | min ms | cv | peak RSS MB | |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    front = {(p["model"], p["threads"]) for p in plot_points(results) if p["pareto"]}  # at the first thread count
    for r in model_rows(results):
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r['variant'] or '-'} | | {format_macs(r['macs'])} | {r['threads'] or '-'} "
                         f"| {r['status']}: {r['error']} | | | | | | | | | | | | |")
            continue
        star = " *" if r["accuracy_source"] == "sidecar" else ""
        size = f"{r['size_bytes'] / 2**20:.2f} MiB" if r["size_bytes"] else "-"
        lines.append(
            f"| {r['model']} | {r['variant'] or '-'} | {size} | {format_macs(r['macs'])} | {r['threads']} "
            f"| {fmt(r['accuracy'], '.2%')}{star} "
            f"| {fmt(r['macro_f1'], '.3f')} | {fmt(r['ferplus_accuracy'], '.2%')}{star if r['ferplus_accuracy'] else ''} "
            f"| {fmt(r['ferplus_published_accuracy'], '.2%')}{star if r['ferplus_published_accuracy'] else ''} "
            f"| {fmt(r['ferplus_neutral_recall'], '.1%')} | {fmt(r['load_ms'], '.0f')} | {fmt(r['p50_ms'], '.3f')} "
            f"| {fmt(r['p90_ms'], '.3f')} | {fmt(r['p99_ms'], '.3f')} | {fmt(r['min_ms'], '.3f')} | {fmt(r['cv'], '.2f')} "
            f"| {fmt(r['peak_rss_mb'], '.0f')} | {'★' if (r['model'], r['threads']) in front else ''} |")
    if plot_file:
        lines += ["", f"![accuracy against latency and against MACs]({plot_file})"]
    elif plot_note:
        lines += ["", plot_note]
    if results.get("video"):
        lines += ["", "## The whole loop on a video", "",
                  f"Source `{s.get('video')}`, {s.get('video_frames') or 'all'} frames, the loop `fer-edge run` builds, "
                  f"detection interval by {_rule(results)}. Loop p50/p95/p99: ms per frame, the whole loop; each "
                  "stage's mean ms per frame (with detection on every Nth frame its mean is the cost spread over the "
                  "frames). MACs per frame: the detector's MACs on this frame size (`room`'s tiles and YuNet's whole "
                  "frame counted as `run` counts them) / detect every + the classifier's MACs x faces per frame "
                  "(unknown for Haar). Peak RSS: the worker process's.", "",
                  "| detector | model | threads | fps | loop p50 | p95 | p99 | faces/frame | MACs/frame | detect "
                  "every | peak RSS MB | decode | detect | crop | classify | events |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for v in results["video"]:
            if v["status"] != "ok":
                lines.append(f"| {v['detector']} | {v['model']} | {v['threads']} | failed: {v['error']} "
                             + "| " * 12 + "|")
                continue
            st, lp = v["stages_ms"], v.get("loop_ms") or {}
            cells = " | ".join(fmt(st.get(k, {}).get("mean"), ".2f") for k in ("decode", "detect", "crop", "classify", "events"))
            lines.append(f"| {v['detector']} | {v['model']} | {v['threads']} | {v['fps']:.1f} "
                         f"| {fmt(lp.get('p50'))} | {fmt(lp.get('p95'))} | {fmt(lp.get('p99'))} "
                         f"| {v['faces_per_frame']:.2f} | {format_macs(v.get('macs_per_frame'))} | {v['detect_every']} "
                         f"| {fmt(v.get('peak_rss_mb'), '.0f')} | {cells} |")
        lines += _quality_table(results)
        if loop_plot:
            lines += ["", f"![loop fps against accuracy]({loop_plot})"]
    failed = [m for m in results["models"] if m["status"] != "ok"] + [v for v in results.get("video", []) if v["status"] != "ok"]
    if failed:
        lines += ["", f"{len(failed)} measurement(s) failed; the rest were measured."]
    return "\n".join(lines) + "\n"


def _quality_table(results: dict) -> list[str]:
    """With --yunet-model, what a user sees of each loop row, scored as the scene benchmark scores its clips."""
    rows = [v for v in results.get("video", []) if v["status"] == "ok" and v.get("quality")]
    if not rows:
        return []
    bands = list(rows[0]["quality"]["recall_by_width"])
    head = ("| detector | model | threads | recall | " + " | ".join(f"recall {b}" for b in bands)
            + " | boxes on no face / frame | records on no face | box IoU | detected | carried | ids per track "
              "| id switches |")
    lines = ["", "### Against YuNet at full size", "",
             "YuNet's boxes on every frame, linked into tracks, are the truth (benchmarks/scene_metrics.py): matched one "
             "to one at IoU >= 0.3; box IoU is each reported box's with its face's box in the same frame (YuNet's box "
             "is taller than BlazeFace's: a perfect BlazeFace box scores about 0.6-0.7).", "", head,
             "|" + "---|" * (head.count("|") - 1)]
    for v in rows:
        q = v["quality"]
        cells = [v["detector"], v["model"], str(v["threads"]), fmt(q["recall"], ".3f"),
                 *(fmt(q["recall_by_width"][b], ".3f") for b in bands), fmt(q["no_face_per_frame"], ".2f"),
                 fmt(q["no_face_share"], ".1%"), fmt(q["box_iou"], ".3f"), fmt(q["box_iou_detected"], ".3f"),
                 fmt(q["box_iou_carried"], ".3f"), fmt(q["ids_per_track"], ".2f"), str(q["id_switches"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
