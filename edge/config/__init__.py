"""The loop's one config tree, for `fer-edge run` and `fer-edge service` alike: TOML (the service's file, run's
--print-config), validated once at start, every key a flag of both commands with the same name and default.

Each field documents itself (`help`) and carries its limits; an unknown key, a wrong type or a bad value is a
`UsageError` (exit 2) naming the key path (`http.port`) and, for a command-line value, its flag. The rooms:
`schema` (the sections, each with its own checks), `load` (a file, flags or a dict in), `flags` (argparse), `toml`
(TOML out); `keys` is what a key is.
"""

from __future__ import annotations

from .flags import add_arguments, add_key_argument, add_section_arguments, check_flag, flags_of, overrides_from
from .http import HttpConfig
from .keys import flag_for, long_flag
from .load import DEFAULT_PATH, SERVICE_ONLY, check_events_now, config_from, load_config
from .mqtt import MqttConfig
from .schema import (
    ACCELERATORS,
    Config,
    DetectorConfig,
    ModelConfig,
    OutputsConfig,
    SmoothingConfig,
    SourceConfig,
    TrackingConfig,
    iter_keys,
)
from .toml import SECRETS, to_toml

__all__ = [
    "ACCELERATORS", "Config", "DEFAULT_PATH", "DetectorConfig", "HttpConfig", "ModelConfig", "MqttConfig",
    "OutputsConfig", "SECRETS", "SERVICE_ONLY", "SmoothingConfig", "SourceConfig", "TrackingConfig",
    "add_arguments", "add_key_argument", "add_section_arguments", "check_events_now", "check_flag", "config_from",
    "flag_for", "flags_of", "iter_keys", "load_config", "long_flag", "overrides_from", "to_toml",
]
