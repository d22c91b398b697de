"""Errors the CLI turns into a one-line message and an exit code, never a traceback."""


class FerEdgeError(Exception):
    """Bad input or a missing resource; the message names the file or key."""

    exit_code = 1


class UsageError(FerEdgeError):
    """Wrong arguments or config values (exit 2, like argparse)."""

    exit_code = 2


class DeviceError(FerEdgeError):
    """A device that is absent now but may come back (a Coral unplugged): exit 1, so systemd retries."""
