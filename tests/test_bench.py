"""`fer-edge bench`: a real quick run (real models, real worker processes, the real demo photo and FER2013
images), its files, `--compare`, the machine facts, and bad inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, run_cli, write_demo_clip

from fer_edge.benchmarks.machine import describe, governors, temperatures_c
from fer_edge.benchmarks.report import SCHEMA, compare, model_rows, pareto_front, plot_points, png_text, render_markdown
from fer_edge.benchmarks.worker import latency_summary

BUNDLED = ROOT / "edge" / "models"


def test_pareto_front_keeps_only_undominated_points():
    # (latency ms, accuracy): b is slower and worse than a; d ties a on both (neither dominates the other)
    pts = [(1.0, 0.68), (2.0, 0.60), (0.3, 0.42), (1.0, 0.68), (0.3, 0.40)]
    assert pareto_front(pts) == [True, False, True, True, False]


def test_latency_summary_percentiles():
    s = latency_summary(np.array([0.001] * 98 + [0.002, 0.010]))
    assert s["min"] == 1.0 and s["p50"] == 1.0 and s["p99"] > 2.0 and s["mean"] == pytest.approx(1.10)
    assert s["cv"] > 0.5


def test_machine_facts_from_a_crafted_pi_tree(tmp_path):
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nBogoMIPS\t: 108.00\nModel\t\t: Raspberry Pi 5 Model B\n")
    for cpu, gov in (("cpu0", "ondemand"), ("cpu1", "ondemand")):
        (tmp_path / f"sys/devices/system/cpu/{cpu}/cpufreq").mkdir(parents=True)
        (tmp_path / f"sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor").write_text(gov + "\n")
    (tmp_path / "sys/class/thermal/thermal_zone0").mkdir(parents=True)
    (tmp_path / "sys/class/thermal/thermal_zone0/temp").write_text("48123\n")
    (tmp_path / "sys/class/thermal/thermal_zone0/type").write_text("cpu-thermal\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    assert governors(tmp_path) == ["ondemand"]
    assert temperatures_c(tmp_path) == {"cpu-thermal": 48.1}
    m = describe(root=tmp_path)
    assert m["board"] == "Raspberry Pi 5 Model B Rev 1.0" and m["cpu"] == "Raspberry Pi 5 Model B"
    assert m["os"] == "Debian GNU/Linux 12 (bookworm)" and m["runtime"] == "ai-edge-litert"
    assert any("governor is ondemand" in w for w in m["warnings"])


@pytest.mark.shared
def test_quick_run_with_data_writes_every_output(shared, fer_csv, tmp_path):
    out = tmp_path / "bench"
    ferplus = shared / "data" / "ferplus" / "fer2013new.csv"
    proc = run_cli("bench", "--quick", "--data", str(fer_csv), "--ferplus", str(ferplus), "--images", "400",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "eta" in proc.stderr and "100%" in proc.stderr  # the progress line
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == SCHEMA
    assert {"board", "cpu", "cores", "governor", "temperature_c", "throttled", "os", "python", "runtime", "packages",
            "delegate"} <= set(results["machine"])
    assert results["settings"]["images"] == 400 and results["settings"]["split"] == "PrivateTest"
    names = [m["name"] for m in results["models"]]
    assert names == ["cnn_fer2013_int8", "dscnn_ferplus_int8", "mobilenetv2_fer2013_int8"]
    for m in results["models"]:
        assert m["status"] == "ok" and m["accuracy_source"] == "measured" and m["images"] == 400
        assert m["variant"] == "int8" and m["size_bytes"] == (BUNDLED / f"{m['name']}.tflite").stat().st_size
        t = m["threads"]["1"]
        lat = t["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] and t["runs"] == 100
        assert t["load_ms"] > 0 and t["peak_rss_mb"] > t["baseline_rss_mb"] > 0
        assert t["tensorflow_loaded"] is False
    assert [(m["macs"], m["params"]) for m in results["models"]] == [(234_900_992, 1_174_446), (36_905_088, 1_206_583),
                                                                     (76_348_864, 1_364_398)]
    cnn = results["models"][0]
    # measured on these 400 images (2026-12): 0.665 (266 right) and macro-F1 0.654; 1.5% relative margin each (4 images)
    assert cnn["accuracy"] == pytest.approx(0.665, rel=0.015) and cnn["macro_f1"] == pytest.approx(0.654, rel=0.015)
    # FER+ beside FER2013, on the same 400 images: the rows with a 7-way majority, worked out here independently
    from fer_edge.classification.classifier import TFLiteClassifier
    from fer_edge.eval.datasets import load_split
    from fer_edge.eval.ferplus import paired_votes, split_outcomes

    truth = split_outcomes(ferplus, fer_csv, "PrivateTest")[:400]
    paired = paired_votes(ferplus, fer_csv, "PrivateTest")
    kept = np.where(paired.votes[:400] > 1, paired.votes[:400], 0)  # the published rule by hand: single votes out,
    clear = (2 * kept.max(axis=1) > kept.sum(axis=1)) & paired.named[:400]  # one column over half the rest
    split = load_split(fer_csv, "PrivateTest", (48, 48), 1)
    images = split.images[:400]
    for m in results["models"]:
        said = TFLiteClassifier(BUNDLED / f"{m['name']}.tflite").predict_dataset(images).argmax(1)
        assert m["accuracy"] == pytest.approx((said == split.label_ids[:400]).mean(), abs=1e-5)
        keep, neutral = truth >= 0, truth == 6
        assert m["ferplus_images"] == keep.sum() < 400
        assert m["ferplus_accuracy"] == pytest.approx((said[keep] == truth[keep]).mean(), abs=1e-5)
        assert m["ferplus_neutral_recall"] == pytest.approx((said[neutral] == 6).mean(), abs=1e-5)
        # fer2013new.csv's columns: neutral, happiness, surprise, sadness, anger, disgust, fear, then not scored
        published = np.array([6, 3, 5, 4, 0, 1, 2, -1, -1, -1])[kept.argmax(axis=1)]
        scored = clear & (published >= 0)
        assert m["ferplus_published_images"] == scored.sum() < keep.sum()
        assert m["ferplus_published_accuracy"] == pytest.approx((said[scored] == published[scored]).mean(), abs=1e-5)
    assert results["settings"]["ferplus"] == str(ferplus)
    video = results["video"]
    assert [(v["model"], v["status"], v["frames"]) for v in video] == [("cnn_fer2013_int8", "ok", 60),
                                                                       ("dscnn_ferplus_int8", "ok", 60),
                                                                       ("mobilenetv2_fer2013_int8", "ok", 60)]
    assert all(v["faces_per_frame"] == 1.0 and v["fps"] > 0 and not v["tensorflow_loaded"] for v in video)
    assert {"decode", "detect", "crop", "classify", "events"} <= set(video[0]["stages_ms"])
    # the demo runs as a video, so run's own interval rule applies: BlazeFace back (189 M) fits the 100 M a frame
    # budget on every 2nd frame; + one face x the classifier; + the tracker's optical flow on the face between detections
    assert video[0]["detect_every"] == 2 and video[0]["detector_macs"] == 189_000_000  # the detector's own figure
    assert "run's own rule" in video[0]["interval_rule"]
    assert all(0 < v["tracking_macs_per_frame"] < 3_000_000 for v in video)  # about 1.5 M a face a carried frame
    assert [v["macs_per_frame"] for v in video] == [189_000_000 // 2 + m + v["tracking_macs_per_frame"]
                                                    for v, m in zip(video, (234_900_992, 36_905_088, 76_348_864))]
    for v in video:  # the whole loop's latency percentiles and the worker's peak memory
        assert 0 < v["loop_ms"]["p50"] <= v["loop_ms"]["p95"] <= v["loop_ms"]["p99"] and v["peak_rss_mb"] > 30
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("model,kind,variant,threads,size_bytes,macs,params") and len(rows) == 4
    assert rows[1].split(",")[5:7] == ["234900992", "1174446"]
    report = (out / "report.md").read_text()
    assert "| cnn_fer2013_int8 | int8 | 1.17 MiB | 235 M |" in report and "(pareto.png)" in report
    assert (f"| {cnn['ferplus_accuracy']:.2%} | {cnn['ferplus_published_accuracy']:.2%} "
            f"| {cnn['ferplus_neutral_recall']:.1%} |") in report
    assert "FER+ accuracy by the published rule" in report
    assert rows[0].split(",")[7:12] == ["accuracy", "macro_f1", "ferplus_accuracy", "ferplus_published_accuracy",
                                        "ferplus_neutral_recall"]
    assert "| 331 M |" in report and "| 133 M |" in report and "| 172 M |" in report  # MACs per loop frame
    assert "★" in report and "The whole loop on a video" in report and "run's own rule" in report
    assert "(loop.png)" in report and png_text((out / "loop.png").read_bytes())["fer-edge-points"] == "3"
    png = (out / "pareto.png").read_bytes()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] > 200
    assert png_text(png)["fer-edge-points"] == "3" and results["plot"]["points"] == 3


@pytest.mark.shared
def test_quick_takes_your_models_and_counts_every_detectors_macs(shared, tmp_path):
    """--quick --models DIR: your models only; `room` and `yunet` rows carry MACs as `run` counts them; a model
    compiled for the Edge TPU is skipped, saying why, where no Edge TPU is (this machine)."""
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".tflite", ".json"):
        shutil.copy(BUNDLED / f"cnn_fer2013_int8{suffix}", models / f"cnn_int8{suffix}")
    shutil.copy(BUNDLED / "mobilenetv2_fer2013_int8.tflite", models / "mobilenetv2_int8_edgetpu.tflite")
    out = tmp_path / "bench"
    yunet = shared / "models" / "face_detection_yunet_2023mar.onnx"
    proc = run_cli("bench", "--quick", "--models", str(models), "--detectors", "room,yunet", "--yunet-model", str(yunet),
                   "--runs", "5", "--warmup", "1", "--video-frames", "10", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    by_name = {m["name"]: m for m in results["models"]}
    assert set(by_name) == {"cnn_int8", "mobilenetv2_int8_edgetpu"} and by_name["cnn_int8"]["status"] == "ok"
    tpu = by_name["mobilenetv2_int8_edgetpu"]
    assert tpu["status"] == "skipped" and "no Edge TPU" in tpu["error"] and "libedgetpu" in tpu["error"]
    assert results["machine"]["edgetpu"].startswith("not found")
    loops = {v["detector"]: v for v in results["video"]}
    assert set(loops) == {"room", "yunet"} and all(v["model"] == "cnn_int8" for v in loops.values())
    # the demo is 512x512: room is one BlazeFace back pass there; YuNet counts 841 MACs a pixel
    from fer_edge.detection.opencv import YUNET_MACS_PER_PIXEL

    assert loops["room"]["detector_macs"] == 189_000_000
    assert loops["yunet"]["detector_macs"] == round(YUNET_MACS_PER_PIXEL * 512 * 512)
    assert all(v["macs_per_frame"] for v in loops.values())
    # run's interval rule, not a fixed 2: YuNet's 220 M a call is spread over 3 frames to fit 100 M a frame
    assert (loops["room"]["detect_every"], loops["yunet"]["detect_every"]) == (2, 3)
    assert "SKIPPED mobilenetv2_int8_edgetpu: no Edge TPU" in proc.stdout


def test_sustain_logs_fps_temperature_and_throttling_from_a_fake_sysfs(tmp_path):
    root = tmp_path / "sys-root"
    zone = root / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("61234\n")
    (zone / "type").write_text("cpu-thermal\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vcgencmd"  # the firmware's tool, as on a Pi that is throttling now (bits 2 and 18)
    fake.write_text("#!/bin/sh\n[ \"$1\" = get_throttled ] && echo throttled=0x40004\n")
    fake.chmod(0o755)
    out = tmp_path / "sustain"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FER_EDGE_SYSFS_ROOT": str(root),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "fer_edge.cli", "bench", "--sustain", "0.06", "--sustain-every", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "sustain.json").read_text())
    samples = record["samples"]
    assert len(samples) >= 3 and [s["t_s"] for s in samples] == sorted(s["t_s"] for s in samples)
    assert all(s["temperature_c"] == {"cpu-thermal": 61.2} and s["throttled"] == "throttled=0x40004" for s in samples)
    assert all(s["fps"] > 0 for s in samples) and record["frames"] == samples[-1]["frames"]
    assert record["detect_every"] == 2 and record["model"] == "dscnn_ferplus_int8"
    assert "cpu-thermal 61.2 °C, throttled=0x40004" in proc.stderr
    rows = (out / "sustain.csv").read_text().splitlines()
    assert rows[0] == "t_s,frames,fps,throttled,cpu-thermal_c" and len(rows) == len(samples) + 1


def _result(created: str, p50: dict[str, float], fps: float, acc: float) -> dict:
    models = [{"name": name, "kind": "tflite", "variant": "int8", "status": "ok", "accuracy": acc, "macro_f1": acc - 0.01,
               "macs": int(v * 1e8), "params": 1000,
               "threads": {"1": {"status": "ok", "load_ms": 10, "latency_ms": {"min": v, "mean": v, "p50": v, "p90": v,
                                                                               "p99": v, "cv": 0.01}}}}
              for name, v in p50.items()]
    return {"schema": SCHEMA, "created": created, "command": ["fer-edge", "bench"], "settings": {"threads": [1]},
            "machine": {"board": f"board {created}", "cores": 4, "arch": "aarch64"}, "models": models,
            "video": [{"detector": "blazeface", "model": "cnn_fer2013_int8", "threads": 1, "status": "ok", "fps": fps,
                       "faces_per_frame": 1.0, "stages_ms": {"detect": {"mean": 4.0}}, "detect_every": 2}]}


def test_compare_prints_ratios_of_two_crafted_results(tmp_path):
    a = _result("A", {"cnn_fer2013_int8": 2.0, "only_in_a": 1.0}, fps=20.0, acc=0.68)
    b = _result("B", {"cnn_fer2013_int8": 1.0}, fps=50.0, acc=0.66)
    rows = compare(a, b)
    assert [(r["what"], r["ratio"]) for r in rows] == [("cnn_fer2013_int8 ×1", 0.5), ("blazeface + cnn_fer2013_int8 ×1", 2.5)]
    assert rows[0]["accuracy_delta_pt"] == -2.0
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    proc = run_cli("bench", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("A: board A") and lines[1].startswith("B: board B")
    assert any(ln.startswith("cnn_fer2013_int8 ×1") and ln.split()[-2:] == ["0.500", "-2.00"] for ln in lines), proc.stdout
    assert any(ln.startswith("blazeface + cnn_fer2013_int8 ×1") and ln.split()[-1] == "2.500" for ln in lines), proc.stdout
    assert len(model_rows(a)) == 2


def test_report_renders_from_results_alone_and_says_when_the_plot_is_missing():
    r = _result("A", {"cnn_fer2013_int8": 2.0}, fps=20.0, acc=0.68) | {"settings": {"threads": [1], "data": "fer.csv",
                                                                         "split": "PrivateTest", "images": 10}}
    r["machine"] |= {"warnings": ["CPU governor is ondemand, not performance"], "cpu": "Cortex-A76"}
    text = render_markdown(r, None, "No `pareto.png`: matplotlib is not installed")
    assert text.startswith("# fer-edge bench: board A (4 cores, aarch64)")
    assert "> warning: CPU governor is ondemand" in text and "No `pareto.png`: matplotlib" in text
    assert "| cnn_fer2013_int8 | int8 | - | 200 M |" in text and "| ★ |" in text and "![" not in text


def test_pareto_fronts_against_latency_and_against_macs():
    r = _result("A", {"fast": 1.0, "slow": 2.0}, fps=20.0, acc=0.68)
    r["models"][1]["accuracy"] = 0.70
    r["models"][0]["macs"] = 300_000_000  # fast on this machine but more compute: off the MACs front
    pts = {p["model"]: p for p in plot_points(r)}
    assert pts["fast"]["pareto"] and pts["slow"]["pareto"]
    assert not pts["fast"]["pareto_macs"] and pts["slow"]["pareto_macs"]


def test_corrupt_model_among_good_ones_fails_alone(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(BUNDLED / "cnn_fer2013_int8.tflite", models / "cnn_fer2013_int8.tflite")
    shutil.copy(BUNDLED / "cnn_fer2013_int8.json", models / "cnn_fer2013_int8.json")
    (models / "broken.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 8)
    out = tmp_path / "bench"
    proc = run_cli("bench", "--models", str(models), "--runs", "5", "--warmup", "1", "--video-frames", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FAILED broken" in proc.stdout and "Traceback" not in proc.stderr
    results = json.loads((out / "results.json").read_text())
    by_name = {m["name"]: m for m in results["models"]}
    assert by_name["broken"]["status"] == "failed" and "broken.tflite" in by_name["broken"]["error"]
    assert by_name["cnn_fer2013_int8"]["status"] == "ok" and by_name["cnn_fer2013_int8"]["accuracy_source"] == "sidecar"
    recorded = json.loads((BUNDLED / "cnn_fer2013_int8.json").read_text())["accuracy"]  # both label sets, from it
    assert by_name["cnn_fer2013_int8"]["accuracy"] == recorded["fer2013"]["accuracy"]
    assert by_name["cnn_fer2013_int8"]["ferplus_accuracy"] == recorded["ferplus"]["accuracy"]
    assert by_name["cnn_fer2013_int8"]["ferplus_neutral_recall"] == recorded["ferplus"]["recall"]["neutral"]
    published = by_name["cnn_fer2013_int8"]["ferplus_published_accuracy"]
    assert published == recorded["ferplus"]["published_rule"]["accuracy"] > 0
    assert [v["model"] for v in results["video"]] == ["cnn_fer2013_int8"]  # a failed model is not run on the video
    assert "failed:" in (out / "report.md").read_text()
    assert (out / "results.csv").read_text().count("failed") == 1


@pytest.mark.shared
def test_loop_rows_are_scored_against_yunet_on_the_users_clip(shared, tmp_path):
    """--yunet-model adds the scene benchmark's quality measures to each loop row: YuNet at full size on every frame
    of the clip is the truth, so a detector that finds fewer of those faces scores a lower recall."""
    out = tmp_path / "bench"
    clip = shared / "data" / "scenes" / "fr_short_hamilton_clip.mp4"
    proc = run_cli("bench", "--models", str(BUNDLED / "cnn_fer2013_int8.tflite"), "--runs", "5", "--warmup", "1",
                   "--video", str(clip), "--video-frames", "40", "--detectors", "blazeface-back,blazeface-short",
                   "--yunet-model", str(shared / "models" / "face_detection_yunet_2023mar.onnx"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["quality_reference"] == "YuNet at full size"
    back, short = results["video"]
    assert back["frames"] == short["frames"] == 40
    for v in (back, short):
        q = v["quality"]
        assert q["frames"] == 40 and 77 <= q["faces"] <= 94  # YuNet finds 85 faces in these 40 frames (+-10%)
        assert {"recall_by_width", "no_face_per_frame", "no_face_share", "box_iou_carried", "ids_per_track",
                "id_switches"} <= q.keys()
    # measured (2026-12): back's recall 0.682 and box IoU 0.576, short's recall 0.235; 10% below each figure
    assert back["quality"]["recall"] >= 0.61 and back["quality"]["box_iou_detected"] >= 0.52, back["quality"]
    assert short["quality"]["recall"] < back["quality"]["recall"]  # short range: faces within 2 m of a phone
    report = (out / "report.md").read_text()
    assert "### Against YuNet at full size" in report
    assert f"| blazeface-back | cnn_fer2013_int8 | 1 | {back['quality']['recall']:.3f} |" in report
    assert "of YuNet's faces" in proc.stdout


def test_bad_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("bench", "--models", str(empty), "--out", str(tmp_path / "o")),
                          "empty: no .tflite model", code=2)
    assert_one_line_error(run_cli("bench", "--quick", "--split", "Validation", "--out", str(tmp_path / "o")),
                          "unknown split 'Validation'", code=2)
    assert_one_line_error(run_cli("bench", "--quick", "--ferplus", str(tmp_path / "f.csv"), "--out", str(tmp_path / "o")),
                          "--ferplus needs --data", code=2)
    assert_one_line_error(run_cli("bench", "--compare", str(tmp_path / "none.json"), str(tmp_path / "none.json")),
                          "none.json: no such results file", code=2)
    (tmp_path / "other.json").write_text('{"schema": "something-else"}')
    assert_one_line_error(run_cli("bench", "--compare", str(tmp_path / "other.json"), str(tmp_path / "other.json")),
                          "other.json: not a fer-edge-bench/1 results file")
    assert_one_line_error(run_cli("bench", "--quick", "--threads", "1,x", "--out", str(tmp_path / "o")), "--threads", code=2)
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("taskset") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout, git and taskset")
def test_before_after_runs_a_commit_and_the_working_tree_each_from_its_own_copy(tmp_path):
    """The refactor check: HEAD and the working tree, each imported from its own laid-out copy, alternately on the
    same clip; the same loop finds the same faces, and both files are written."""
    from fer_edge.benchmarks.before_after import main

    clip = write_demo_clip(tmp_path / "demo.avi", 6, 320)
    cpu = min(os.sched_getaffinity(0))
    assert main(["--before", "HEAD", "--repeats", "2", "--clip", str(clip), "--cpu", str(cpu), "--repo", str(ROOT),
                 "--out", str(tmp_path / "ba"), "--", "--frames", "4"]) == 0
    result = json.loads((tmp_path / "ba.json").read_text())
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    assert result["before"]["label"] == head.strip() and result["after"]["label"].startswith("working tree at ")
    for side in ("before", "after"):
        runs = result[side]["runs"]
        assert len(runs) == 2 and all(r["frames"] == 4 and r["fps"] > 0 and r["stage_ms"]["classify"] > 0 for r in runs)
    assert result["before"]["summary"]["faces_per_frame"] == result["after"]["summary"]["faces_per_frame"] == [1.0]
    assert result["run_command"][:3] == ["taskset", "-c", str(cpu)] and result["fps_ratio"] > 0
    assert "| loop fps |" in (tmp_path / "ba.md").read_text()


def test_the_plots_show_ferplus_accuracy_when_every_model_has_it():
    """The front is drawn on the FER+ majority accuracy (the labels people agree with) when every model has one; a
    model without it puts every point back on FER2013's."""
    from fer_edge.benchmarks.report_rows import loop_points, plotted

    r = _result("A", {"fast": 1.0, "slow": 2.0}, fps=20.0, acc=0.68)
    r["models"][1]["accuracy"] = 0.70  # slow is better on FER2013 ...
    r["models"][0]["ferplus_accuracy"], r["models"][1]["ferplus_accuracy"] = 0.80, 0.75  # ... fast on FER+
    assert plotted(r) == ("ferplus_accuracy", "FER+ majority accuracy")
    pts = {p["model"]: p for p in plot_points(r)}
    assert pts["fast"]["y"] == 0.80 and pts["fast"]["pareto"] and not pts["slow"]["pareto"]
    r["video"][0]["model"] = "fast"
    assert [p["y"] for p in loop_points(r)] == [0.80]
    del r["models"][0]["ferplus_accuracy"]
    assert plotted(r) == ("accuracy", "FER2013 accuracy")
    pts = {p["model"]: p for p in plot_points(r)}
    assert pts["slow"]["y"] == 0.70 and pts["fast"]["pareto"] and pts["slow"]["pareto"]


def test_a_loop_row_takes_what_room_spent_a_frame():
    """`room` searched in parts spends its budget a part and a close look at a time, not its whole search every Nth
    frame: a loop row takes what it spent a frame (passes, second looks, close looks; the worker's
    `detector_macs_per_frame`), plus the classifier per face and the tracker, as the scene benchmark does."""
    from fer_edge.benchmarks.bench_models import loop_cost

    model = {"macs": 36_905_088}
    plain = {"ok": True, "detector_macs": 1_701_000_000, "detect_every": 18, "faces_per_frame": 2.0,
             "tracking_macs_per_frame": 5_000_000}
    assert loop_cost(model, plain)["macs_per_frame"] == round(1_701_000_000 / 18 + 2 * 36_905_088 + 5_000_000)
    spread = plain | {"detector_macs_per_frame": 120_000_000}
    assert loop_cost(model, spread)["macs_per_frame"] == 120_000_000 + 2 * 36_905_088 + 5_000_000
