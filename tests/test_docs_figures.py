"""docs/models.md and the model card give each bundled model's figures as its sidecar records them: FER2013 and FER+
PrivateTest accuracy (FER+ by our majority rule and by the published one), FER+ neutral recall, per-class recall,
MACs and latency are parsed out of their tables and compared, so the docs cannot drift from the measurements again
(they did: 68.15% documented, 68.10% measured). Any other page (the README, docs/*.md) that puts a bundled model in
a table is held to the same figures."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fer_edge.bundled import DEFAULT_MODEL, MODELS_DIR, bundled_models
from fer_edge.classification.cost import format_macs
from fer_edge.classification.sidecar import read_sidecar
from fer_edge.labels import EMOTIONS

ROOT = Path(__file__).resolve().parents[1]
# the pages that must give every bundled model's figures (the model card also per-class recall on both label sets)
DOCS = {"docs/models.md": ROOT / "docs" / "models.md", "MODEL_CARD.md": MODELS_DIR / "MODEL_CARD.md"}
# every page a user reads: a model figure in any of them must be the sidecar's
PAGES = {p.relative_to(ROOT).as_posix(): p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
LABEL_SETS = {"FER2013": "fer2013", "FER+": "ferplus"}

# column header (its start) -> the sidecar figure it shows; percentages are fractions in the sidecar
COLUMNS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "FER2013 PrivateTest": lambda s: s["accuracy"]["fer2013"]["accuracy"],
    "FER+ PrivateTest, published rule": lambda s: s["accuracy"]["ferplus"]["published_rule"]["accuracy"],
    "FER+ PrivateTest": lambda s: s["accuracy"]["ferplus"]["accuracy"],  # after the published rule: a prefix of it
    "FER+ neutral recall": lambda s: s["accuracy"]["ferplus"]["recall"]["neutral"],
    "MACs per face": lambda s: s["macs"],
    "ms per face": lambda s: s["accuracy"]["latency_ms"]["p50"],
}


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table as a list of rows, each row a dict from header to cell text."""
    out, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if len(block) > 2:
            out.append([dict(zip(block[0], row)) for row in block[2:]])
        block = []
    return out


def model_of(cell: str) -> Path | None:
    """The bundled model a row is about: a backticked `NAME.tflite` in its first cell."""
    m = re.search(r"`(?:edge/models/)?([\w.-]+\.tflite)`", cell)
    return MODELS_DIR / m.group(1) if m else None


def mismatch(cell: str, header: str, want: Any) -> str | None:
    """What is wrong with a cell that should show the sidecar's `want`, or None: the first figure in the cell must be
    `want` written with that figure's own precision (a percentage for fractions, ms as a plain number)."""
    if header.startswith("MACs"):
        return None if format_macs(want) in cell else f"{cell!r}, the sidecar says {format_macs(want)}"
    percent = not header.startswith("ms per face")
    m = re.search(r"\d+(?:\.(\d+))?" + ("%" if percent else ""), cell)
    if m is None:
        return f"{cell!r} holds no figure; the sidecar says {want}"
    expect = format(want, f".{len(m.group(1) or '')}{'%' if percent else 'f'}")
    return None if m.group(0) == expect else f"{cell!r}, the sidecar says {expect}"


def check(text: str) -> tuple[list[str], set[tuple[str, str]]]:
    """(mismatches, what was checked as (model file, figure)) for one document."""
    wrong, checked = [], set()
    for table in tables(text):
        for row in table:
            (_, first), *cells = row.items()
            model = model_of(first)
            if model is None:
                continue
            side = read_sidecar(model)
            if side is None:
                wrong.append(f"{model.name}: named in a table but has no sidecar (not bundled?)")
                continue
            if "(default)" in first and model != DEFAULT_MODEL:
                wrong.append(f"{model.name} is marked the default, but the default is {DEFAULT_MODEL.name}")
            label_set = LABEL_SETS.get(row.get("labels", ""))
            for header, cell in cells:
                if label_set and header in EMOTIONS:  # a per-class recall table, one row per model and label set
                    key, want = f"{label_set} recall", side["accuracy"][label_set]["recall"][header]
                else:
                    key = next((k for k in COLUMNS if header.startswith(k)), "")
                    if not key:
                        continue
                    want = COLUMNS[key](side)
                problem = mismatch(cell, header, want)
                if problem:
                    wrong.append(f"{model.name} {header!r}: {problem}")
                checked.add((model.name, key))
    return wrong, checked


@pytest.mark.parametrize("doc", DOCS, ids=str)
def test_doc_figures_equal_the_sidecars(doc):
    wrong, checked = check(DOCS[doc].read_text(encoding="utf-8"))
    assert not wrong, "\n".join(wrong)
    # every bundled model is there: a new model cannot ship undocumented, nor an old one stay documented
    need = {"FER2013 PrivateTest", "FER+ PrivateTest", "FER+ PrivateTest, published rule", "FER+ neutral recall",
            "MACs per face", "ms per face", "fer2013 recall", "ferplus recall"}
    for model in bundled_models():
        missing = need - {k for name, k in checked if name == model.name}
        assert not missing, f"{doc} gives no {', '.join(sorted(missing))} for {model.name}"


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_no_page_gives_a_model_figure_other_than_the_sidecars(page):
    wrong, _ = check(PAGES[page].read_text(encoding="utf-8"))
    assert not wrong, "\n".join(wrong)


def test_the_check_finds_a_figure_that_drifted():
    """A model card row one hundredth off its sidecar, a rounded one, and a per-class recall off: all reported."""
    side = read_sidecar(DEFAULT_MODEL)
    acc = side["accuracy"]
    fer, plus = acc["fer2013"]["accuracy"], acc["ferplus"]["accuracy"]
    good = (f"| `{DEFAULT_MODEL.name}` (default) | {fer:.2%} | {plus:.1%} | {acc['ferplus']['recall']['neutral']:.1%} "
            f"| {format_macs(side['macs'])} | {acc['latency_ms']['p50']:.2f} |")
    head = ("| model | FER2013 PrivateTest | FER+ PrivateTest majority | FER+ neutral recall | MACs per face "
            "| ms per face |\n|---|---|---|---|---|---|\n")
    assert check(head + good)[0] == []
    assert len(check(head + good.replace(f"{fer:.2%}", f"{fer + 0.0001:.2%}"))[0]) == 1
    assert len(check(head + good.replace(f"| {fer:.2%}", f"| {fer + 0.002:.1%}"))[0]) == 1  # precision is the doc's
    recall = acc["ferplus"]["recall"]
    cells = " | ".join(f"{recall[c]:.1%}" for c in EMOTIONS)
    table = (f"| model | labels | {' | '.join(EMOTIONS)} |\n|{'---|' * (len(EMOTIONS) + 2)}\n"
             f"| `{DEFAULT_MODEL.name}` | FER+ | {cells} |\n")
    assert check(table)[0] == [] and (DEFAULT_MODEL.name, "ferplus recall") in check(table)[1]
    off = table.replace(f"| {recall['neutral']:.1%} |", f"| {recall['neutral'] + 0.01:.1%} |")
    assert check(off)[0] and "neutral" in check(off)[0][0]
