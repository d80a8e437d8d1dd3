"""What a configuration holds: one frozen dataclass per TOML section, and `Config`.

The defaults written here are the defaults of the config file (config.example.toml shows
them); `cocmail.config_reader` fills these classes in from TOML, key by key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

from .core.errors import UserError
from .core.model import Address
from .core.vocabulary import ProposalKind

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SECURITY_MODES = ("ssl", "starttls", "none")
AUTH_MODES = ("password", "oauth2")
# Where the conduct inboxes live: (host, port, security) for IMAP and SMTP. Explicit
# host/port/security keys win; Gmail's SMTP also takes 587 with security = "starttls".
PRESETS: dict[str, dict[str, tuple[str, int, str]]] = {
    "gmail": {"imap": ("imap.gmail.com", 993, "ssl"), "smtp": ("smtp.gmail.com", 465, "ssl")},
    "microsoft365": {"imap": ("outlook.office365.com", 993, "ssl"),
                     "smtp": ("smtp.office365.com", 587, "starttls")},
    "fastmail": {"imap": ("imap.fastmail.com", 993, "ssl"),
                 "smtp": ("smtp.fastmail.com", 465, "ssl")},
}
OAUTH2_PROVIDERS = ("command", "microsoft", "google")
# The port an [imap]/[smtp] section gets when it names only its security (the IANA
# assignments: IMAPS 993, IMAP 143, SMTPS 465, submission 587, SMTP 25).
WELL_KNOWN_PORTS: dict[str, dict[str, int]] = {
    "imap": {"ssl": 993, "starttls": 143, "none": 143},
    "smtp": {"ssl": 465, "starttls": 587, "none": 25},
}
# RFC 2177 asks clients to re-issue IDLE at least every 29 minutes; many servers and NAT
# boxes drop an idle connection far sooner, so cocmail insists on every 10 minutes at most.
IMAP_IDLE_MAX_SECONDS = 600
# The tag in every subject ([CoC #12]): short and plain, since a reporter reads it and
# matching finds the case by it in replies.
SUBJECT_TAG = re.compile(r"[A-Za-z0-9_-]{1,20}")


class ConfigError(UserError):
    """A problem in the configuration; the message names the key and, if known, the line."""


@dataclass(frozen=True)
class EventConfig:
    name: str = "Example Conference 2027"
    ends: date | None = None
    timezone: str = "UTC"
    starts: date | None = None
    attendees_in_person: int | None = None  # for the transparency report
    attendees_online: int | None = None
    reporting_channels: str | None = None
    # The team's own details in its mails (issue 25): "" leaves them out.
    coc_url: str = ""
    emergency_phone: str = ""  # in the acknowledgement, with what to do in danger
    support: str = ""  # local support resources, shown to the person affected
    # Issue 26: mail to people outside the team is in these languages; the first is the main one.
    languages: tuple[str, ...] = ("en",)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class InboxConfig:
    address: str = "conduct@example.org"
    subject_tag: str = "CoC"
    plus_addressing: bool = True
    max_message_bytes: int = 25 * 1024 * 1024
    ack_limit_per_day: int = 5

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class Secret:
    """Where a password comes from. `resolve()` reads it only when needed."""

    env: str | None = None
    file: Path | None = None
    value: str | None = None

    def resolve(self) -> str | None:
        if self.value is not None:
            return self.value
        if self.env:
            if self.env not in os.environ:
                raise ConfigError(f"password_env: environment variable {self.env} is not set")
            return os.environ[self.env]
        if self.file:
            try:
                return self.file.read_text().strip()
            except OSError as e:
                raise ConfigError(f"password_file: cannot read {self.file}: {e.strerror}") from e
        return None

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Secret(env={self.env!r}, file={str(self.file) if self.file else None!r})"


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int = WELL_KNOWN_PORTS["imap"]["ssl"]
    security: str = "ssl"
    username: str = ""
    password: Secret = field(default_factory=Secret)
    ca_file: Path | None = None  # a private CA's certificate; the system's CAs otherwise
    folder: str = "INBOX"
    idle_seconds: int = 540  # re-IDLE before the 10-minute mark; servers drop at 30
    batch_size: int = 100
    auth: str = "password"  # "oauth2": XOAUTH2/OAUTHBEARER with a token from [oauth2]
    provider: str | None = None  # a PRESETS name: filled in host, port, security


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = WELL_KNOWN_PORTS["smtp"]["starttls"]
    security: str = "starttls"
    username: str | None = None
    password: Secret = field(default_factory=Secret)
    ca_file: Path | None = None
    timeout: float = 30.0
    auth: str = "password"  # "oauth2": AUTH XOAUTH2 with a token from [oauth2]
    provider: str | None = None  # a PRESETS name: filled in host, port, security


@dataclass(frozen=True)
class OAuth2Config:
    """Where access tokens come from when `[imap]`/`[smtp]` say `auth = "oauth2"`.

    Only the keys of the chosen provider may be set (checked at load), so a stray
    `tenant` under a Google setup is an error rather than a silent no-op.
    """

    provider: str = "command"
    token_command: tuple[str, ...] = ()  # program and arguments; prints a token on stdout
    command_timeout: float = 30.0
    token_lifetime: int = 3000  # seconds a command's token is used before asking again
    tenant: str | None = None  # microsoft: the directory (tenant) id or domain
    client_id: str | None = None
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    refresh_token_file: Path | None = None  # google: written by `cocmail oauth2 login`
    token_uri: str = "https://oauth2.googleapis.com/token"  # google's token endpoint
    authority: str = "https://login.microsoftonline.com"  # microsoft's identity platform
    scope: str | None = None  # default: the provider's IMAP/SMTP scope

    def client_secret(self) -> str:
        """The client secret, read only when a token is needed (never kept in the config)."""
        if self.client_secret_env:
            if self.client_secret_env not in os.environ:
                raise ConfigError(f"oauth2.client_secret_env: environment variable "
                                  f"{self.client_secret_env} is not set")
            return os.environ[self.client_secret_env]
        assert self.client_secret_file is not None
        try:
            return self.client_secret_file.read_text().strip()
        except OSError as e:
            raise ConfigError(f"oauth2.client_secret_file: cannot read "
                              f"{self.client_secret_file}: {e.strerror}") from e


# Which [oauth2] keys each provider takes (beyond `provider`), and which it requires.
OAUTH2_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "command": (("token_command", "command_timeout", "token_lifetime"), ("token_command",)),
    "microsoft": (("tenant", "client_id", "client_secret_env", "client_secret_file",
                   "authority", "scope"), ("tenant", "client_id")),
    "google": (("client_id", "client_secret_env", "client_secret_file", "refresh_token_file",
                "token_uri", "scope"), ("client_id", "refresh_token_file")),
}


@dataclass(frozen=True)
class ListenConfig:
    host: str = "127.0.0.1"
    port: int = 8025


@dataclass(frozen=True)
class StorageConfig:
    dir: Path = Path("cocmail-data")
    # Personal data sealed at rest (issue 27, keyring.py); keys beside the data.
    encryption: bool = True

    @property
    def db_path(self) -> Path:
        return self.dir / "cocmail.db"

    @property
    def spool_dir(self) -> Path:
        return self.dir / "spool"

    @property
    def secret_path(self) -> Path:
        return self.dir / "secret.key"

    @property
    def keys_path(self) -> Path:
        return self.dir / "cocmail.keys"

    @property
    def kek_path(self) -> Path:
        return self.dir / "cocmail.kek"


@dataclass(frozen=True)
class StaffConfig:
    name: str
    email: str
    aliases: tuple[str, ...] = ()
    lead: bool = False
    public: bool = False  # named in the transparency report's list of the team


AUTHRES_PATHS = ("imap", "listener", "ingest")


@dataclass(frozen=True)
class SecurityConfig:
    trusted_authserv_ids: tuple[str, ...] = ()
    # The ways in on which the trusted MX has written the Authentication-Results: only
    # IMAP by default, since anyone who can reach the listener or run ingest on a file
    # can write any header they like.
    authentication_results_via: tuple[str, ...] = ("imap",)


@dataclass(frozen=True)
class DsfConfig:
    address: str = "conduct@djangoproject.com"
    attach_correspondence: bool = False  # the case's mail with reporter and accused attached
    name: str = "the DSF Code of Conduct committee"  # the committee the event reports to


APPROVAL_KINDS = (ProposalKind.ACCUSED, ProposalKind.HARASSER, ProposalKind.DSF)


@dataclass(frozen=True)
class ProcessConfig:
    # Mail that waits for a second member's #approve: to the accused (the complaint), to
    # the harasser (the response), to the DSF. () sends at once.
    second_approval: tuple[str, ...] = APPROVAL_KINDS
    # Reminders (issue 14 part 3); 0 turns one off. A case nobody acted on is re-sent to
    # staff after first_response_minutes during the event (outside it, the other value),
    # to the leads at twice that; handlers are reminded to #reply when the reporter heard
    # nothing for reporter_update_days. No reminder in quiet_hours but urgent ones.
    first_response_minutes: int = 120
    first_response_minutes_outside: int = 1440
    reporter_update_days: int = 7
    quiet_hours: tuple[time, time] | None = None  # local start, end; may wrap midnight
    # People outside the team who get a report that names every member who could see it
    # (issue 21); empty: such a report reaches the team, with a warning on top.
    conflict_contacts: tuple[str, ...] = ()
    # The circuit breaker (issue 21, core/flood.py): past these counts within the window,
    # mail is recorded but held for one summary notice; 0 turns one off.
    flood_window_minutes: int = 10
    flood_reports_per_domain: int = 10
    flood_reports: int = 30
    flood_followups_per_case: int = 10
    # Phrases that make a new report possibly urgent, added to core/urgency.py's lists.
    urgent_words: tuple[str, ...] = ()
    # The most a staff notification carries of a mail's files, in all (core/evidence.py);
    # beyond it they are listed with the command that saves them. 0: none are mailed.
    attachments_to_staff_mb: int = 10
    staff_language: str = "en"  # issue 26: mail to the team stays in this language


@dataclass(frozen=True)
class AppealConfig:
    contact: str | None = None


@dataclass(frozen=True)
class DigestConfig:
    weekday: str = "monday"
    time: time = time(9, 0)


@dataclass(frozen=True)
class RetentionConfig:
    warning_days: int = 730
    not_a_violation_days: int = 180
    sanction_extra_days: int | None = None  # None: suspension/ban cases are kept indefinitely


@dataclass(frozen=True)
class TemplatesConfig:
    dir: Path | None = None


@dataclass(frozen=True)
class Config:
    event: EventConfig
    inbox: InboxConfig
    imap: ImapConfig | None
    smtp: SmtpConfig | None
    oauth2: OAuth2Config | None
    listen: ListenConfig
    storage: StorageConfig
    staff: tuple[StaffConfig, ...]
    security: SecurityConfig
    dsf: DsfConfig
    appeal: AppealConfig
    digest: DigestConfig
    retention: RetentionConfig
    templates: TemplatesConfig
    source: str = "<embedded defaults>"
    process: ProcessConfig = ProcessConfig()

    @property
    def inbox_address(self) -> Address:
        return Address(f"{self.event.name} Code of Conduct team", self.inbox.address)

