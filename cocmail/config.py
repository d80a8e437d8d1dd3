"""TOML configuration -> frozen dataclasses, validated key by key: the names callers use.

Every name a caller needs is importable from here. What each section holds is in
`config_sections`; how TOML is read and checked, key by key, is in `config_reader`.
Secrets are never stored in clear unless the operator chose `password = "..."`;
`password_env` and `password_file` are resolved only when a connection needs them.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config_reader import parse_config
from .config_sections import (
    APPROVAL_KINDS,
    AUTH_MODES,
    AUTHRES_PATHS,
    IMAP_IDLE_MAX_SECONDS,
    OAUTH2_KEYS,
    OAUTH2_PROVIDERS,
    PRESETS,
    SECURITY_MODES,
    SUBJECT_TAG,
    WEEKDAYS,
    WELL_KNOWN_PORTS,
    AppealConfig,
    Config,
    ConfigError,
    DigestConfig,
    DsfConfig,
    EventConfig,
    ImapConfig,
    InboxConfig,
    ListenConfig,
    OAuth2Config,
    ProcessConfig,
    RetentionConfig,
    Secret,
    SecurityConfig,
    SmtpConfig,
    StaffConfig,
    StorageConfig,
    TemplatesConfig,
)

__all__ = [
    "APPROVAL_KINDS", "AUTH_MODES", "AUTHRES_PATHS", "DEFAULT_TOML", "IMAP_IDLE_MAX_SECONDS",
    "OAUTH2_KEYS", "OAUTH2_PROVIDERS", "PRESETS", "SECURITY_MODES", "SUBJECT_TAG", "WEEKDAYS",
    "WELL_KNOWN_PORTS", "AppealConfig", "Config", "ConfigError", "DigestConfig", "DsfConfig",
    "EventConfig", "ImapConfig", "InboxConfig", "ListenConfig", "OAuth2Config",
    "ProcessConfig", "RetentionConfig", "Secret", "SecurityConfig", "SmtpConfig",
    "StaffConfig", "StorageConfig", "TemplatesConfig", "find_config_path", "load_config",
    "parse_config",
]


def load_config(path: Path | None = None) -> Config:
    """Load the config at `path`; None means the embedded defaults (a runnable demo setup)."""
    if path is None:
        text = DEFAULT_TOML
        source, base = "<embedded defaults>", Path.cwd()
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read config: {e.strerror}") from e
        source, base = str(path), path.resolve().parent
    return parse_config(text, source, base)


def find_config_path(explicit: str | None) -> Path | None:
    """--config, else $COCMAIL_CONFIG, else ./cocmail.toml, else None (embedded defaults)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("COCMAIL_CONFIG")
    if env:
        return Path(env)
    local = Path("cocmail.toml")
    return local if local.exists() else None



# The demo setup `load_config(None)` gives: only what differs from the dataclass defaults
# above (a time zone and two staff members); everything else is a default.
DEFAULT_TOML = """\
# cocmail's embedded defaults: a runnable setup with no mail servers.
# Mail arrives through the embedded SMTP listener on 127.0.0.1:8025 (or `cocmail ingest`),
# outgoing mail is written to cocmail-data/spool/ as .eml files; every key not set here
# (the event's name, the inbox conduct@example.org, ...) has its default.
[event]
timezone = "Europe/Berlin"

[[staff]]
name = "Ana Lima"
email = "ana@example.org"
lead = true

[[staff]]
name = "Ben Okafor"
email = "ben@example.org"
"""
