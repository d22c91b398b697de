"""The device side (edge/, benchmarks/) never imports TensorFlow: proven in a fresh interpreter."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from conftest import ROOT


def test_edge_and_benchmarks_import_without_tensorflow():
    modules = [m.name for m in pkgutil.walk_packages([str(ROOT / "edge")], "fer_edge.") if not m.name.endswith("__main__")]
    modules += [f"fer_edge.benchmarks.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "benchmarks")])]
    assert "fer_edge.runtime" in modules and "fer_edge.classification.classifier" in modules
    assert "fer_edge.outputs.mqtt.hass" in modules and len(modules) > 50  # every room's modules, not just the top
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "from fer_edge.bundled import DEFAULT_MODEL\n"
        "from fer_edge.classification.classifier import TFLiteClassifier\n"
        "import numpy as np\n"
        "clf = TFLiteClassifier(DEFAULT_MODEL)\n"
        "p = clf.predict(np.zeros((2, *clf.input.size, clf.input.channels), np.uint8))\n"
        "assert p.shape == (2, 7), p.shape\n"
        "from fer_edge.runtime import runtime_name\n"
        "assert runtime_name() == 'ai-edge-litert', runtime_name()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print('LOADED', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOADED []" in proc.stdout
