"""What a test may reach follows its markers: without `tf` it cannot import TensorFlow, Keras or JAX; without `network`
it cannot look up a name beyond this machine or ask the package index. Installed in the test's own process by
tests/conftest.py and in every Python subprocess the test starts (through sitecustomize.py beside this file, on
PYTHONPATH). Each attempt is written to $FER_EDGE_TIER_LOG, where conftest.py finds it and fails the test, naming the
marker it lacks; the attempt itself fails as it would on a machine without the thing (an import error, a name that
does not resolve, an index that cannot be reached)."""

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


class _Blocked:
    """A meta-path finder that refuses the named top-level packages."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            note(f"tf: imported {name}")
            raise ModuleNotFoundError(f"No module named {name!r} (the test lacks @pytest.mark.tf)", name=name)
        return None


def install() -> None:
    """Guard this process as the environment says (nothing without $FER_EDGE_TIER_LOG)."""
    if not os.environ.get(LOG) or _saved:
        return
    block = tuple(n for n in os.environ.get(BLOCK, "").split(",") if n)
    if block:
        finder = _Blocked(block)
        sys.meta_path.insert(0, finder)
        _saved["finder"] = finder
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
    finder = _saved.pop("finder", None)
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    if "socket" in _saved:
        socket.getaddrinfo, socket.gethostbyname = _saved.pop("socket")
