"""TOML text -> `Config`, validated key by key (the sections are in `config_sections`).

Every error names the key (and the line in the file when it can be found), because
the person reading it is a CoC volunteer at a conference, not the author of the code.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import replace
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from .core.addresses import is_address
from .core.languages import SHIPPED_LANGUAGES


class _Reader:
    """Walks one TOML table, consuming keys, so that leftovers are reported as unknown."""

    def __init__(self, data: dict[str, Any], section: str, loader: _Loader,
                 occurrence: int = 0):
        self.data = dict(data)
        self.section = section
        self.loader = loader
        self.occurrence = occurrence  # which [[section]] of an array of tables

    def _key(self, key: str) -> str:
        return f"{self.section}.{key}" if self.section else key

    def fail(self, key: str, why: str) -> ConfigError:
        return self.loader.error(self._key(key), why, self.occurrence)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.data:
            return default
        value = self.data.pop(key)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool):
            raise self.fail(key, f"must be {_kind_name(kinds)}, not true/false")
        if not isinstance(value, kinds):
            raise self.fail(key, f"must be {_kind_name(kinds)}, not {type(value).__name__}")
        return value

    def email(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.get(key, str, default)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return None
        if not is_address(value):
            raise self.fail(key, f"{value!r} is not an email address")
        return value.lower()

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default).lower()
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def port(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if not 0 < value < 65536:
            raise self.fail(key, f"{value} is not a TCP port")
        return value

    def positive(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if value <= 0:
            raise self.fail(key, "must be a positive number")
        return value

    def path(self, key: str, default: str | None) -> Path | None:
        value = self.get(key, str, default)
        return None if value is None else self.loader.resolve(value)

    def existing_file(self, key: str) -> Path | None:
        path = self.path(key, None)
        if path is not None and not path.is_file():
            raise self.fail(key, f"{str(path)!r} is not a readable file")
        return path

    def secret(self) -> Secret:
        env = self.get("password_env", str)
        file = self.path("password_file", None)
        value = self.get("password", str)
        if sum(x is not None for x in (env, file, value)) > 1:
            raise self.fail("password", "set only one of password_env, password_file, password")
        return Secret(env=env, file=file, value=value)

    def done(self) -> None:
        for key in self.data:
            raise self.fail(key, "is not a known setting (see config.example.toml)")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "a number", bool: "true or false", list: "a list",
             date: "a date (YYYY-MM-DD)", time: "a time (HH:MM)", float: "a number",
             dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


class _Loader:
    def __init__(self, text: str, source: str, base: Path):
        self.text = text
        self.source = source
        self.base = base

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base / p)

    def line_of(self, dotted: str, occurrence: int = 0) -> int | None:
        """Best-effort line number of a dotted key: its section header, then the key.

        `occurrence` picks the n-th table of an array of tables (the second
        `[[staff]]`); a top-level name that is a section finds its header line.
        """
        parts = dotted.split(".")
        key = parts[-1]
        section = parts[0] if len(parts) > 1 else None
        in_section = section is None
        seen = -1
        for n, line in enumerate(self.text.splitlines(), 1):
            s = line.split("#", 1)[0].strip()
            if s.startswith("["):
                name = s.strip("[]").strip()
                if section is None:
                    if name == key or name.startswith(key + "."):
                        return n
                    in_section = False
                    continue
                if name == section:
                    seen += 1
                in_section = name == section and seen == occurrence
                continue
            if in_section and re.match(rf"^\s*{re.escape(key)}\s*=", line):
                return n
        if section is not None and seen >= occurrence:
            return self._header_line(section, occurrence)
        return None

    def _header_line(self, section: str, occurrence: int) -> int | None:
        seen = -1
        for n, line in enumerate(self.text.splitlines(), 1):
            if line.split("#", 1)[0].strip().strip("[]").strip() == section:
                seen += 1
                if seen == occurrence:
                    return n
        return None

    def error(self, dotted: str, why: str, occurrence: int = 0) -> ConfigError:
        line = self.line_of(dotted, occurrence)
        where = f"{self.source}, line {line}" if line else self.source
        return ConfigError(f"{where}: {dotted} {why}")



def parse_config(text: str, source: str = "<string>", base: Path | None = None) -> Config:
    """Parse and validate a whole config, section by section, in the order errors are reported.

    Each `_read_<section>` reads its keys (defaults from its dataclass); `_section` then
    rejects whatever key is left over, so a new key is one line in its section's reader.
    """
    loader = _Loader(text, source, base or Path.cwd())
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from e
    top = _Reader(data, "", loader)
    event = _section(top, "event", _read_event)
    inbox = _section(top, "inbox", _read_inbox)
    imap = _section(top, "imap", _read_imap, inbox, optional=True)
    smtp = _section(top, "smtp", _read_smtp, inbox, optional=True)
    oauth2 = _section(top, "oauth2", _read_oauth2, optional=True)
    for name, section in (("imap", imap), ("smtp", smtp)):
        if section is not None and section.auth == "oauth2" and oauth2 is None:
            raise loader.error(f"{name}.auth", '= "oauth2" needs an [oauth2] section '
                               "(see config.example.toml)")
    staff = _read_staff(top, inbox)
    config = Config(
        event=event, inbox=inbox, imap=imap, smtp=smtp, oauth2=oauth2,
        listen=_section(top, "listen", _read_listen),
        storage=_section(top, "storage", _read_storage),
        staff=staff,
        security=_section(top, "security", _read_security),
        dsf=_section(top, "dsf", _read_dsf),
        appeal=_section(top, "appeal", _read_appeal),
        digest=_section(top, "digest", _read_digest),
        retention=_section(top, "retention", _read_retention),
        process=_section(top, "process", _read_process, inbox, staff),
        templates=_section(top, "templates", _read_templates),
        source=source,
    )
    top.done()
    return config



def _section(top: _Reader, name: str, read: Callable[..., Any], *context: Any,
             optional: bool = False) -> Any:
    """`read` the table `name` (absent: read as empty, or None if `optional`), then reject
    the keys it did not take, so a typo is an error naming its line, never ignored."""
    table = top.get(name, dict, None if optional else {})
    if table is None:
        return None
    r = _Reader(table, name, top.loader)
    value = read(r, *context)
    r.done()
    return value


def _read_event(r: _Reader) -> EventConfig:
    d = EventConfig
    tz = r.get("timezone", str, d.timezone)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("timezone", f"{tz!r} is not a known time zone (e.g. Europe/Berlin)") from None
    event = EventConfig(name=r.get("name", str, d.name), ends=r.get("ends", date, d.ends),
                        timezone=tz, starts=r.get("starts", date, d.starts),
                        attendees_in_person=r.get("attendees_in_person", int,
                                                  d.attendees_in_person),
                        attendees_online=r.get("attendees_online", int, d.attendees_online),
                        reporting_channels=r.get("reporting_channels", str,
                                                 d.reporting_channels),
                        coc_url=r.get("coc_url", str, d.coc_url).strip(),
                        emergency_phone=r.get("emergency_phone", str, d.emergency_phone).strip(),
                        support=r.get("support", str, d.support).strip(),
                        languages=_languages(r))
    if event.starts and event.ends and event.starts > event.ends:
        raise r.fail("starts", f"{event.starts} is after ends ({event.ends})")
    for key in ("attendees_in_person", "attendees_online"):
        if (getattr(event, key) or 0) < 0:
            raise r.fail(key, "cannot be negative")
    if not event.name.strip():
        raise r.fail("name", "cannot be empty: cases are filed under the event's name")
    return event


def _read_inbox(r: _Reader) -> InboxConfig:
    d = InboxConfig
    inbox = InboxConfig(
        address=r.email("address", d.address),
        subject_tag=r.get("subject_tag", str, d.subject_tag),
        plus_addressing=r.get("plus_addressing", bool, d.plus_addressing),
        max_message_bytes=r.positive("max_message_bytes", d.max_message_bytes),
        ack_limit_per_day=r.positive("ack_limit_per_day", d.ack_limit_per_day),
    )
    if not SUBJECT_TAG.fullmatch(inbox.subject_tag):
        raise r.fail("subject_tag", "must be 1-20 letters, digits, - or _")
    return inbox


def _read_imap(r: _Reader, inbox: InboxConfig) -> ImapConfig:
    d = ImapConfig
    provider, (host, port, security) = _preset(r, "imap", d.security)
    imap = ImapConfig(
        host=host,
        port=r.port("port", port or WELL_KNOWN_PORTS["imap"][security]),
        security=security,
        provider=provider,
        username=r.get("username", str, inbox.address),  # the mailbox is the inbox's
        password=r.secret(),
        ca_file=r.existing_file("ca_file"),
        folder=r.get("folder", str, d.folder),
        idle_seconds=r.positive("idle_seconds", d.idle_seconds),
        batch_size=r.positive("batch_size", d.batch_size),
        auth=r.choice("auth", AUTH_MODES, d.auth),
    )
    if imap.idle_seconds > IMAP_IDLE_MAX_SECONDS:
        raise r.fail("idle_seconds", f"must be at most {IMAP_IDLE_MAX_SECONDS} "
                     "(re-IDLE every 10 minutes)")
    return imap


def _read_smtp(r: _Reader, inbox: InboxConfig) -> SmtpConfig:
    d = SmtpConfig
    provider, (host, port, security) = _preset(r, "smtp", d.security)
    smtp = SmtpConfig(
        host=host,
        port=r.port("port", port or WELL_KNOWN_PORTS["smtp"][security]),
        security=security,
        provider=provider,
        username=r.get("username", str, d.username),
        password=r.secret(),
        ca_file=r.existing_file("ca_file"),
        timeout=float(r.get("timeout", (int, float), d.timeout)),
        auth=r.choice("auth", AUTH_MODES, d.auth),
    )
    if smtp.auth == "oauth2" and not smtp.username:
        smtp = replace(smtp, username=inbox.address)  # XOAUTH2 names the mailbox
    return smtp


def _preset(r: _Reader, protocol: str, default_security: str
            ) -> tuple[str | None, tuple[str, int, str]]:
    """(provider, (host, port, security)) of an [imap]/[smtp] section: explicit keys, else
    the provider's preset. `port` is 0 when it should follow `security`, i.e. when no
    provider is named, or the security was chosen explicitly and differs from the preset's
    (Gmail on 587)."""
    provider = r.get("provider", str)
    if provider is not None and provider.lower() not in PRESETS:
        raise r.fail("provider", f"must be one of {', '.join(PRESETS)}, not {provider!r}")
    p_host, p_port, p_security = (PRESETS[provider.lower()][protocol] if provider
                                  else ("", 0, default_security))
    host = r.get("host", str, p_host or None)
    if not host:
        names = " | ".join(f'"{name}"' for name in PRESETS)
        raise r.fail("host", f"is required in [{protocol}] (or set provider = {names})")
    security = r.choice("security", SECURITY_MODES, p_security)
    port = p_port if provider and security == p_security else 0
    return (provider.lower() if provider else None), (host, port, security)


def _read_oauth2(r: _Reader) -> OAuth2Config:
    d = OAuth2Config
    provider = r.choice("provider", OAUTH2_PROVIDERS, d.provider)
    allowed, required = OAUTH2_KEYS[provider]
    for key in list(r.data):
        owners = [p for p, (keys, _) in OAUTH2_KEYS.items() if key in keys]
        if owners and key not in allowed:
            raise r.fail(key, f'is a setting of provider = "{owners[0]}", not "{provider}"')
    for key in required:
        if key not in r.data:
            raise r.fail(key, f'is required with provider = "{provider}"')
    command = r.get("token_command", (list, str), list(d.token_command))
    if provider == "command" and (not isinstance(command, list) or not command
                                  or not all(isinstance(a, str) and a
                                                             for a in command)):
        raise r.fail("token_command", 'must be a list of strings: the program, then its '
                     'arguments, e.g. ["/usr/local/bin/mail-token", "conduct"]')
    timeout = float(r.get("command_timeout", (int, float), d.command_timeout))
    if timeout <= 0:
        raise r.fail("command_timeout", "must be a positive number of seconds")
    cfg = OAuth2Config(
        provider=provider,
        token_command=tuple(command),
        command_timeout=timeout,
        token_lifetime=r.positive("token_lifetime", d.token_lifetime),
        tenant=r.get("tenant", str, d.tenant),
        client_id=r.get("client_id", str, d.client_id),
        client_secret_env=r.get("client_secret_env", str, d.client_secret_env),
        client_secret_file=r.path("client_secret_file", None),
        refresh_token_file=r.path("refresh_token_file", None),
        token_uri=r.get("token_uri", str, d.token_uri),
        authority=r.get("authority", str, d.authority).rstrip("/"),
        scope=r.get("scope", str, d.scope),
    )
    if provider != "command":
        if (cfg.client_secret_env is None) == (cfg.client_secret_file is None):
            raise r.fail("client_secret_env", "or client_secret_file: set exactly one of them")
    return cfg


def _read_listen(r: _Reader) -> ListenConfig:
    d = ListenConfig
    return ListenConfig(host=r.get("host", str, d.host), port=r.port("port", d.port))


def _read_storage(r: _Reader) -> StorageConfig:
    # relative to the config file's directory, like every path in it
    return StorageConfig(dir=r.path("dir", str(StorageConfig.dir)),
                         encryption=r.get("encryption", bool, StorageConfig.encryption))


def _read_staff(top: _Reader, inbox: InboxConfig) -> tuple[StaffConfig, ...]:
    """Every [[staff]] table; no address may belong to two members or be the inbox's, since
    the address is what identifies a member."""
    staff: list[StaffConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(top.get("staff", list, [])):
        if not isinstance(entry, dict):
            raise top.loader.error("staff", "must be [[staff]] tables")
        r = _Reader(entry, "staff", top.loader, occurrence=i)
        member = _read_member(r, i)
        for addr in (member.email, *member.aliases):
            if addr in seen:
                raise r.fail("email", f"{addr} is listed for two staff members")
            if addr == inbox.address:
                raise r.fail("email", "a staff member cannot use the inbox address")
            seen.add(addr)
        staff.append(member)
        r.done()
    return tuple(staff)


def _read_member(r: _Reader, i: int) -> StaffConfig:
    """One [[staff]] table (the `i`-th, for the line an error names)."""
    d = StaffConfig
    name = r.get("name", str)
    if not name:
        raise r.loader.error("staff", f"entry {i + 1}: name is required", i)
    email = r.email("email", required=True)
    aliases = r.get("aliases", list, list(d.aliases))
    for a in aliases:
        if not isinstance(a, str) or not is_address(a):
            raise r.fail("aliases", f"{a!r} is not an email address")
    return StaffConfig(name=name, email=email, aliases=tuple(a.lower() for a in aliases),
                       lead=r.get("lead", bool, d.lead), public=r.get("public", bool, d.public))


def _read_security(r: _Reader) -> SecurityConfig:
    d = SecurityConfig
    ids = r.get("trusted_authserv_ids", list, list(d.trusted_authserv_ids))
    if not all(isinstance(x, str) for x in ids):
        raise r.fail("trusted_authserv_ids", "must be a list of strings")
    via = r.get("authentication_results_via", list, list(d.authentication_results_via))
    bad = [x for x in via if not isinstance(x, str) or x.lower() not in AUTHRES_PATHS]
    if bad:
        raise r.fail("authentication_results_via", f"must list only {', '.join(AUTHRES_PATHS)}"
                     f", not {bad[0]!r}")
    return SecurityConfig(trusted_authserv_ids=tuple(x.lower() for x in ids),
                          authentication_results_via=tuple(x.lower() for x in via))


def _read_dsf(r: _Reader) -> DsfConfig:
    d = DsfConfig
    return DsfConfig(address=r.email("address", d.address),
                     attach_correspondence=r.get("attach_correspondence", bool,
                                                 d.attach_correspondence),
                     name=_committee_name(r))


def _committee_name(r: _Reader) -> str:
    """[dsf] name, as a sentence names the committee ("the PSF Conduct WG")."""
    name = " ".join(r.get("name", str, DsfConfig.name).split())
    if not name:
        raise r.fail("name", "cannot be empty (leave it out for the DSF's committee)")
    return name


def _read_appeal(r: _Reader) -> AppealConfig:
    return AppealConfig(contact=r.get("contact", str, AppealConfig.contact))


def _read_digest(r: _Reader) -> DigestConfig:
    d = DigestConfig
    weekday = r.choice("weekday", WEEKDAYS, d.weekday)
    at = r.get("time", (str, time), d.time)  # "09:00", or TOML's own 09:00:00
    if isinstance(at, str):
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", at)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise r.fail("time", f"{at!r} is not a time like 09:00")
        at = time(int(m.group(1)), int(m.group(2)))
    return DigestConfig(weekday=weekday, time=at)


def _read_retention(r: _Reader) -> RetentionConfig:
    d = RetentionConfig
    return RetentionConfig(
        warning_days=r.positive("warning_days", d.warning_days),
        not_a_violation_days=r.positive("not_a_violation_days", d.not_a_violation_days),
        sanction_extra_days=r.get("sanction_extra_days", int, d.sanction_extra_days),
    )


def _read_process(r: _Reader, inbox: InboxConfig, staff: tuple[StaffConfig, ...]
                  ) -> ProcessConfig:
    d = ProcessConfig
    kinds = r.get("second_approval", list, list(d.second_approval))
    bad = [k for k in kinds if not isinstance(k, str) or k.lower() not in APPROVAL_KINDS]
    if bad:
        raise r.fail("second_approval", f"must list only {', '.join(APPROVAL_KINDS)}, "
                     f"not {bad[0]!r}")
    minutes = {key: r.get(key, int, getattr(d, key)) for key in (
        "first_response_minutes", "first_response_minutes_outside", "reporter_update_days")}
    for key, value in minutes.items():
        if value < 0:
            raise r.fail(key, "cannot be negative (0 turns this reminder off)")
    files_mb = r.get("attachments_to_staff_mb", int, d.attachments_to_staff_mb)
    if files_mb < 0:
        raise r.fail("attachments_to_staff_mb", "cannot be negative (0 mails no files)")
    return ProcessConfig(second_approval=tuple(dict.fromkeys(k.lower() for k in kinds)),
                         quiet_hours=_quiet_hours(r), attachments_to_staff_mb=files_mb,
                         conflict_contacts=_conflict_contacts(r, inbox, staff), **minutes,
                         **_flood_keys(r), urgent_words=_urgent_words(r),
                         staff_language=_staff_language(r))


def _languages(r: _Reader) -> tuple[str, ...]:
    """[event] languages: shipped language codes, the main one first (issue 26)."""
    values = r.get("languages", list, ["en"])
    if not values:
        raise r.fail("languages", "must name at least one language, e.g. [\"en\"]")
    for v in values:
        if not isinstance(v, str) or v.strip().lower() not in SHIPPED_LANGUAGES:
            raise r.fail("languages", f"{v!r} is not a language cocmail ships; known: "
                         + ", ".join(SHIPPED_LANGUAGES))
    return tuple(dict.fromkeys(v.strip().lower() for v in values))


def _staff_language(r: _Reader) -> str:
    """[process] staff_language: the team's language (issue 26)."""
    value = r.get("staff_language", str, "en").strip().lower()
    if value not in SHIPPED_LANGUAGES:
        raise r.fail("staff_language", f"{value!r} is not a language cocmail ships; known: "
                     + ", ".join(SHIPPED_LANGUAGES))
    return value


