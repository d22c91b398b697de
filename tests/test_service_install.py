"""systemd/install.sh for real, as root, in a private mount namespace: /etc, /opt and /var/lib are the test's
own folders there, so the user it creates, the venv, the config and the unit land in tmp_path and the machine is
left as it was. systemd is not running here (as in a chroot or an image build), so the unit is enabled, not
started; the service itself is tested in test_service.py."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import ROOT, _missing

pytestmark = [pytest.mark.network]  # pip fetches the light install's wheels

SCRIPT = ROOT / "systemd" / "install.sh"
# as `sudo` sets it (secure_path): the venv is made from the system python3, which the service user can run, not
# from a python3 in root's home
SUDO_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        _missing("install.sh needs root")
    if not shutil.which("unshare") or not shutil.which("systemctl") or not shutil.which("useradd"):
        _missing("needs unshare, systemctl and useradd")
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is running here: install.sh would start a real service")
    root = tmp_path_factory.mktemp("world")
    for name in ("opt", "varlib"):
        (root / name).mkdir()
    subprocess.run(["cp", "-a", "/etc/.", str(root / "etc")], check=True)
    return root


def ns(world, *cmd: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`cmd` with the world's /etc, /opt and /var/lib mounted over the real ones, in a mount namespace of its own."""
    mounts = (f"mount --bind {world}/etc /etc && mount --bind {world}/opt /opt && "
              f"mount --bind {world}/varlib /var/lib && exec \"$@\"")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", mounts, "_", *cmd],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PATH": SUDO_PATH})


def _user(world, name: str) -> str | None:
    return next((line for line in (world / "etc/passwd").read_text().splitlines() if line.startswith(name + ":")), None)


