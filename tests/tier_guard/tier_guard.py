"""What a test may reach follows its markers: without `tf` TensorFlow, Keras and JAX are absent; without `network`
no name beyond this machine resolves and pip has no index. Installed in the test's own process by tests/conftest.py
and in every Python subprocess the test starts (through sitecustomize.py beside this file, on PYTHONPATH), so the test
meets a light, offline machine. An import of an absent package or a lookup is noted in $FER_EDGE_TIER_LOG, where
conftest.py finds it and fails the test, naming the marker it lacks; a probe (`importlib.util.find_spec`, as a light
install's own checks make) finds nothing and is noted as a probe only, shown if the test fails for it."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

LOG, BLOCK, OFFLINE = "FER_EDGE_TIER_LOG", "FER_EDGE_TIER_BLOCK", "FER_EDGE_TIER_OFFLINE"
_saved: dict[str, object] = {}


def note(what: str) -> None:
    path = os.environ.get(LOG)
    if path:
        with open(path, "a") as fh:
            fh.write(what + "\n")


def local_name(host) -> bool:
    """A name that this machine answers without asking a DNS server."""
    if host is None or isinstance(host, bytes | bytearray):
        host = (host or b"").decode() if host is not None else ""
    host = str(host).strip("[]").split("%")[0].rstrip(".").lower()
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    own = socket.gethostname().lower()
    return host in (own, own.split(".")[0])


def loaded(names: tuple[str, ...], before: frozenset[str] = frozenset()) -> list[str]:
    """The packages among `names` this process has loaded (since `before`, the modules it had then)."""
    return sorted({m.partition(".")[0] for m in sys.modules if m not in before} & set(names))


def _probing() -> bool:
    """Whether this lookup comes from importlib.util.find_spec (a check for a package) rather than an import."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "find_spec" and frame.f_code.co_filename.endswith(("importlib/util.py", "importlib.util>")):
            return True
        frame = frame.f_back
    return False


def _hiding_finder(names: tuple[str, ...]):
    """A path-entry finder class that finds nothing of `names`, as where they are not installed."""
    from importlib.machinery import FileFinder

    class Hiding(FileFinder):
        def find_spec(self, fullname, target=None):
            if fullname.partition(".")[0] in names:
                note(f"{'tf-probe: looked for' if _probing() else 'tf: imported'} {fullname}")
                return None
            return super().find_spec(fullname, target)

    return Hiding


def install() -> None:
    """Guard this process as the environment says (nothing without $FER_EDGE_TIER_LOG)."""
    if not os.environ.get(LOG) or _saved:
        return
    block = tuple(n for n in os.environ.get(BLOCK, "").split(",") if n)
    if block:  # each sys.path entry's finder hides them (a module already loaded here stays: conftest.py checks that)
        import importlib.machinery as machinery

        details = [(machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
                   (machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES),
                   (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES)]
        hook = _hiding_finder(block).path_hook(*details)
        sys.path_hooks.insert(0, hook)
        sys.path_importer_cache.clear()
        _saved["hook"] = hook
    if os.environ.get(OFFLINE) == "1":
        real_getaddrinfo, real_gethostbyname = socket.getaddrinfo, socket.gethostbyname

        def getaddrinfo(host, *args, **kwargs):
            if not local_name(host):
                note(f"network: looked up {host!r}")
                raise socket.gaierror(socket.EAI_NONAME, f"{host}: not looked up (the test lacks @pytest.mark.network)")
            return real_getaddrinfo(host, *args, **kwargs)

        def gethostbyname(host):
            if not local_name(host):
                note(f"network: looked up {host!r}")
                raise socket.gaierror(socket.EAI_NONAME, f"{host}: not looked up (the test lacks @pytest.mark.network)")
            return real_gethostbyname(host)

        _saved["socket"] = (real_getaddrinfo, real_gethostbyname)
        socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname
        argv = getattr(sys, "orig_argv", [])  # pip itself: conftest.py sets PIP_NO_INDEX, this says why it failed
        pip = next((i for i, a in enumerate(argv[:3]) if os.path.basename(a).startswith("pip")), None)
        if pip is not None and {"install", "download", "wheel"} & set(argv) and "--no-index" not in argv:
            note(f"network: pip {' '.join(argv[pip + 1:])}")


def uninstall() -> None:
    """Undo `install` in this process (conftest.py, after each test)."""
    hook = _saved.pop("hook", None)
    if hook in sys.path_hooks:
        sys.path_hooks.remove(hook)
        sys.path_importer_cache.clear()
    if "socket" in _saved:
        socket.getaddrinfo, socket.gethostbyname = _saved.pop("socket")
