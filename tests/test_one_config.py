"""`run` and `service` describe the loop with one config: the same keys, flags and defaults, and one builder."""

from __future__ import annotations

import argparse
import json
import tomllib

from conftest import run_cli

from fer_edge.cli import build_parser
from fer_edge.config import SERVICE_ONLY, Config, config_from, flags_of, iter_keys, load_config, to_toml
from fer_edge.pipeline.build import build_pipeline

RUN_ONLY = {"frames", "append", "annotate", "show", "summary", "print_config"}  # docs/run.md, "Config keys"
SERVICE_ONLY_FLAGS = {"config", "check_config", "mqtt_forget"}


def _dests(command: str) -> dict[str, list[str]]:
    """dest: option strings of one subcommand's flags (not --help, --verbose)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    return {a.dest: a.option_strings for a in parser._actions if a.option_strings and a.dest not in ("help", "verbose")}


def test_every_run_flag_is_a_config_key_and_every_key_a_run_flag():
    keys = dict(iter_keys())
    run = _dests("run")
    assert set(run) - set(keys) == RUN_ONLY
    assert set(keys) - set(run) == set(SERVICE_ONLY)
    for path, strings in run.items():
        if path in keys:
            assert strings == flags_of(path, keys[path]), path


def test_run_and_service_share_flag_names():
    run, service = _dests("run"), _dests("service")
    assert set(service) - set(run) == set(SERVICE_ONLY) | SERVICE_ONLY_FLAGS
    for path in set(run) & set(service):
        assert run[path] == service[path], path


def test_legacy_run_flags_and_long_spellings_give_the_same_config():
    short = ["--margin", "0.4", "--min-face-score", "0.5", "--level-eyes", "--stats-every", "3", "--fps", "20",
             "--accelerator", "none", "--detect-every", "3", "--width", "320"]
    long = ["--detector-margin", "0.4", "--detector-min-score", "0.5", "--detector-level-eyes", "true",
            "--outputs-stats-every-s", "3", "--source-fps", "20", "--model-accelerator", "none", "--detector-every",
            "3", "--source-width", "320"]
    from fer_edge.cli import run_config

    a = run_config(build_parser().parse_args(["run", *short]))
    b = run_config(build_parser().parse_args(["run", *long]))
    assert a == b and a.detector.margin == 0.4 and a.detector.level_eyes and a.outputs.stats_every_s == 3.0


def test_run_defaults_are_the_config_defaults():
    from fer_edge.cli import run_config

    assert run_config(build_parser().parse_args(["run"])) == Config()
    assert Config().outputs.stats_every_s == 10.0 and Config().source.fps == 15.0


def test_print_config_round_trips_through_service_check_config(tmp_path):
    proc = run_cli("run", "--source", "demo", "--margin", "0.3", "--level-eyes", "--smoothing-alpha", "0.5",
                   "--stats-every", "2", "--print-config")
    assert proc.returncode == 0, proc.stderr
    table = tomllib.loads(proc.stdout)
    assert table["detector"]["margin"] == 0.3 and table["http"]["enabled"] is False
    path = tmp_path / "config.toml"
    path.write_text(proc.stdout)
    cfg = load_config(path)
    assert (cfg.source.input, cfg.detector.level_eyes, cfg.smoothing.alpha, cfg.outputs.stats_every_s) == \
        ("demo", True, 0.5, 2.0)
    check = run_cli("service", "--config", str(path), "--check-config")
    assert check.returncode == 0, check.stderr


def test_to_toml_leaves_secrets_out():
    cfg = config_from({"mqtt.host": "broker", "mqtt.username": "u", "mqtt.password": "hunter2"})
    text = to_toml(cfg)
    assert "hunter2" not in text and "password_file" in text
    assert tomllib.loads(text)["mqtt"]["host"] == "broker"


def test_build_pipeline_takes_every_loop_setting_from_the_config():
    cfg = config_from({"detector.name": "blazeface-short", "detector.margin": 0.5, "detector.level_eyes": True,
                       "detector.every": 3, "outputs.stats_every_s": 2.0, "tracking.max_carry_s": 0.9,
                       "tracking.follow": "velocity", "tracking.confirm": "hits"})
    p = build_pipeline(cfg, max_frames=4)
    assert (p.options.margin, p.options.level_eyes, p.options.detect_every, p.options.max_frames) == (0.5, True, 3, 4)
    assert (p.tracker.max_carry_s, p.tracker.follow, p.tracker.confirm) == (0.9, "velocity", "hits")
    assert p.new_tracker() is not p.tracker and p.info["detector"] == "blazeface-short"
    assert p.tracker.checker is None  # only the room detector's tile-only boxes get a second look
    room = build_pipeline(config_from({"detector.name": "room"}))
    assert room.tracker.checker is not None and room.new_tracker().checker is room.tracker.checker
    budget = build_pipeline(config_from({"detector.name": "blazeface-short"})).options
    assert budget.detect_budget_macs > 0


def test_run_record_carries_the_config_keys_without_secrets(tmp_path):
    events = tmp_path / "e.jsonl"
    proc = run_cli("run", "--source", "demo", "--frames", "1", "--events", str(events), "--margin", "0.3")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(events.read_text().splitlines()[0])
    assert run["config"]["detector.margin"] == 0.3 and "mqtt.password" not in run["config"]


def test_detector_options_go_through_flags_toml_and_back(tmp_path):
    """`detector.options` is a table the chosen detector checks: a flag gives it, --print-config writes it inline,
    the service reads it back, and flags add to a file's table."""
    from fer_edge.cli import run_config

    cfg = run_config(build_parser().parse_args(["run", "--detector", "yunet", "--detector-options", "model=y.onnx"]))
    assert cfg.detector.options == {"model": "y.onnx"}
    text = to_toml(cfg)
    assert 'options = {model = "y.onnx"}' in text
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert load_config(path) == cfg
    path.write_text('[detector]\nname = "yunet"\noptions = { model = "a.onnx" }\n')
    assert load_config(path, {"detector.options": "model=b.onnx"}).detector.options == {"model": "b.onnx"}
    proc = run_cli("service", "--check-config", "--detector", "yunet", "--detector-options", f"model={tmp_path}/none.onnx")
    assert proc.returncode == 2 and "detector.options.model (--detector-options)" in proc.stderr, proc.stderr
    proc = run_cli("service", "--check-config", "--detector-options", "model")
    assert proc.returncode == 2 and "want NAME=VALUE" in proc.stderr, proc.stderr
