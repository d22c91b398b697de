"""Cells and CSV files of the benchmarks' reports: one rule for a value that was not measured (`-`) and one way to
write dict rows as CSV, so the bench, scene and crops tables read alike."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fer_edge.files import atomic_write_text


def fmt(value, spec: str = ".2f") -> str:
    """`value` formatted by `spec`; `-` for None (not measured)."""
    return "-" if value is None else format(value, spec)


def write_rows_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    """`rows` as CSV with these columns in this order (other keys left out), written atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
