"""What a bench run leaves behind: results.csv, report.md and pareto.png, all made from results.json alone
(so a results file from a board can be re-rendered anywhere), and `--compare` between two results files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from fer_edge.benchmarks.machine import short_name
from fer_edge.classification.cost import format_macs
from fer_edge.errors import FerEdgeError, UsageError
from fer_edge.files import atomic_write_text

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


def write_csv(results: dict, path: Path) -> None:
    rows = model_rows(results)
    fields = ["model", "kind", "variant", "threads", "size_bytes", "macs", "params", "accuracy", "macro_f1",
              "ferplus_accuracy", "ferplus_neutral_recall", "accuracy_source", "load_ms", "min_ms", "mean_ms", "p50_ms",
              "p90_ms", "p99_ms", "cv", "peak_rss_mb", "status", "error"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _fmt(v, spec: str = ".2f", none: str = "-") -> str:
    return none if v is None else format(v, spec)


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
               + (f"; FER+ majority accuracy and FER+ neutral recall from `{s['ferplus']}`. " if s.get("ferplus")
                  else ". ") if data else
               "No `--data`: accuracy (FER2013, and FER+ where recorded) is the one in each model's sidecar "
               "(marked *). ")
              + f"Latency: one face through `classify` (preprocessing included), {s.get('warmup')} warm-up calls, "
              f"then {s.get('runs')} timed; cv is the standard deviation over the mean. MACs: multiply-accumulates "
              "per face, counted from the model file (the same on every machine; both passes of a mirror-averaged "
              "model). ★ marks the Pareto front (nothing else is both as fast and as accurate) at the first thread "
              "count.", "",
              "| model | variant | size | MACs | threads | accuracy | macro-F1 | FER+ accuracy | FER+ neutral recall "
              "| load ms | p50 ms | p90 ms | p99 ms | min ms | cv | peak RSS MB | |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    front = {(p["model"], p["threads"]) for p in plot_points(results) if p["pareto"]}  # at the first thread count
    for r in model_rows(results):
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r['variant'] or '-'} | | {format_macs(r['macs'])} | {r['threads'] or '-'} "
                         f"| {r['status']}: {r['error']} | | | | | | | | | | | |")
            continue
        star = " *" if r["accuracy_source"] == "sidecar" else ""
        size = f"{r['size_bytes'] / 2**20:.2f} MiB" if r["size_bytes"] else "-"
        lines.append(
            f"| {r['model']} | {r['variant'] or '-'} | {size} | {format_macs(r['macs'])} | {r['threads']} "
            f"| {_fmt(r['accuracy'], '.2%')}{star} "
            f"| {_fmt(r['macro_f1'], '.3f')} | {_fmt(r['ferplus_accuracy'], '.2%')}{star if r['ferplus_accuracy'] else ''} "
            f"| {_fmt(r['ferplus_neutral_recall'], '.1%')} | {_fmt(r['load_ms'], '.0f')} | {_fmt(r['p50_ms'], '.3f')} "
            f"| {_fmt(r['p90_ms'], '.3f')} | {_fmt(r['p99_ms'], '.3f')} | {_fmt(r['min_ms'], '.3f')} | {_fmt(r['cv'], '.2f')} "
            f"| {_fmt(r['peak_rss_mb'], '.0f')} | {'★' if (r['model'], r['threads']) in front else ''} |")
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
            cells = " | ".join(_fmt(st.get(k, {}).get("mean"), ".2f") for k in ("decode", "detect", "crop", "classify", "events"))
            lines.append(f"| {v['detector']} | {v['model']} | {v['threads']} | {v['fps']:.1f} "
                         f"| {_fmt(lp.get('p50'))} | {_fmt(lp.get('p95'))} | {_fmt(lp.get('p99'))} "
                         f"| {v['faces_per_frame']:.2f} | {format_macs(v.get('macs_per_frame'))} | {v['detect_every']} "
                         f"| {_fmt(v.get('peak_rss_mb'), '.0f')} | {cells} |")
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
        cells = [v["detector"], v["model"], str(v["threads"]), _fmt(q["recall"], ".3f"),
                 *(_fmt(q["recall_by_width"][b], ".3f") for b in bands), _fmt(q["no_face_per_frame"], ".2f"),
                 _fmt(q["no_face_share"], ".1%"), _fmt(q["box_iou"], ".3f"), _fmt(q["box_iou_detected"], ".3f"),
                 _fmt(q["box_iou_carried"], ".3f"), _fmt(q["ids_per_track"], ".2f"), str(q["id_switches"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def png_text(png: bytes) -> dict[str, str]:
    """The text chunks of a PNG (for tests and for `report` consumers), read by Pillow, which matplotlib requires."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return dict(image.text)