def _urgent_words(r: _Reader) -> tuple[str, ...]:
    """[process] urgent_words: phrases added to the shipped lists (core/urgency.py)."""
    values = r.get("urgent_words", list, [])
    if any(not isinstance(v, str) or not v.strip() for v in values):
        raise r.fail("urgent_words", "must list words or phrases, e.g. [\"following me\"]")
    return tuple(dict.fromkeys(" ".join(v.split()) for v in values))


def _conflict_contacts(r: _Reader, inbox: InboxConfig, staff: tuple[StaffConfig, ...]
                       ) -> tuple[str, ...]:
    """[process] conflict_contacts: addresses outside the team (never a member's, never
    the inbox: a report about the whole team must leave it)."""
    values = r.get("conflict_contacts", list, [])
    team = {a.lower() for s in staff for a in (s.email, *s.aliases)}
    for v in values:
        if not isinstance(v, str) or not is_address(v):
            raise r.fail("conflict_contacts", f"{v!r} is not an email address")
        if v.lower() in team or v.lower() == inbox.address:
            raise r.fail("conflict_contacts", f"{v} is on the team (or the inbox): these are "
                         "people outside it, e.g. the board")
    return tuple(dict.fromkeys(v.lower() for v in values))


def _flood_keys(r: _Reader) -> dict[str, int]:
    """[process] flood_*: counts (0 turns that breaker off) and a window of minutes."""
    d = ProcessConfig
    keys = {key: r.get(key, int, getattr(d, key)) for key in (
        "flood_reports_per_domain", "flood_reports", "flood_followups_per_case")}
    for key, value in keys.items():
        if value < 0:
            raise r.fail(key, "cannot be negative (0 turns this limit off)")
    return {**keys, "flood_window_minutes": r.positive("flood_window_minutes",
                                                        d.flood_window_minutes)}


def _quiet_hours(r: _Reader) -> tuple[time, time] | None:
    """[process] quiet_hours = "23:00-07:00": local start and end, may wrap midnight."""
    value = r.get("quiet_hours", str)
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not m or int(m[1]) > 23 or int(m[3]) > 23 or int(m[2]) > 59 or int(m[4]) > 59:
        raise r.fail("quiet_hours", f"{value!r} is not a time range like \"23:00-07:00\"")
    start, end = time(int(m[1]), int(m[2])), time(int(m[3]), int(m[4]))
    if start == end:
        raise r.fail("quiet_hours", f"{value!r} starts and ends at the same time")
    return start, end


def _read_templates(r: _Reader) -> TemplatesConfig:
    return TemplatesConfig(dir=r.path("dir", None))
