"""Two versions of fer-edge side by side in one virtual environment, for a before/after measurement: a git commit
or the working tree, each copied into a temporary folder and laid out as an installed `fer_edge` package by its own
pyproject.toml's package-dir mapping, so `PYTHONPATH=<site>` runs that version and no other.

Copies, not the live tree: an edit while a measurement runs changes neither side, and the repository is not touched
(no worktree metadata, no build folders). The third-party packages are the environment's, the same for both sides.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fer_edge.errors import FerEdgeError, UsageError

WORKING_TREE = "working tree"


@dataclass(frozen=True)
class Checkout:
    """One side: what it is (`label`), where its files were copied, and the folder to put on PYTHONPATH."""

    label: str
    files: Path
    site: Path


def git(repo: Path, *args: str) -> bytes:
    """A git command's stdout in `repo`; a failure is an error naming the command."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    if proc.returncode != 0:
        raise FerEdgeError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def repo_root(start: Path) -> Path:
    try:
        return Path(git(start, "rev-parse", "--show-toplevel").decode().strip())
    except FerEdgeError:
        raise UsageError(f"{start}: not inside a git checkout (run from the fer-edge repository)") from None


def describe_side(repo: Path, rev: str | None) -> str:
    """`ac9650b` for a commit; `working tree at 92b79c4 (+ uncommitted changes)` for the working tree."""
    if rev is not None:
        try:
            return git(repo, "rev-parse", "--short", "--verify", f"{rev}^{{commit}}").decode().strip()
        except FerEdgeError:
            raise UsageError(f"{rev}: not a commit of {repo}") from None
    head = git(repo, "rev-parse", "--short", "HEAD").decode().strip()
    dirty = bool(git(repo, "status", "--porcelain", "--untracked-files=normal").strip())
    return f"{WORKING_TREE} at {head}" + (" (+ uncommitted changes)" if dirty else "")


def copy_files(repo: Path, rev: str | None, dest: Path) -> None:
    """The files of commit `rev` (git archive), or of the working tree when None: tracked and untracked files that
    git does not ignore, as they are on disk."""
    dest.mkdir(parents=True)
    if rev is not None:
        with tarfile.open(fileobj=io.BytesIO(git(repo, "archive", "--format=tar", rev))) as tar:
            tar.extractall(dest, filter="tar")
        return
    for name in git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split(b"\0"):
        src = repo / name.decode()
        if name and src.is_file():  # a tracked file deleted in the working tree is left out, as a commit would
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())


def lay_out(files: Path, site: Path) -> None:
    """`site/fer_edge/...` from the copy, by its pyproject.toml's [tool.setuptools.package-dir] (parents first:
    `fer_edge` = edge/, then `fer_edge.benchmarks` = benchmarks/ inside it), as an install would place them."""
    try:
        mapping = tomllib.loads((files / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise FerEdgeError(f"{files / 'pyproject.toml'}: no [tool.setuptools.package-dir] to lay the package out by "
                           f"({exc})") from None
    for package, folder in sorted(mapping.items(), key=lambda kv: kv[0].count(".")):
        shutil.copytree(files / folder, site.joinpath(*package.split(".")), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    if not (site / "fer_edge" / "__init__.py").is_file():
        raise FerEdgeError(f"{files}: its package-dir mapping gives no fer_edge package")


def prepare(repo: Path, rev: str | None, where: Path, name: str) -> Checkout:
    """Copy commit `rev` (or the working tree, for None) under `where/name` and lay it out as a package."""
    label = describe_side(repo, rev)
    files, site = where / name / "files", where / name / "site"
    copy_files(repo, rev, files)
    lay_out(files, site)
    return Checkout(label, files, site)