def _panel(ax, pts: list[dict], x_of, flag: str) -> None:
    """One accuracy panel on a log x axis: each point labelled (labels of near points stacked), the front drawn."""
    import math

    from matplotlib.ticker import FormatStrFormatter

    placed: list[tuple[float, float]] = []
    for p in sorted(pts, key=lambda q: (-q["accuracy"], x_of(q))):
        x, y = x_of(p), p["accuracy"] * 100
        ax.scatter([x], [y], marker="*" if p[flag] else "o",
                   s=120 if p[flag] else 40, color="tab:red" if p[flag] else "tab:blue", zorder=3)
        near = sum(abs(math.log10(x / px)) < 0.12 and abs(y - py) < 0.4 for px, py in placed)
        placed.append((x, y))
        ax.annotate(p["model"], (x, y), textcoords="offset points", xytext=(5, 4 - 10 * near), fontsize=7)
    front = sorted((x_of(p), p["accuracy"] * 100) for p in pts if p[flag])
    ax.step([f[0] for f in front], [f[1] for f in front], where="post", color="tab:red", alpha=0.6, label="Pareto front")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def draw_pareto(results: dict, path: Path) -> int | None:
    """Accuracy against p50 latency per face and, beside it, against MACs per face (what a board without a
    measurement can compare), each point labelled, the fronts drawn; the number of points, or None when matplotlib
    is missing or nothing has an accuracy."""
    from fer_edge.eval.plots import pyplot, save_png

    pts = plot_points(results)
    if not pts:
        return None
    plt = pyplot()
    if plt is None:
        return None
    counted = [p for p in pts if p.get("macs")]
    fig, axes = plt.subplots(1, 2 if counted else 1, figsize=(13, 5) if counted else (7.5, 5), squeeze=False, sharey=True)
    _panel(axes[0][0], pts, lambda p: p["p50_ms"], "pareto")
    axes[0][0].set_xlabel(f"latency per face, p50 (ms, log scale), {pts[0]['threads']} thread(s)")
    axes[0][0].set_title("against latency on this machine", fontsize=9)
    if counted:
        _panel(axes[0][1], counted, lambda p: p["macs"] / 1e6, "pareto_macs")
        axes[0][1].set_xlabel("MACs per face (millions, log scale; the same on every machine)")
        axes[0][1].set_title("against compute", fontsize=9)
    source = "measured" if results["settings"].get("data") else "from the sidecars"
    fig.suptitle(f"{short_name(results['machine'])}: accuracy ({source})"
                 + (" (EMULATED: timings meaningless)" if results.get("emulated") else ""), fontsize=10)
    save_png(fig, plt, path, {PNG_POINTS_KEY: str(len(pts))})
    return len(pts)


def loop_points(results: dict) -> list[dict]:
    """Points of the loop plot: each loop row that ran, with its model's accuracy (measured or from the sidecar)."""
    accuracy = {m["name"]: m.get("accuracy") for m in results["models"] if m["status"] == "ok"}
    return [{"label": f"{v['detector']} + {v['model']} ×{v['threads']}", "fps": v["fps"], "accuracy": accuracy[v["model"]]}
            for v in results.get("video", []) if v["status"] == "ok" and v.get("fps") and accuracy.get(v["model"])]


