"""Secrets out of everything printed: in each URL of a text, the userinfo's password (the whole userinfo when it has
no `:`, which may be a token) and every query, fragment or `key=value` path value whose name is not known to be
harmless (`loginpas=` of cheap IP cameras, `authkey=`, `credentials=`: masked without being listed).

By rule, not by a list of secret names: the list is of harmless names. Pure and cheap, so every place that prints,
logs or reports a source passes its text through `redact` (the log formatter does it for every line).
"""

from __future__ import annotations

import re

MASK = "***"
_SCHEME = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://")
# Names whose values say how to stream, never who may: kept readable. Any other name's value is masked.
HARMLESS = frozenset("""
    action audio bitrate cam camera ch channel chn cmd codec compression duration format fps framerate frame_rate
    framesize height lang live main mode multicast mute profile proto protocol quality ratio res resolution rotate
    rtsp_transport scale size speed start stream stream_type streamid streamtype sub subtype tcp timeout track
    trackid transport type udp unicast video videocodec width
""".split())
_PARTS = re.compile(r"([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S)
_PAIR = re.compile(r"([^&;#\s=]*)(=?)([^&;#\s]*)")
_TRAILING = ":;,.)"  # what ends a URL in a message ("source URL: reason"), left as it is


def _is_userinfo(text: str) -> bool:
    """Whether what lies between `://` and an `@` is a userinfo (not a host and path that hold an "@")."""
    if ": " in text or "; " in text or "\n" in text:
        return False  # our messages' separators: the URL ended before this "@"
    user, colon, password = text.partition(":")
    if any(c in user for c in "/?# \t"):
        return False  # a path, query or space before any ":": this "@" is past the host
    return not (colon and re.fullmatch(r"\d+(?:[/?#].*)?", password, re.S))  # host:port/path@...


def _userinfo_end(text: str, start: int, limit: int) -> int | None:
    """The index of the "@" that ends the userinfo starting at `start` (the last one that can), or None."""
    at = text.rfind("@", start, limit)
    while at >= 0:
        if _is_userinfo(text[start:at]):
            return at
        at = text.rfind("@", start, at)
    return None


def _mask_pairs(part: str, nameless: bool) -> str:
    """`name=value` pairs with the value masked unless the name is harmless; with `nameless`, a bare value too."""
    def one(m: re.Match[str]) -> str:
        name, eq, value = m.groups()
        if not eq:
            secret = nameless and name and name.lower() not in HARMLESS
            return MASK + value if secret else m.group(0)
        if name.lower() in HARMLESS or not value:
            return m.group(0)
        return f"{name}={MASK}"

    return _PAIR.sub(one, part)


def _mask_rest(rest: str) -> str:
    """Host, path, query and fragment of one URL: path segments with "=", the query and the fragment get their
    values masked."""
    path, query, fragment = _PARTS.fullmatch(rest).groups()  # type: ignore[union-attr]  # every text matches
    path = "/".join(s if i == 0 or "=" not in s else _mask_pairs(s, False) for i, s in enumerate(path.split("/")))
    return (path + ("?" + _mask_pairs(query, True) if query is not None else "")
            + ("#" + _mask_pairs(fragment, True) if fragment is not None else ""))


def redact(text: str) -> str:
    """`text` with each URL's password and secret values replaced by ***; user names, hosts and harmless
    parameters stay readable. Idempotent."""
    out, pos = [], 0
    schemes = list(_SCHEME.finditer(text))
    for n, scheme in enumerate(schemes):
        if scheme.start() < pos:
            continue  # inside the URL just handled (only when one runs into the next without a space)
        start, limit = scheme.end(), schemes[n + 1].start() if n + 1 < len(schemes) else len(text)
        out.append(text[pos:start])
        at = _userinfo_end(text, start, limit)
        if at is not None:
            user, colon, _ = text[start:at].partition(":")
            out.append(f"{user}:{MASK}@" if colon else f"{MASK}@")
            start = at + 1
        end = start
        while end < limit and not text[end].isspace():
            end += 1
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        out.append(_mask_rest(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)
