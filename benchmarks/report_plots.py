"""bench's figures: pareto.png (accuracy against latency and against MACs per face) and loop.png (accuracy against
the whole loop's fps), drawn from results.json alone; each PNG says in a text chunk how many points it holds."""

from __future__ import annotations

import io
from pathlib import Path

from fer_edge.benchmarks.machine import short_name
from fer_edge.benchmarks.report_rows import PNG_POINTS_KEY, loop_points, plot_points, plotted


def png_text(png: bytes) -> dict[str, str]:
    """The text chunks of a PNG (for tests and for `report` consumers), read by Pillow, which matplotlib requires."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return dict(image.text)


def _panel(ax, pts: list[dict], x_of, flag: str, words: str) -> None:
    """One accuracy panel on a log x axis: each point labelled (labels of near points stacked), the front drawn."""
    import math

    from matplotlib.ticker import FormatStrFormatter

    placed: list[tuple[float, float]] = []
    for p in sorted(pts, key=lambda q: (-q["y"], x_of(q))):
        x, y = x_of(p), p["y"] * 100
        ax.scatter([x], [y], marker="*" if p[flag] else "o",
                   s=120 if p[flag] else 40, color="tab:red" if p[flag] else "tab:blue", zorder=3)
        near = sum(abs(math.log10(x / px)) < 0.12 and abs(y - py) < 0.4 for px, py in placed)
        placed.append((x, y))
        ax.annotate(p["model"], (x, y), textcoords="offset points", xytext=(5, 4 - 10 * near), fontsize=7)
    front = sorted((x_of(p), p["y"] * 100) for p in pts if p[flag])
    ax.step([f[0] for f in front], [f[1] for f in front], where="post", color="tab:red", alpha=0.6, label="Pareto front")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_ylabel(f"{words} (%)")
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
    _, words = plotted(results)
    _panel(axes[0][0], pts, lambda p: p["p50_ms"], "pareto", words)
    axes[0][0].set_xlabel(f"latency per face, p50 (ms, log scale), {pts[0]['threads']} thread(s)")
    axes[0][0].set_title("against latency on this machine", fontsize=9)
    if counted:
        _panel(axes[0][1], counted, lambda p: p["macs"] / 1e6, "pareto_macs", words)
        axes[0][1].set_xlabel("MACs per face (millions, log scale; the same on every machine)")
        axes[0][1].set_title("against compute", fontsize=9)
    source = "measured" if results["settings"].get("data") else "from the sidecars"
    split = results["settings"].get("split")
    fig.suptitle(f"{short_name(results['machine'])}: {words}" + (f" on {split}" if split else "") + f" ({source})"
                 + (" (EMULATED: timings meaningless)" if results.get("emulated") else ""), fontsize=10)
    save_png(fig, plt, path, {PNG_POINTS_KEY: str(len(pts))})
    return len(pts)


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
        ax.scatter([p["fps"]], [p["y"] * 100], color="tab:blue", zorder=3)
        ax.annotate(p["label"], (p["fps"], p["y"] * 100), textcoords="offset points", xytext=(5, 4 - 10 * (i % 3)),
                    fontsize=7)
    ax.set_xlabel(f"loop fps on {results['settings'].get('video')} (detection interval by run's rule)")
    ax.set_ylabel(f"{plotted(results)[1]} (%)")
    ax.grid(alpha=0.3)
    fig.suptitle(f"{short_name(results['machine'])}: the whole loop" + (" (EMULATED: timings meaningless)"
                                                                         if results.get("emulated") else ""), fontsize=10)
    save_png(fig, plt, path, {PNG_POINTS_KEY: str(len(pts))})
    return len(pts)