def draw_loop(results: dict, path: Path) -> int | None:
    """Accuracy against the whole loop's fps (what a user deploys: detector, model and threads together), each
    point labelled; the number of points, or None when matplotlib is missing or no row has an accuracy."""
    from fer_edge.eval.plots import pyplot, save_png

    pts = loop_points(results)
    plt = pyplot() if pts else None
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, p in enumerate(sorted(pts, key=lambda q: q["fps"])):
        ax.scatter([p["fps"]], [p["accuracy"] * 100], color="tab:blue", zorder=3)
        ax.annotate(p["label"], (p["fps"], p["accuracy"] * 100), textcoords="offset points", xytext=(5, 4 - 10 * (i % 3)),
                    fontsize=7)
    ax.set_xlabel(f"loop fps on {results['settings'].get('video')} (detection interval by run's rule)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    fig.suptitle(f"{short_name(results['machine'])}: the whole loop" + (" (EMULATED: timings meaningless)"
                                                                         if results.get("emulated") else ""), fontsize=10)
    save_png(fig, plt, path, {PNG_POINTS_KEY: str(len(pts))})
    return len(pts)


def load_results(path: str | Path) -> dict:
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such results file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FerEdgeError(f"{path}: not a bench results file ({exc})") from None
    schema = results.get("schema") if isinstance(results, dict) else None
    if schema != SCHEMA:
        raise FerEdgeError(f"{path}: not a {SCHEMA} results file (schema {schema!r})")
    return results


def compare(a: dict, b: dict) -> list[dict]:
    """Rows present in both: B over A for latency and FPS (below 1: B is faster), B minus A for accuracy."""
    def ratio(x, y):
        return round(y / x, 3) if x and y else None

    rows_a = {(r["model"], r["threads"]): r for r in model_rows(a) if r["status"] == "ok"}
    out = []
    for r in model_rows(b):
        ra = rows_a.get((r["model"], r["threads"]))
        if ra is None or r["status"] != "ok":
            continue
        acc = None if ra["accuracy"] is None or r["accuracy"] is None else round((r["accuracy"] - ra["accuracy"]) * 100, 2)
        out.append({"what": f"{r['model']} ×{r['threads']}", "measure": "p50 ms per face", "a": ra["p50_ms"], "b": r["p50_ms"],
                    "ratio": ratio(ra["p50_ms"], r["p50_ms"]), "accuracy_delta_pt": acc})
    vids_a = {(v["detector"], v["model"], v["threads"]): v for v in a.get("video", []) if v["status"] == "ok"}
    for v in b.get("video", []):
        va = vids_a.get((v["detector"], v["model"], v["threads"]))
        if va is None or v["status"] != "ok":
            continue
        out.append({"what": f"{v['detector']} + {v['model']} ×{v['threads']}", "measure": "loop fps", "a": va["fps"],
                    "b": v["fps"], "ratio": ratio(va["fps"], v["fps"]), "accuracy_delta_pt": None})
    return out


def _source(value) -> str | None:
    """A data or video setting as a name: paths differ between machines, the file measured should not."""
    if value is None:
        return None
    text = str(value)
    return text if "://" in text or text.isdigit() or text == "demo" else Path(text).name


def source_differences(a: dict, b: dict) -> list[str]:
    """What A and B measured that differs (clip, labelled data, split, images): their ratios compare other work."""
    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    out = []
    for key, what, detail in (("video", "video", ("video_frames",)), ("data", "data", ("split", "images"))):
        va, vb = _source(sa.get(key)), _source(sb.get(key))
        if va != vb:
            out.append(f"{what} A {va or 'none'}, B {vb or 'none'}")
        elif va is not None:
            out += [f"{k} A {sa.get(k)}, B {sb.get(k)}" for k in detail if sa.get(k) != sb.get(k)]
    return out


def format_compare(a: dict, b: dict, rows: list[dict]) -> str:
    lines = [f"A: {short_name(a['machine'])}, {a['created']}", f"B: {short_name(b['machine'])}, {b['created']}", "",
             f"{'what':<44}{'measure':<18}{'A':>10}{'B':>10}{'B/A':>8}{'acc B-A':>9}"]
    for r in rows:
        acc = "" if r["accuracy_delta_pt"] is None else f"{r['accuracy_delta_pt']:+.2f}"
        lines.append(f"{r['what']:<44}{r['measure']:<18}{_fmt(r['a'], '.3f'):>10}{_fmt(r['b'], '.3f'):>10}"
                     f"{_fmt(r['ratio'], '.3f'):>8}{acc:>9}")
    if not rows:
        lines.append("(no measurement appears in both files)")
    return "\n".join(lines)
