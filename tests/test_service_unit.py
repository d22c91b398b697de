"""The systemd unit and the install script, checked by systemd's own tools.

`systemd-analyze verify` wants ExecStart's binary to exist; the installed path (/opt/fer-edge/venv/bin/fer-edge)
does not here, so the unit is verified as a copy whose ExecStart names a stub executable, and nothing else changes.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import ROOT, _missing

UNIT = ROOT / "systemd" / "fer-edge.service"
INSTALL = ROOT / "systemd" / "install.sh"
EXEC = "/opt/fer-edge/venv/bin/fer-edge"


def _analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        _missing("systemd-analyze not installed (apt install systemd; .ci/run does)")
    return path


def _settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_systemd_analyze_verify_reports_nothing(tmp_path):
    analyze = _analyze()
    stub = tmp_path / "fer-edge"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    text = UNIT.read_text()
    assert text.count(EXEC) == 1
    (tmp_path / "fer-edge.service").write_text(text.replace(EXEC, str(stub)))
    proc = subprocess.run([analyze, "verify", str(tmp_path / "fer-edge.service")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout == proc.stderr == "", proc.stdout + proc.stderr


def test_systemd_analyze_security_exposure_is_at_most_2(tmp_path):
    analyze = _analyze()
    shutil.copy(UNIT, tmp_path / "fer-edge.service")
    proc = subprocess.run([analyze, "security", "--offline=true", "fer-edge.service"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    found = re.search(r"Overall exposure level for fer-edge\.service: (\d+\.\d)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    assert float(found.group(1)) <= 2.0, proc.stdout


def test_unit_runs_the_installed_service_the_way_issue_and_install_script_expect():
    s = _settings()
    assert s["ExecStart"] == [f"{EXEC} service --config /etc/fer-edge/config.toml"]
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"] and s["RestartPreventExitStatus"] == ["2"]
    assert int(s["WatchdogSec"][0]) >= 2 * 16  # the default reconnect_max_s fits between two pings, uncapped
    assert int(s["StartLimitBurst"][0]) >= 1 and int(s["TimeoutStopSec"][0]) >= 2
    # restarts come only from crashes, hangs and device errors: a crash loop (start, fail, RestartSec) or a hung
    # loop (start, WatchdogSec, RestartSec) reaches the burst within the interval, so it fails for good
    start = int(s["TimeoutStartSec"][0])
    hung = start + int(s["WatchdogSec"][0]) + int(s["RestartSec"][0])
    assert int(s["StartLimitBurst"][0]) * hung <= int(s["StartLimitIntervalSec"][0])
    assert s["User"] == ["fer-edge"] and s["SupplementaryGroups"] == ["video"] and s["ProtectSystem"] == ["strict"]
    assert s["StateDirectory"] == ["fer-edge"] and s["CapabilityBoundingSet"] == [""] and "MemoryMax" in s


def test_unit_bounds_descriptors_and_tasks_above_what_the_http_endpoint_may_take():
    from fer_edge.outputs.http.server import FD_RESERVE, MAX_CONNECTIONS

    s = _settings()
    assert int(s["LimitNOFILE"][0]) >= MAX_CONNECTIONS + FD_RESERVE + 64  # clients, the reserve, the loop's own
    assert 32 <= int(s["TasksMax"][0]) <= 256  # one HTTP thread: the cap is for the loop's threads and FFmpeg's
    install = INSTALL.read_text()
    for line in ("PREFIX=/opt/fer-edge", 'VENV="$PREFIX/venv"', 'CONF="$CONF_DIR/config.toml"', "CONF_DIR=/etc/fer-edge",
                 "SERVICE_USER=fer-edge", "STATE=/var/lib/fer-edge"):
        assert line in install.splitlines(), line


def test_install_script_parses_and_refuses_bad_usage():
    assert subprocess.run(["bash", "-n", str(INSTALL)]).returncode == 0
    if shutil.which("shellcheck"):
        proc = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
    proc = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--uninstall --purge" in proc.stdout
    proc = subprocess.run(["bash", str(INSTALL), "--frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown option --frobnicate" in proc.stderr
    proc = subprocess.run(["bash", str(INSTALL), "--purge"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--purge goes with --uninstall" in proc.stderr


@pytest.mark.parametrize("name", ["config.toml", "pi-constraints.txt", "fer-edge.service"])
def test_install_script_ships_what_it_installs(name):
    assert (ROOT / "systemd" / name).is_file() and f"systemd/{name}" in INSTALL.read_text()


CORAL = ROOT / "systemd" / "coral-usb.conf"


def _unit_with_coral(tmp_path) -> dict[str, str]:
    """The unit (ExecStart a stub) and the Coral drop-in where systemd looks for them: fer-edge.service.d/ beside it,
    found through SYSTEMD_UNIT_PATH as install.sh's /etc/systemd/system/fer-edge.service.d/ is on a Pi."""
    stub = tmp_path / "fer-edge"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    (tmp_path / "fer-edge.service").write_text(UNIT.read_text().replace(EXEC, str(stub)))
    (tmp_path / "fer-edge.service.d").mkdir()
    shutil.copy(CORAL, tmp_path / "fer-edge.service.d" / "coral-usb.conf")
    import os

    return {**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"}


def test_coral_drop_in_verifies_and_opens_usb_devices_only(tmp_path):
    analyze = _analyze()
    env = _unit_with_coral(tmp_path)
    proc = subprocess.run([analyze, "verify", "fer-edge.service"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0 and proc.stdout == proc.stderr == "", proc.stdout + proc.stderr
    security = subprocess.run([analyze, "security", "--offline=true", "fer-edge.service"], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env=env)
    acl = re.search(r"DeviceAllow=.*device ACL with some special devices: (.*?)\s{2,}", security.stdout)
    assert acl and "char-usb_device:rw" in acl.group(1).split(), security.stdout  # merged with the unit's camera ACL
    assert "char-video4linux:rw" in acl.group(1).split()
    found = re.search(r"Overall exposure level for fer-edge\.service: (\d+\.\d)", security.stdout)
    assert found and float(found.group(1)) <= 2.0, security.stdout
    settings = [line for line in CORAL.read_text().splitlines() if line and not line.startswith("#")]
    assert settings == ["[Service]", "DeviceAllow=char-usb_device rw", "SupplementaryGroups=plugdev"]


def test_install_script_takes_coral_only_with_an_install():
    proc = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "--coral" in proc.stdout
    bad = subprocess.run(["bash", str(INSTALL), "--uninstall", "--coral"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--coral goes with an install" in bad.stderr
