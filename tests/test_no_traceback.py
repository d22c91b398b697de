"""No traceback, ever (issue 12): every subcommand through each class of bad input that once gave one. Each case
asserts one error line, the exit code (2 for a usage or config mistake, 1 for a bad file or a missing extra) and no
`Traceback`; each class is fixed once, at its depth (edge/files.py for output paths, edge/classification/sidecar.py for sidecars,
the config's limits for values, edge/runtime.py for file names, edge/cli/__init__.py's main for the light install)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, cli_env, run_cli

from fer_edge.bundled import DEFAULT_MODEL

GONE = "/proc/fer-edge-no-such-dir"  # nobody, root included, can make a folder here
YUNET = "face_detection_yunet_2023mar.onnx"


@pytest.fixture()
def place(tmp_path: Path) -> Path:
    """A file where a folder is wanted, a folder, and a one-image labelled tree for `evaluate`."""
    import cv2

    (tmp_path / "file").write_text("I am a file\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "data" / "test" / "happy").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "data" / "test" / "happy" / "a.png"), np.full((48, 48), 128, np.uint8))
    return tmp_path


OUTPUT_PATHS = [
    (("bench", "--quick", "--out", "{file}"), 2, ["--out", "is not a folder"]),
    (("bench", "--quick", "--out", GONE + "/bench"), 2, ["--out", "cannot write in"]),
    (("evaluate", "--data", "{data}", "--report", "{folder}"), 2, ["folder", "not a regular file"]),
    (("evaluate", "--data", "{data}", "--report", "/proc/report.json"), 2, ["--report", "cannot write in /proc"]),
    (("evaluate", "--data", "{data}", "--report", "{file}/report.json"), 2, ["--report", "is not a folder"]),
    (("run", "--source", "demo", "--events", GONE + "/e.jsonl"), 2, ["e.jsonl", "cannot open events file"]),
    (("run", "--source", "demo", "--events", "{folder}"), 2, ["cannot open events file"]),
    (("convert", "{model}", "--out", "{file}"), 2, ["--out", "is not a folder"]),
    (("service", "--config", "{folder}", "--check-config"), 2, ["cannot read config"]),
]

VALUES = [
    (("run", "--source", "demo", "--threads", "99999999999"), 2, ["--threads", "out of range"]),
    (("evaluate", "--data", "{data}", "--threads", "99999999999"), 2, ["--threads", "out of range"]),
    (("bench", "--quick", "--threads", "1,99999999999", "--out", "{folder}"), 2, ["--threads", "out of range"]),
    (("service", "--check-config", "--threads", "99999999999"), 2, ["--threads", "out of range"]),
    (("run", "--source", "demo", "--detector", "yunet", "--detector-options", "model={yunet}", "--min-face-score", "-1"), 2,
     ["--min-face-score", "out of range"]),
    (("run", "--source", "demo", "--detector", "yunet", "--detector-options", "model={yunet}", "--min-face-score", "nan"), 2,
     ["--min-face-score", "finite"]),
    (("service", "--check-config", "--detector", "yunet", "--detector-options", "model={yunet}",
      "--detector-min-score", "nan"), 2, ["detector.min_score", "finite"]),
    (("run", "--source", "demo", "--margin", "inf", "--level-eyes"), 2, ["--margin", "finite"]),
    (("run", "--source", "demo", "--margin", "1e6", "--level-eyes"), 2, ["--margin", "out of range"]),
    (("service", "--check-config", "--detector-margin", "1e6"), 2, ["detector.margin", "out of range"]),
]


def _fill(args: tuple[str, ...], place: Path, shared: Path | None) -> list[str]:
    names = {"file": place / "file", "folder": place / "folder", "data": place / "data", "model": DEFAULT_MODEL,
             "yunet": shared / "models" / YUNET if shared else ""}
    return [a.format(**{k: str(v) for k, v in names.items()}) for a in args]


def _needs_shared(args) -> bool:
    return any("{yunet}" in a for a in args)


def _id(value) -> str | None:
    return " ".join(value) if isinstance(value, tuple) else None


def _cases(shared: bool = False, tf: bool = False) -> list:
    """The cases that name the shared YuNet model, those of `convert` (it loads TensorFlow before it checks --out),
    or the others."""
    return [case for case in OUTPUT_PATHS + VALUES if _needs_shared(case[0]) == shared and (case[0][0] == "convert") == tf]


@pytest.mark.parametrize("args,code,fragments", _cases(), ids=_id)
def test_bad_outputs_and_values_are_one_line(args, code, fragments, place):
    assert_one_line_error(run_cli(*_fill(args, place, None), timeout=180), *fragments, code=code)


@pytest.mark.tf
@pytest.mark.parametrize("args,code,fragments", _cases(tf=True), ids=_id)
def test_bad_convert_outputs_are_one_line(args, code, fragments, place, tf_available):
    assert_one_line_error(run_cli(*_fill(args, place, None), timeout=180), *fragments, code=code)


@pytest.mark.shared
@pytest.mark.parametrize("args,code,fragments", _cases(shared=True), ids=_id)
def test_bad_detector_values_with_the_shared_yunet_model_are_one_line(args, code, fragments, place, shared):
    assert_one_line_error(run_cli(*_fill(args, place, shared), timeout=180), *fragments, code=code)


def _model_with_sidecar(folder: Path, **changes) -> Path:
    model = folder / "model.tflite"
    shutil.copy(DEFAULT_MODEL, model)
    side = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text()) | changes
    model.with_suffix(".json").write_text(json.dumps(side))
    return model


@pytest.mark.parametrize("changes,key", [({"labels": [["happy"], ["sad"]]}, "labels"), ({"labels": 7}, "labels"),
                                         ({"accuracy": 0.6}, "accuracy"), ({"macs": "many"}, "macs")])
def test_sidecars_that_parse_but_are_wrong(changes, key, place):
    model = str(_model_with_sidecar(place, **changes))
    for args, code in ((("run", "--source", "demo", "--model", model), 1),
                       (("evaluate", model, "--data", str(place / "data"), "--report", str(place / "r.json")), 1),
                       (("service", "--model", model, "--check-config"), 2)):
        assert_one_line_error(run_cli(*args, timeout=120), "model.json", f'"{key}"', code=code)
    proc = run_cli("bench", "--models", model, "--out", str(place / "bench"), "--runs", "2", "--warmup", "0")
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    assert f'"{key}"' in json.loads((place / "bench" / "results.json").read_text())["models"][0]["sidecar_error"]


def test_a_model_path_that_is_not_utf8(place):
    odd = os.fsdecode(bytes(place) + b"/mod\xffel.tflite")  # a name as a Latin-1 system would write it
    shutil.copy(DEFAULT_MODEL, odd)
    shutil.copy(DEFAULT_MODEL.with_suffix(".json"), os.fsdecode(bytes(place) + b"/mod\xffel.json"))
    proc = run_cli("run", "--source", "demo", "--frames", "1", "--model", odd)
    assert proc.returncode == 0 and json.loads(proc.stdout.splitlines()[0])["label"] == "happy", proc.stderr
    proc = run_cli("evaluate", odd, "--data", str(place / "data"), "--report", str(place / "r.json"))
    assert proc.returncode == 0, proc.stderr
    os.unlink(odd)
    assert_one_line_error(run_cli("run", "--source", "demo", "--model", odd), "no such model file", code=1)


@pytest.mark.parametrize("args", [("train", "--data", "{data}", "--out", "{folder}/run"),
                                  ("convert", "{folder}/m.keras", "--out", "{folder}/out"),
                                  ("evaluate", "{folder}/m.keras", "--data", "{data}", "--report", "{folder}/r.json"),
                                  ("evaluate", "{folder}/saved", "--data", "{data}", "--report", "{folder}/r.json")])
def test_the_light_install_says_which_extra_to_install(args, place):
    (place / "folder" / "m.keras").write_bytes(b"PK\x03\x04")
    (place / "folder" / "saved").mkdir()
    (place / "folder" / "saved" / "saved_model.pb").write_bytes(b"")  # a SavedModel by its files
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", *_fill(args, place, None)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=cli_env(place, block=("keras", "tensorflow")))
    assert_one_line_error(proc, "light install", 'pip install "fer-edge[train]"', code=2)


@pytest.mark.tf
def test_train_output_folder_that_is_a_file(place, tf_available):
    proc = run_cli("train", "--data", str(place / "data"), "--out", str(place / "file"), timeout=300)
    assert_one_line_error(proc, "--out", "is not a folder", code=2)


# --- issue 20, D15: argparse, evaluate's model kinds, run's up-front refusals, config and video oddities ---

@pytest.mark.parametrize("args", [("run", "--bogus"), ("run", "--frames", "x"), ("evaluate",),
                                  ("service", "--http-port"), (), ("no-such-command",)], ids=_id)
def test_argparse_errors_are_one_line(args):
    proc = run_cli(*args, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0], proc.stderr


EVALUATE = [
    (("evaluate", "{model}", "--normalize", "bogus", "--data", "{data}"), ["--normalize 'bogus'", "Keras models only"]),
    (("evaluate", "{model}", "--normalize", "unit", "--data", "{data}"), ["--normalize 'unit'", "Keras models only"]),
    (("evaluate", "{folder}/x.onnx", "--data", "{data}"), ["x.onnx", "not a model evaluate reads"]),
    (("evaluate", "{folder}", "--data", "{data}"), ["folder", "not a SavedModel"]),
]


@pytest.mark.parametrize("args,fragments", EVALUATE, ids=_id)
def test_evaluate_refuses_what_it_would_ignore_or_misname(args, fragments, place):
    (place / "folder" / "x.onnx").write_bytes(b"\x08\x07onnx")
    assert_one_line_error(run_cli(*_fill(args, place, None), timeout=120), *fragments, code=2)


@pytest.mark.parametrize("annotate,source,fragments", [
    ("/dev/full", "demo", ["--annotate /dev/full", "not a folder"]),
    ("/dev/full", "{clip}", ["/dev/full", "character device"]),
    ("/proc/nope/x.jpg", "demo", ["--annotate /proc/nope/x.jpg", "cannot write in /proc"]),
    ("/proc/nope/x.avi", "{clip}", ["--annotate /proc/nope/x.avi", "cannot write in /proc"]),
], ids=["photo to /dev/full", "video to /dev/full", "photo under /proc", "video under /proc"])
def test_run_refuses_a_bad_annotate_target_before_the_run(annotate, source, fragments, tmp_path):
    from conftest import write_demo_clip

    clip = write_demo_clip(tmp_path / "clip.avi", 40, 128)
    events = tmp_path / "events.jsonl"
    events.write_text('{"kept": true}\n')  # an earlier run's: a refused run must not start it afresh
    proc = run_cli("run", "--source", source.format(clip=clip), "--annotate", annotate, "--events", str(events),
                   timeout=120)
    assert_one_line_error(proc, *fragments, code=2)
    assert events.read_text() == '{"kept": true}\n'


def test_run_refuses_an_empty_source():
    assert_one_line_error(run_cli("run", "--source", ""), "source.input (--source): empty", code=2)


def test_check_config_names_an_events_path_that_cannot_be_written(tmp_path):
    for target, fragment in ((GONE + "/events.jsonl", "cannot write in /proc"), (str(tmp_path), "is a folder")):
        proc = run_cli("service", "--events", target, "--check-config")
        assert_one_line_error(proc, "outputs.events", fragment, code=2)
    proc = run_cli("service", "--events", str(tmp_path / "new/sub/events.jsonl"), "--check-config")
    assert proc.returncode == 0 and not (tmp_path / "new").exists(), proc.stderr  # checked, nothing made


def test_a_config_with_a_utf8_bom_reads_as_toml(tmp_path):
    """Windows editors start a UTF-8 file with a BOM: it was `not valid TOML (Invalid statement (at line 1 ...))`."""
    config = tmp_path / "config.toml"
    config.write_bytes(b"\xef\xbb\xbf[http]\nport = 8788\n")
    proc = run_cli("service", "--config", str(config), "--check-config")
    assert proc.returncode == 0 and "config OK" in proc.stdout, proc.stderr
    config.write_bytes(b"\xef\xbb\xbf[http]\nport = 99999\n")
    assert_one_line_error(run_cli("service", "--config", str(config), "--check-config"), "http.port",
                          "out of range", code=2)


def test_a_truncated_video_is_read_to_the_damage_with_a_warning(tmp_path):
    from conftest import write_demo_clip

    clip = write_demo_clip(tmp_path / "clip.avi", 60, 128)
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:len(data) // 2])
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", "--source", str(cut), "--events", str(events), "--detector", "blazeface", timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"source {cut}: the video ended at frame " in proc.stderr and "of 60: the file is truncated or damaged" \
        in proc.stderr, proc.stderr
    whole = run_cli("run", "--source", str(clip), "--events", str(events), "--detector", "blazeface", timeout=120)
    assert whole.returncode == 0 and "truncated" not in whole.stderr, whole.stderr
