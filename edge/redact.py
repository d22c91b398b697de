"""Secrets out of log lines: a stream URL's password (`rtsp://user:pass@cam/...`) and secret query values.

Pure and cheap, so every place that prints, logs or reports a source can pass its text through `redact` first.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@ : the password runs to the last "@" before the path (an unescaped "@" in it is common)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:]*):([^\s/]*)@")
# ?password=...&token=... : values of parameters that cameras and stream servers use for credentials
_QUERY = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass|token|access_token|auth|key|apikey|api_key|secret|"
                    r"signature|sig)=)[^&#\s]*")


def redact(text: str) -> str:
    """`text` with URL passwords and secret query values replaced by ***; the user name and host stay readable."""
    return _QUERY.sub(rf"\g<1>{MASK}", _USERINFO.sub(rf"\g<1>:{MASK}@", text))
