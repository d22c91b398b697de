"""The service's one config: bad files and flags exit 2 naming the key; the shipped file documents every key."""

from __future__ import annotations

import re
import tomllib

import pytest
from conftest import ROOT, assert_one_line_error, run_cli

from fer_edge.config import Config, iter_keys, load_config
from fer_edge.config.keys import default_of
from fer_edge.errors import UsageError
from fer_edge.pipeline.check import check_loaders

SHIPPED = ROOT / "systemd" / "config.toml"


@pytest.mark.parametrize("text,fragments", [
    ("[http]\nprot = 8080\n", ("http.prot: unknown key",)),
    ("[source]\nfps = \"fast\"\n", ("source.fps: want a number, got 'fast'",)),
    ("[model]\npath = \"/nonexistent/model.tflite\"\n", ("model.path: /nonexistent/model.tflite: no such file",)),
    ("[http]\nport = 70000\n", ("http.port: 70000 is out of range (want from 0 to 65535)",)),
])
def test_bad_config_file_exits_2_naming_the_key(tmp_path, text, fragments):
    config = tmp_path / "config.toml"
    config.write_text(text)
    assert_one_line_error(run_cli("service", "--config", str(config), "--check-config"), str(config), *fragments,
                          code=2)


def test_bad_config_stops_the_start_too(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[camera]\nfps = 2\n")
    assert_one_line_error(run_cli("service", "--config", str(config)), "camera: unknown key", code=2)


def test_bad_flag_values_name_the_key_and_the_flag(tmp_path):
    assert_one_line_error(run_cli("service", "--check-config", "--http-port", "-1"),
                          "http.port (--http-port): -1 is out of range", code=2)
    assert_one_line_error(run_cli("service", "--check-config", "--threads", "two"),
                          "threads (--threads): want an integer, got 'two'", code=2)
    assert_one_line_error(run_cli("service", "--config", str(tmp_path / "none.toml"), "--check-config"),
                          "none.toml: no such config file", code=2)


def test_check_config_accepts_the_shipped_file_and_flags_alone():
    proc = run_cli("service", "--config", str(SHIPPED), "--check-config")
    assert proc.returncode == 0 and "config OK" in proc.stdout, proc.stderr
    proc = run_cli("service", "--source", "demo", "--http-port", "9000", "--check-config")
    assert proc.returncode == 0 and "config OK" in proc.stdout, proc.stderr


@pytest.mark.parametrize("text,message", [
    ("threads = true\n", "threads: want an integer, got True"),
    ("source = \"demo\"\n", "source: want a table ([source]), got 'demo'"),
    ("[source]\ninput = { path = 1 }\n", "source.input: want a value, got a table"),
    ("[model]\naccelerator = \"gpu\"\n", "model.accelerator: 'gpu' is not one of none, edgetpu"),
    ("[detector]\nname = \"mtcnn\"\n", "detector.name: 'mtcnn' is not one of blazeface"),
    ("[detector]\nname = \"yunet\"\n", "detector.options.model: needed for detector.name = \"yunet\""),
    ("[detector]\nname = \"yunet\"\noptions = { model = \"/no/such.onnx\" }\n",
     "detector.options.model: /no/such.onnx: no such file"),
    ("[detector.options]\ntile = 3\n",
     "detector.options.tile: not an option of the room detector (it takes search, zoom, check_score)"),
    ("[detector.options]\nmodel = { path = 1 }\n", "detector.options.model: want a value, got a table"),
    ("[smoothing]\nalpha = 0\n", "smoothing.alpha: 0.0 is out of range (want > 0)"),
    ("[source]\nreconnect_min_s = 5.0\nreconnect_max_s = 1.0\n", "source.reconnect_min_s: 5.0 is above"),
    ("[outputs]\nstats_every_s = nan\n", "outputs.stats_every_s: want a finite number"),
    ("[http\nport = 1\n", "not valid TOML"),
])
def test_every_kind_of_mistake_names_its_key(tmp_path, text, message):
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(UsageError) as err:
        load_config(config, check=check_loaders)  # as the service loads it: the detector's name too
    assert str(err.value).startswith(f"{config}: ") and message in str(err.value), str(err.value)


def test_flags_override_the_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("threads = 3\n[http]\nport = 1234\nenabled = false\n")
    cfg = load_config(config, {"http.port": "8080", "source.input": "demo", "http.enabled": "true"})
    assert (cfg.threads, cfg.http.port, cfg.http.enabled, cfg.source.input) == (3, 8080, True, "demo")
    assert load_config(None) == Config()


def test_shipped_config_documents_every_key_with_its_default():
    text = SHIPPED.read_text()
    table = tomllib.loads(text)
    lines = text.splitlines()
    cfg = load_config(SHIPPED)
    for path, f in iter_keys():
        *section, name = path.split(".")
        header = lines.index(f"[{section[0]}]") if section else 0
        at = next(i for i in range(header, len(lines)) if re.match(rf"{name} = ", lines[i]))
        assert lines[at - 1].startswith("#") or lines[at - 2].startswith("#"), f"{path} has no comment"
        node = table
        for s in section:
            node = node[s]
        assert name in node, path
        if path != "outputs.events":  # the one value the service sets apart from the defaults
            assert node[name] == default_of(f), (path, node[name], default_of(f))
    assert cfg.outputs.events == "/var/lib/fer-edge/events.jsonl"


def test_each_section_checks_its_own_keys():
    """A section's checks sit on the section (Frigate's validators on its models): callable without a whole tree."""
    from fer_edge.config import HttpConfig, MqttConfig, SourceConfig

    with pytest.raises(UsageError, match=r"^mqtt\.topic_prefix: 'a/#' is not a topic prefix"):
        MqttConfig(host="broker", topic_prefix="a/#").check()
    with pytest.raises(UsageError, match=r"^http\.preview: needs http\.enabled = true"):
        HttpConfig(enabled=False, preview=True).check()
    with pytest.raises(UsageError, match=r"^source\.reconnect_min_s: 5\.0 is above"):
        SourceConfig(reconnect_min_s=5.0, reconnect_max_s=1.0).check()
    MqttConfig(topic_prefix="a/#").check()  # no host: MQTT is off, its keys are not looked at
