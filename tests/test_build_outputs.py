"""Which outputs a config turns on, for `fer-edge run` and `fer-edge service`: one table, checked end to end.

The table was read from the wiring as it was before `build_outputs` (by hand in the run command and in
run_service) and checked against those commands as users run them; the same table now holds for the commands.
"""

from __future__ import annotations

import re
import socket

import pytest
from conftest import run_cli

# (flags, the outputs they give): `events` the events file or stdout, `annotate` the annotated copy, `mqtt` the MQTT
# client, `http` the endpoint (/healthz, /metrics, /events/latest), `preview` its page, `summary` --summary's table.
RUN = [
    ((), {"events"}),
    (("--events", ""), set()),
    (("--annotate", "{tmp}/annotated.jpg"), {"events", "annotate"}),
    (("--mqtt-host", "127.0.0.1", "--mqtt-port", "{port}"), {"events", "mqtt"}),
    (("--http-port", "0"), {"events", "http"}),
    (("--http-port", "0", "--http-preview", "true"), {"events", "http", "preview"}),
    (("--summary",), {"events", "summary"}),
    (("--events", "", "--mqtt-host", "127.0.0.1", "--mqtt-port", "{port}", "--http-preview", "true"),
     {"mqtt", "http", "preview"}),
]
# The service always has its watchdog (sd_notify) besides these; its HTTP endpoint is on unless turned off.
SERVICE = [
    (("--events", "{tmp}/events.jsonl"), {"events", "http"}),
    (("--events", ""), {"http"}),
    (("--events", "{tmp}/events.jsonl", "--http-enabled", "false"), {"events"}),
    (("--events", "{tmp}/events.jsonl", "--http-preview", "true"), {"events", "http", "preview"}),
    (("--events", "", "--mqtt-host", "127.0.0.1", "--mqtt-port", "{port}"), {"http", "mqtt"}),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fill(flags: tuple[str, ...], tmp_path) -> list[str]:
    port = str(_free_port())  # nobody listens: the MQTT client says it cannot reach the broker, and retries
    return [f.replace("{tmp}", str(tmp_path)).replace("{port}", port) for f in flags]


def _seen(stdout: str, stderr: str, tmp_path) -> set[str]:
    """The outputs a command's own output shows: what it wrote, and the start lines each output logs."""
    found = set()
    if '"type":"face"' in stdout or any('"type":"face"' in p.read_text() for p in tmp_path.glob("*.jsonl")):
        found.add("events")
    if (tmp_path / "annotated.jpg").is_file():
        found.add("annotate")
    if "cannot reach 127.0.0.1:" in stderr:
        found.add("mqtt")
    if re.search(r"\bhttp http://127\.0\.0\.1:\d+", stderr):
        found.add("http")
    if "http: preview on at" in stderr:
        found.add("preview")
    if "face ids" in stdout + stderr:
        found.add("summary")
    return found


@pytest.mark.parametrize("flags, outputs", RUN, ids=[" ".join(f) or "defaults" for f, _ in RUN])
def test_run_turns_on_the_outputs_its_flags_ask_for(flags, outputs, tmp_path):
    proc = run_cli("run", "--source", "demo", "--frames", "2", *_fill(flags, tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _seen(proc.stdout, proc.stderr, tmp_path) == outputs, proc.stderr


@pytest.mark.parametrize("flags, outputs", SERVICE, ids=[" ".join(f) for f, _ in SERVICE])
def test_service_turns_on_the_outputs_its_config_asks_for(flags, outputs, tmp_path):
    from test_service import Service

    with Service(tmp_path, "--source", "demo", "--source-fps", "20", *_fill(flags, tmp_path)) as svc:
        svc.wait_for("fps, 1 face")  # a processed frame: every output has had one
        assert svc.stop() == 0, svc.stderr()
    assert _seen("", svc.stderr(), tmp_path) == outputs, svc.stderr()


# -- the builder itself: the same table, from the config each command builds from its flags

KINDS = {"EventsSink": "events", "StillSink": "annotate", "VideoSink": "annotate", "MqttSink": "mqtt", "Health": "http",
         "Preview": "preview", "Summary": "summary"}


def _built(mode: str, flags: list[str], tmp_path):
    """build_outputs as the command calls it, for `flags`: the config, and run's own options, from its parser."""
    import threading

    from fer_edge.cli import build_parser
    from fer_edge.cli.run import run_request, run_settings
    from fer_edge.config import load_config, overrides_from
    from fer_edge.outputs.build import RunRequest, build_outputs
    from fer_edge.pipeline.build import model_labels
    from fer_edge.sources import open_source
    from fer_edge.sources.reconnect import ReconnectingSource

    args = build_parser().parse_args([mode, "--source", "demo", *flags])
    if mode == "run":
        cfg, source, request = run_settings(args), open_source("demo"), run_request(args)
    else:
        cfg, request = load_config(None, overrides_from(args)), RunRequest()
        source = ReconnectingSource(lambda: open_source("demo"), "demo", threading.Event())
    return build_outputs(cfg, mode, labels=model_labels(cfg), source=source, run=request)


@pytest.mark.parametrize("flags, outputs", RUN, ids=[" ".join(f) or "defaults" for f, _ in RUN])
def test_build_outputs_for_a_run_config_gives_the_run_s_outputs(flags, outputs, tmp_path):
    with _built("run", _fill(flags, tmp_path), tmp_path) as built:
        assert [KINDS[type(s).__name__] for s in built.sinks].count("events") <= 1
        assert {KINDS[type(s).__name__] for s in built.sinks} == outputs
        assert (built.detecting is not None) == ("mqtt" in outputs)  # MQTT's detection switch reaches the loop
        assert (built.http is not None) == ("http" in outputs)


@pytest.mark.parametrize("flags, outputs", SERVICE, ids=[" ".join(f) for f, _ in SERVICE])
def test_build_outputs_for_a_service_config_gives_the_service_s_outputs(flags, outputs, tmp_path):
    with _built("service", [*_fill(flags, tmp_path), "--http-port", "0"], tmp_path) as built:
        assert {KINDS[type(s).__name__] for s in built.sinks} == outputs


def test_api_outputs_are_the_events_alone_whatever_else_the_config_turns_on(tmp_path):
    """A program running the loop itself (a benchmark) gets no port, no broker, no picture."""
    import io

    from fer_edge.config import config_from
    from fer_edge.outputs.build import build_outputs

    cfg = config_from({"mqtt.host": "127.0.0.1", "http.preview": True, "http.port": 0})
    with build_outputs(cfg, "api", labels=("happy",), events_to=io.StringIO()) as built:
        assert [KINDS[type(s).__name__] for s in built.sinks] == ["events"] and built.http is None


def test_a_start_that_fails_leaves_the_events_file_as_it_was(tmp_path):
    """A taken port (exit 1) or a model that will not load (exit 2) is found before the events file is touched:
    `run` does not start it afresh, the service appends no record."""
    events = tmp_path / "events.jsonl"
    events.write_text('{"type":"stats","frames":7}\n')
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        taken = run_cli("run", "--source", "demo", "--events", str(events), "--http-port", port, timeout=120)
    assert taken.returncode == 1 and "already in use" in taken.stderr, taken.stderr
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model")
    bad = run_cli("service", "--source", "demo", "--events", str(events), "--http-enabled", "false", "--model",
                  str(broken), timeout=120)
    assert bad.returncode == 2 and "model.path" in bad.stderr, bad.stderr
    assert events.read_text() == '{"type":"stats","frames":7}\n'
