"""The atomic writer behind reports, sidecars, PNGs and bench results replaces only regular files: a device node,
a FIFO or a folder is refused in one line and left as it was; a symlink is followed and stays a link."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, write_fer_csv

from fer_edge.errors import UsageError
from fer_edge.files import atomic_write_text


def _char_device(path):
    """A node with /dev/full's numbers, made in the test's own folder (never a system one)."""
    if os.geteuid() != 0:
        pytest.skip("os.mknod of a character device needs root (CAP_MKNOD)")
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
    return path


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_device_node_is_refused_and_left_a_device(tmp_path):
    node = _char_device(tmp_path / "full")
    with pytest.raises(UsageError, match=r"full: is a character device, not a regular file; refusing"):
        atomic_write_text(node, "{}\n")
    assert stat.S_ISCHR(os.lstat(node).st_mode) and _leftovers(tmp_path) == []


def test_a_fifo_and_a_folder_are_refused(tmp_path):
    fifo, folder = tmp_path / "pipe", tmp_path / "dir.json"
    os.mkfifo(fifo)
    folder.mkdir()
    with pytest.raises(UsageError, match="is a FIFO"):
        atomic_write_text(fifo, "x")
    with pytest.raises(UsageError, match="is a folder"):
        atomic_write_text(folder, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir() and _leftovers(tmp_path) == []


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old\n")
    link.symlink_to(real.name)
    atomic_write_text(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == "real.json" and real.read_text() == "new\n"
    dangling = tmp_path / "later.json"
    dangling.symlink_to(tmp_path / "sub" / "made.json")  # its target does not exist yet
    atomic_write_text(dangling, "made\n")
    assert dangling.is_symlink() and (tmp_path / "sub" / "made.json").read_text() == "made\n"


def test_a_symlink_to_a_device_is_refused(tmp_path):
    node = _char_device(tmp_path / "full")
    link = tmp_path / "report.json"
    link.symlink_to(node)
    with pytest.raises(UsageError, match="report.json: is a character device"):
        atomic_write_text(link, "x")
    assert link.is_symlink() and stat.S_ISCHR(os.lstat(node).st_mode)


def test_an_unwritable_place_is_one_line_naming_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(Exception) as err:
        atomic_write_text(blocker / "report.json", "x")
    assert type(err.value).__name__ == "FerEdgeError" and "report.json: cannot write" in str(err.value)


def test_evaluate_report_onto_a_device_node_leaves_it_a_device(tmp_path):
    rng = np.random.default_rng(0)
    data = write_fer_csv(tmp_path / "mini.csv", [(i % 7, rng.integers(0, 256, (48, 48)), "PrivateTest")
                                                 for i in range(14)])
    node = _char_device(tmp_path / "report-node")
    proc = run_cli("evaluate", "--data", str(data), "--report", str(node), timeout=300)
    assert_one_line_error(proc, str(node), "character device", code=2)
    assert stat.S_ISCHR(os.lstat(node).st_mode), "the device node was replaced"
    assert not (tmp_path / "report-node.png").exists()
