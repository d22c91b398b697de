"""`fer-edge bench --compare A B`: two results files side by side (B over A for latency and fps, B minus A for
accuracy), and what the two measured differently, so a ratio between other work is flagged."""

from __future__ import annotations

import json
from pathlib import Path

from fer_edge.benchmarks.machine import short_name
from fer_edge.benchmarks.report_rows import SCHEMA, model_rows
from fer_edge.benchmarks.tables import fmt
from fer_edge.errors import FerEdgeError, UsageError


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
        lines.append(f"{r['what']:<44}{r['measure']:<18}{fmt(r['a'], '.3f'):>10}{fmt(r['b'], '.3f'):>10}"
                     f"{fmt(r['ratio'], '.3f'):>8}{acc:>9}")
    if not rows:
        lines.append("(no measurement appears in both files)")
    return "\n".join(lines)