def test_install_is_idempotent_and_uninstall_keeps_then_purges(world):
    etc, unit = world / "etc", world / "etc/systemd/system/fer-edge.service"
    had_build = (ROOT / "build").exists()
    proc = ns(world, "bash", str(SCRIPT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "created system user fer-edge" in proc.stdout and "starts at the next boot" in proc.stdout
    assert "created-user fer-edge" in (etc / "fer-edge/install-state").read_text().splitlines()
    user = _user(world, "fer-edge")
    assert user and user.endswith(":/var/lib/fer-edge:/usr/sbin/nologin"), user
    video = next((g for g in (etc / "group").read_text().splitlines() if g.startswith("video:")), None)
    assert video is None or "fer-edge" in video.split(":")[-1].split(","), video
    assert unit.read_text() == (ROOT / "systemd/fer-edge.service").read_text()
    assert (etc / "systemd/system/multi-user.target.wants/fer-edge.service").is_symlink()
    assert (etc / "fer-edge/config.toml").read_text() == (ROOT / "systemd/config.toml").read_text()
    assert (world / "opt/fer-edge/venv/bin/fer-edge").is_file()
    pages = sorted(p.name for p in (ROOT / "docs").iterdir() if p.is_file())
    assert "run.md" in pages and sorted(p.name for p in (world / "opt/fer-edge/docs").iterdir()) == pages
    assert (world / "opt/fer-edge/docs/run.md").read_text() == (ROOT / "docs/run.md").read_text()  # the README's links
    check = ns(world, "/opt/fer-edge/venv/bin/fer-edge", "service", "--config", "/etc/fer-edge/config.toml", "--check-config")
    assert check.returncode == 0, check.stderr
    # the light install only: no TensorFlow in the service's venv
    assert not list((world / "opt/fer-edge/venv/lib").glob("python3*/site-packages/tensorflow"))
    assert (ROOT / "build").exists() == had_build  # built from a copy: no litter in the checkout

    # again, with an edited config: kept, the shipped one beside it; the user is not created twice
    (etc / "fer-edge/config.toml").write_text("threads = 2\n")
    again = ns(world, "bash", str(SCRIPT))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created system user" not in again.stdout and "kept /etc/fer-edge/config.toml" in again.stdout
    assert (etc / "fer-edge/config.toml").read_text() == "threads = 2\n"
    assert (etc / "fer-edge/config.toml.default").read_text() == (ROOT / "systemd/config.toml").read_text()

    # a config that install.sh finds invalid stops it with exit 2 before the unit is touched
    (etc / "fer-edge/config.toml").write_text("[http]\nport = 99999\n")
    bad = ns(world, "bash", str(SCRIPT))
    assert bad.returncode == 2 and "http.port" in bad.stderr, bad.stdout + bad.stderr
    (etc / "fer-edge/config.toml").write_text("threads = 2\n")

    gone = ns(world, "bash", str(SCRIPT), "--uninstall")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not unit.exists() and not (etc / "systemd/system/multi-user.target.wants/fer-edge.service").exists()
    assert not (world / "opt/fer-edge").exists()
    assert (etc / "fer-edge/config.toml").is_file() and _user(world, "fer-edge")

    purged = ns(world, "bash", str(SCRIPT), "--uninstall", "--purge", "--yes")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert not (etc / "fer-edge").exists() and _user(world, "fer-edge") is None
    assert not (world / "varlib/fer-edge").exists()
    assert "removed the user fer-edge" in purged.stdout


def test_an_existing_account_is_reused_and_kept_and_the_config_is_checked_as_the_service_user(world):
    """Here the fer-edge account is someone else's, made before install.sh runs."""
    etc = world / "etc"
    ns(world, "userdel", "fer-edge")  # whatever an earlier failure left
    for leftover in (etc / "fer-edge", world / "opt/fer-edge", world / "varlib/fer-edge"):
        shutil.rmtree(leftover, ignore_errors=True)
    made = ns(world, "useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
              "fer-edge")
    assert made.returncode == 0, made.stderr
    (etc / "fer-edge").mkdir(mode=0o755)
    secret = etc / "fer-edge/secret.tflite"
    shutil.copy(ROOT / "edge/models/cnn_fer2013_int8.tflite", secret)
    secret.chmod(0o600)  # root's alone: the service could not load it
    (etc / "fer-edge/config.toml").write_text('[model]\npath = "/etc/fer-edge/secret.tflite"\n')
    try:
        bad = ns(world, "bash", str(SCRIPT))
        assert "using the existing account fer-edge" in bad.stdout and "created system user" not in bad.stdout
        assert bad.returncode == 2 and "model.path" in bad.stderr and "not readable by this user" in bad.stderr, \
            bad.stdout + bad.stderr
        secret.chmod(0o644)
        good = ns(world, "bash", str(SCRIPT))
        assert good.returncode == 0, good.stdout + good.stderr
        assert "created-user" not in (etc / "fer-edge/install-state").read_text()

        purged = ns(world, "bash", str(SCRIPT), "--uninstall", "--purge", "--yes")
        assert purged.returncode == 0, purged.stdout + purged.stderr
        assert "kept the user fer-edge: install.sh did not create it" in purged.stdout
        assert _user(world, "fer-edge") is not None
        # the folder, the config and the model were there before install.sh: kept; what it made there is gone
        assert sorted(p.name for p in (etc / "fer-edge").iterdir()) == ["config.toml", "secret.tflite"]
        video = next((g for g in (etc / "group").read_text().splitlines() if g.startswith("video:")), None)
        assert video is None or "fer-edge" not in video.split(":")[-1].split(","), video  # its membership undone
    finally:
        ns(world, "userdel", "fer-edge")



# --- what install.sh may delete: only what its manifest lists (no pip: the worlds below are made by hand) ---

@pytest.fixture
def bare(tmp_path):
    """A fresh world of its own for each test (the module's `world` holds a real install)."""
    if os.geteuid() != 0:
        _missing("install.sh needs root")
    if not shutil.which("unshare") or not shutil.which("systemctl"):
        _missing("needs unshare and systemctl")
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is running here: install.sh would touch a real service")
    for name in ("opt", "varlib"):
        (tmp_path / name).mkdir()
    subprocess.run(["cp", "-a", "/etc/.", str(tmp_path / "etc")], check=True)
    return tmp_path


def _checkout(folder) -> None:
    """A clone with local work in it, where the README's recipe could leave one."""
    (folder / "systemd").mkdir(parents=True)
    shutil.copy(SCRIPT, folder / "systemd" / "install.sh")
    shutil.copy(ROOT / "README.md", folder / "README.md")
    (folder / "pyproject.toml").write_text("[project]\nname = 'fer-edge'\n")
    (folder / "my-local-change.py").write_text("work not pushed anywhere\n")


@pytest.mark.parametrize("run_from", ["elsewhere", "the checkout itself"])
def test_a_checkout_at_the_prefix_is_refused_and_uninstall_leaves_it_whole(bare, run_from):
    prefix = bare / "opt/fer-edge"
    _checkout(prefix)
    script = "/opt/fer-edge/systemd/install.sh" if run_from != "elsewhere" else str(SCRIPT)
    before = sorted(p.relative_to(prefix) for p in prefix.rglob("*"))
    proc = ns(bare, "bash", script, timeout=120)
    assert proc.returncode == 2 and ("checkout" in proc.stderr or "runs from" in proc.stderr), proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "/opt/fer-edge" in proc.stderr, proc.stderr
    assert not (bare / "etc/fer-edge").exists()  # refused before anything was made
    gone = ns(bare, "bash", script, "--uninstall", timeout=120)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert sorted(p.relative_to(prefix) for p in prefix.rglob("*")) == before
    assert (prefix / "my-local-change.py").read_text() == "work not pushed anywhere\n"
    assert "kept /opt/fer-edge: install.sh did not make it" in gone.stdout


def _installed_by_hand(world) -> None:
    """What an install leaves, with its manifest, and beside it files install.sh did not make."""
    prefix, conf, state = world / "opt/fer-edge", world / "etc/fer-edge", world / "varlib/fer-edge"
    (prefix / "venv/bin").mkdir(parents=True)
    (prefix / "venv/pyvenv.cfg").write_text("home = /usr/bin\n")
    (prefix / "README.md").write_text("readme\n")
    (prefix / "notes.txt").write_text("the admin's own notes\n")  # not install.sh's
    conf.mkdir()
    (conf / "config.toml").write_text("threads = 2\n")
    (conf / "broker.password").write_text("hunter2\n")  # not install.sh's
    state.mkdir()
    (state / "events.jsonl").write_text("{}\n")
    unit = world / "etc/systemd/system/fer-edge.service"
    unit.write_text((ROOT / "systemd/fer-edge.service").read_text())
    (conf / "install-state").write_text("\n".join([
        "confdir /etc/fer-edge", "dir /opt/fer-edge", "statedir /var/lib/fer-edge", "venv /opt/fer-edge/venv",
        "file /opt/fer-edge/README.md", "config /etc/fer-edge/config.toml",
        "file /etc/systemd/system/fer-edge.service"]) + "\n")


def test_uninstall_removes_what_the_manifest_lists_and_nothing_else(bare):
    _installed_by_hand(bare)
    proc = ns(bare, "bash", str(SCRIPT), "--uninstall", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prefix = bare / "opt/fer-edge"
    assert not (prefix / "venv").exists() and not (prefix / "README.md").exists()
    assert not (bare / "etc/systemd/system/fer-edge.service").exists()
    assert (prefix / "notes.txt").read_text() == "the admin's own notes\n"
    assert "kept /opt/fer-edge: it holds files install.sh did not make" in proc.stdout
    assert (bare / "etc/fer-edge/config.toml").is_file() and (bare / "varlib/fer-edge/events.jsonl").is_file()


def test_purge_lists_what_it_deletes_and_needs_a_yes(bare):
    _installed_by_hand(bare)
    conf, state = bare / "etc/fer-edge", bare / "varlib/fer-edge"
    no_tty = ns(bare, "bash", str(SCRIPT), "--uninstall", "--purge", timeout=120)  # stdin is not a terminal
    assert no_tty.returncode == 2 and "add --yes" in no_tty.stderr, no_tty.stdout + no_tty.stderr
    assert "/etc/fer-edge/config.toml" in no_tty.stdout and "/var/lib/fer-edge/ (1 files in it)" in no_tty.stdout
    assert "broker.password" not in no_tty.stdout  # not install.sh's: never on the list
    assert (bare / "opt/fer-edge/venv").is_dir() and (conf / "config.toml").is_file()  # nothing removed yet

    import pty

    leader, follower = pty.openpty()  # a person at a terminal, who answers no
    os.write(leader, b"n\n")
    mounts = (f"mount --bind {bare}/etc /etc && mount --bind {bare}/opt /opt && "
              f"mount --bind {bare}/varlib /var/lib && exec \"$@\"")
    asked = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", mounts, "_", "bash",
                            str(SCRIPT), "--uninstall", "--purge"], stdin=follower, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "PATH": SUDO_PATH})
    os.close(follower)
    os.close(leader)
    assert asked.returncode == 1 and "nothing removed" in asked.stderr, asked.stdout + asked.stderr
    assert (conf / "config.toml").is_file() and (state / "events.jsonl").is_file()

    yes = ns(bare, "bash", str(SCRIPT), "--uninstall", "--purge", "--yes", timeout=120)
    assert yes.returncode == 0, yes.stdout + yes.stderr
    assert not (conf / "config.toml").exists() and not state.exists()
    assert (conf / "broker.password").read_text() == "hunter2\n"  # the folder stays for the file it did not make
    assert "kept /etc/fer-edge: it holds files install.sh did not make" in yes.stdout
    assert not (conf / "install-state").exists()
    assert (bare / "opt/fer-edge/notes.txt").is_file()


# --- issue 20, D18: accounts install.sh did not make ---

@pytest.mark.parametrize("make,fragment", [
    (("useradd", "-M", "-d", "/home/fer-edge", "-u", "1500", "-s", "/bin/bash", "fer-edge"),
     "the account fer-edge (uid 1500, shell /bin/bash, home /home/fer-edge) is a person's login account"),
    (("useradd", "--system", "-M", "-s", "/bin/bash", "fer-edge"), "is a person's login account"),
    (("groupadd", "fer-edge"), "a group fer-edge (gid"),
], ids=["a person's account", "a system account with a login shell", "a group without the user"])
def test_an_account_or_group_it_did_not_make_is_refused_before_anything_is_made(bare, make, fragment):
    made = ns(bare, *make, timeout=60)
    assert made.returncode == 0, made.stderr
    proc = ns(bare, "bash", str(SCRIPT), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr
    assert not (bare / "etc/fer-edge").exists() and not (bare / "opt/fer-edge").exists()
    video = next((g for g in (bare / "etc/group").read_text().splitlines() if g.startswith("video:")), "")
    assert "fer-edge" not in video.split(":")[-1].split(","), video  # never put in the camera group
