"""Issue 19's mechanical move of edge/ modules into subpackages, and the import rewrite that goes with it.

Run from the repository root: `python .ci/move_modules.py [--move]`. With --move it `git mv`s the files that are
still at their old place; always it rewrites every `fer_edge.<old>` name (imports, `mock.patch` strings,
`python -m` lines) in the code, tests and docs to the new place. It is idempotent, so a branch cut before the
move is brought over by merging and running it again.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# old module (under fer_edge) -> new module; a name equal to its package becomes the package's __init__
MOVES = {
    "argtypes": "config.argtypes",
    "videofile": "outputs.videofile",
    "sources.videofile": "outputs.videofile",  # after the move: the annotated-video encoder is an output
    "reconnect": "sources.reconnect",
    "detectors": "detection",
    "detectors.blazeface": "detection.blazeface",
    "detectors.opencv": "detection.opencv",
    "detectors.tiled": "detection.tiled",
    "lores": "detection.lores",
    "classifier": "classification.classifier",
    "preprocess": "classification.preprocess",
    "quant": "classification.quant",
    "sidecar": "classification.sidecar",
    "cost": "classification.cost",
    "follow": "tracking.follow",
    "lifecycle": "tracking.lifecycle",
    "pipeline": "pipeline.loop",
    "build": "pipeline.build",
    "stats": "pipeline.stats",
    "analyzer": "pipeline.analyzer",
    "progress": "pipeline.progress",
    "events": "outputs.events",
    "annotate": "outputs.annotate",
    "mqtt": "outputs.mqtt",
    "hass": "outputs.mqtt.hass",
    "httpd": "outputs.http.server",
    "preview": "outputs.http.preview",
    "mjpeg": "outputs.http.mjpeg",
    "runhttp": "outputs.http.runhttp",
    "monitor": "service.monitor",
    "sdnotify": "service.sdnotify",
    "datasets": "eval.datasets",
    "ferplus": "eval.ferplus",
    "scores": "eval.scores",
    "evaluation": "eval.report",
    "plots": "eval.plots",
}
# modules that become their package's __init__ in place (same dotted name)
PACKAGES_IN_PLACE = ("config", "sources", "tracking", "service", "cli")
NEW_PACKAGES = ("config", "sources", "detection", "classification", "tracking", "pipeline", "outputs",
                "outputs.mqtt", "outputs.http", "service", "eval", "cli")
DOCSTRINGS = {
    "classification": "Classifying face crops: the TFLite classifier, its preprocessing, quantization math, sidecar, MACs.",
    "pipeline": "The loop: one step per frame, the builder that makes it from a config, its stats.",
    "outputs": "Where results go: the events file, annotated frames, MQTT, HTTP.",
    "outputs.http": "The HTTP side: the server, metrics, the preview page and its MJPEG stream.",
    "eval": "Scoring models on labelled data: datasets, FER+ votes, scores, reports and plots.",
}
TEXT_GLOBS = ("edge/**/*.py", "train/**/*.py", "convert/**/*.py", "benchmarks/*.py", "tests/**/*.py", "README.md",
              "docs/**/*.md", "edge/models/*.md", "systemd/**/*", ".ci/run", "benchmarks/*.md")
ROOT = Path("edge")


def old_path(mod: str) -> Path:
    p = ROOT.joinpath(*mod.split("."))
    return p / "__init__.py" if p.is_dir() else p.with_suffix(".py")


def new_path(mod: str) -> Path:
    return ROOT.joinpath(*mod.split(".")) / "__init__.py" if mod in NEW_PACKAGES else \
        ROOT.joinpath(*mod.split(".")).with_suffix(".py")


def git_mv(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "mv", str(src), str(dst)], check=True)


def move_files() -> None:
    """Relative imports become absolute first (a moved module's dots would point elsewhere), then the files move."""
    for f in ROOT.rglob("*.py"):
        absolutize(f)
    for mod in PACKAGES_IN_PLACE:
        src = ROOT / f"{mod}.py"
        if src.exists():
            tmp = ROOT / f"_{mod}_tmp.py"
            git_mv(src, tmp)
            git_mv(tmp, ROOT / mod / "__init__.py")
    for old, new in sorted(MOVES.items(), key=lambda kv: -kv[0].count(".")):
        src = ROOT.joinpath(*old.split(".")).with_suffix(".py")
        if old == "detectors":
            src = ROOT / "detectors" / "__init__.py"
        if src.exists():
            git_mv(src, new_path(new))
    for pkg in NEW_PACKAGES:
        init = ROOT.joinpath(*pkg.split(".")) / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{DOCSTRINGS.get(pkg, pkg)}"""\n')
            subprocess.run(["git", "add", str(init)], check=True)
    if (ROOT / "detectors").exists() and not any((ROOT / "detectors").glob("*.py")):
        subprocess.run(["rm", "-rf", str(ROOT / "detectors")], check=True)


REL = re.compile(r"^(\s*)from (\.+)([\w.]*) import ", re.M)


def absolutize(f: Path) -> None:
    """`from .x import y` in edge/ -> `from fer_edge.x import y`, by the file's own place."""
    parts = ["fer_edge", *f.relative_to(ROOT).with_suffix("").parts]
    pkg = parts if f.name == "__init__.py" else parts[:-1]
    if f.name == "__init__.py":
        pkg = parts[:-1]

    def repl(m: re.Match[str]) -> str:
        base = pkg[: len(pkg) - (len(m.group(2)) - 1)]
        name = ".".join([*base, m.group(3)] if m.group(3) else base)
        return f"{m.group(1)}from {name} import "

    text = f.read_text()
    new = REL.sub(repl, text)
    if new != text:
        f.write_text(new)


NEW_MODULES = {f"fer_edge.{v}" for v in MOVES.values()} | {f"fer_edge.{p}" for p in NEW_PACKAGES} | {
    ".".join(["fer_edge", *p.relative_to(ROOT).with_suffix("").parts]).removesuffix(".__init__")
    for p in ROOT.glob("*/**/*.py")}  # modules added in the rooms since the move are new, never old


def map_dotted(name: str) -> str:
    """fer_edge.<old>[.<attr>...] -> fer_edge.<new>[.<attr>...]; names already in the new layout stay."""
    parts = name.split(".")
    for n in range(len(parts), 1, -1):
        old = ".".join(parts[1:n])
        if old in MOVES:
            # already new? e.g. fer_edge.pipeline.loop: a new module at least as long as the old prefix
            for k in range(len(parts), n, -1):
                if ".".join(parts[:k]) in NEW_MODULES:
                    return name
            return ".".join(["fer_edge", *MOVES[old].split("."), *parts[n:]])
    return name


DOTTED = re.compile(r"\bfer_edge(?:\.[A-Za-z_]\w*)+")
FROM_IMPORT = re.compile(r"^(\s*)from (fer_edge(?:\.\w+)*) import ([\w ,]+?)(\s*(?:#.*)?)$", re.M)


def rewrite_from(m: re.Match[str]) -> str:
    indent, base, names, tail = m.group(1), m.group(2), m.group(3), m.group(4)
    items = [n.strip() for n in names.split(",") if n.strip()]
    keep, lines = [], []
    for item in items:
        name, _, alias = item.partition(" as ")
        name, alias = name.strip(), alias.strip()
        full = f"{base}.{name}"
        old = full.removeprefix("fer_edge.")
        if old in MOVES and map_dotted(full) != full:
            new = map_dotted(full)
            parent, leaf = new.rsplit(".", 1)
            local = alias or name
            lines.append(f"{indent}from {parent} import {leaf}" + (f" as {local}" if local != leaf else ""))
        else:
            keep.append(item)
    if not lines:
        return m.group(0)
    if keep:
        lines.insert(0, f"{indent}from {base} import {', '.join(keep)}")
    lines[-1] += tail
    return "\n".join(lines)


EDGE_FILE = re.compile(r"\b(edge|fer_edge)/([a-z_]+(?:/[a-z_]+)?)\.py\b")


def map_file(m: re.Match[str]) -> str:
    """`edge/pipeline.py` in prose and tests -> `edge/pipeline/loop.py`."""
    old = m.group(2).replace("/", ".").removesuffix(".__init__")
    if old in PACKAGES_IN_PLACE:
        return f"{m.group(1)}/{old}/__init__.py"
    if old not in MOVES:
        return m.group(0)
    new = MOVES[old]
    tail = "/__init__.py" if new in NEW_PACKAGES else ".py"
    return f"{m.group(1)}/{new.replace('.', '/')}{tail}"


def rewrite_text(text: str) -> str:
    text = EDGE_FILE.sub(map_file, text)
    text = DOTTED.sub(map_match, text)
    return FROM_IMPORT.sub(rewrite_from, text)


def map_match(m: re.Match[str]) -> str:
    """`fer_edge.pipeline` was a module and is now a package: `from fer_edge.pipeline import loop` is new already."""
    name = m.group(0)
    after = re.match(r" import ([\w ,]+)", m.string[m.end():])
    if after and name in NEW_MODULES:
        names = [n.strip().partition(" as ")[0] for n in after.group(1).split(",")]
        if all(f"{name}.{n}" in NEW_MODULES for n in names):
            return name
    return map_dotted(name)


ABS = re.compile(r"^(\s*)from (fer_edge(?:\.\w+)*) import ", re.M)


def relativize(f: Path, text: str) -> str:
    """Inside edge/, imports stay relative (as before the move): mypy checks the folder, not the installed name."""
    here = ["fer_edge", *f.relative_to(ROOT).with_suffix("").parts]
    pkg = here[:-1]

    def repl(m: re.Match[str]) -> str:
        target = m.group(2).split(".")
        common = 0
        while common < min(len(pkg), len(target)) and pkg[common] == target[common]:
            common += 1
        dots = "." * (len(pkg) - common + 1)
        return f"{m.group(1)}from {dots}{'.'.join(target[common:])} import "

    return ABS.sub(repl, text)


def main(argv: list[str]) -> int:
    if "--move" in argv:
        move_files()
    files = sorted({p for g in TEXT_GLOBS for p in Path().glob(g) if p.is_file()})
    for f in files:
        text = f.read_text()
        new = rewrite_text(text)
        if f.suffix == ".py" and f.parts[0] == "edge":
            new = relativize(f, new)
        if new != text:
            f.write_text(new)
            print("rewrote", f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
