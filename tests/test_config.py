"""Config loading: bad config names the key and the line; secrets never show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cocmail import config as c
from cocmail.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def test_embedded_defaults_are_runnable() -> None:
    cfg = load_config(None)
    assert cfg.imap is None and cfg.smtp is None
    assert cfg.inbox.address == "conduct@example.org"
    assert [s.email for s in cfg.staff] == ["ana@example.org", "ben@example.org"]


def test_an_empty_config_has_exactly_the_documented_defaults(tmp_path: Path) -> None:
    """The dataclasses are the one place a default is written: a section left out of the
    file, or a key left out of a section, reads as the dataclass's own default."""
    cfg = parse_config("", base=tmp_path)
    assert (cfg.event, cfg.inbox, cfg.listen, cfg.security, cfg.dsf, cfg.appeal, cfg.digest,
            cfg.retention, cfg.process, cfg.templates) == (
        c.EventConfig(), c.InboxConfig(), c.ListenConfig(), c.SecurityConfig(), c.DsfConfig(),
        c.AppealConfig(), c.DigestConfig(), c.RetentionConfig(), c.ProcessConfig(),
        c.TemplatesConfig())
    assert cfg.storage == c.StorageConfig(dir=tmp_path / c.StorageConfig.dir)
    assert (cfg.imap, cfg.smtp, cfg.oauth2, cfg.staff) == (None, None, None, ())
    cfg = parse_config('[imap]\nhost = "h"\n[smtp]\nhost = "h"\n'
                       '[oauth2]\ntoken_command = ["t"]\n')
    # the IMAP login defaults to the inbox's own address: the mailbox cocmail reads
    assert cfg.imap == c.ImapConfig(host="h", username=c.InboxConfig.address)
    assert cfg.smtp == c.SmtpConfig(host="h")
    assert cfg.oauth2 == c.OAuth2Config(token_command=("t",))


def test_embedded_demo_config_is_the_defaults_plus_a_time_zone_and_two_staff() -> None:
    cfg, empty = load_config(None), parse_config("")
    assert cfg.event.timezone == "Europe/Berlin" and cfg.event.name == empty.event.name
    assert (cfg.inbox, cfg.listen, cfg.storage, cfg.digest) == (
        empty.inbox, empty.listen, empty.storage, empty.digest)
    assert [(s.name, s.lead) for s in cfg.staff] == [("Ana Lima", True), ("Ben Okafor", False)]
    assert cfg.source == "<embedded defaults>"


def test_example_config_documents_and_parses_every_key() -> None:
    cfg = load_config(ROOT / "config.example.toml")
    assert cfg.imap is not None and cfg.imap.host == "imap.example.org"
    assert cfg.smtp is not None and cfg.smtp.security == "starttls"
    assert cfg.event.ends is not None and cfg.appeal.contact == "board@example.org"
    assert cfg.staff[0].aliases == ("ana.lima@gmail.com",)
    # relative paths are relative to the config file's directory
    assert cfg.storage.dir == ROOT / "cocmail-data"


@pytest.mark.parametrize("text, needle", [
    ('[inbox]\naddress = "conduct@x.org"\nbogus = 1\n', "line 3: inbox.bogus is not a known"),
    ('[imap]\nhost = "h"\nport = "993"\n', "line 3: imap.port must be a number"),
    ('[imap]\nhost = "h"\nsecurity = "tls"\n', "imap.security must be one of"),
    ('[event]\ntimezone = "Mars/Olympus"\n', "event.timezone"),
    ('[[staff]]\nname = "A"\nemail = "not-an-address"\n', "staff.email"),
    ('[digest]\ntime = "25:00"\n', "digest.time"),
    ('[inbox]\nplus_addressing = "yes"\n', "inbox.plus_addressing must be true or false"),
    ('colour = "blue"\n', "colour is not a known setting"),
    ('[imap]\nhost = "h"\npassword = "a"\npassword_env = "B"\n', "set only one of"),
    ('[event\n', "not valid TOML"),
])
def test_bad_config_names_the_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "cocmail.toml")
    assert needle in str(e.value)
    assert str(e.value).startswith("cocmail.toml")


def test_password_from_env_file_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("COCMAIL_TEST_PW", "s3cret-env")
    cfg = parse_config('[imap]\nhost = "h"\npassword_env = "COCMAIL_TEST_PW"\n')
    assert cfg.imap is not None and cfg.imap.password.resolve() == "s3cret-env"
    assert "s3cret" not in repr(cfg)
    (tmp_path / "pw").write_text("s3cret-file\n")
    cfg = parse_config('[smtp]\nhost = "h"\npassword_file = "pw"\n', base=tmp_path)
    assert cfg.smtp is not None and cfg.smtp.password.resolve() == "s3cret-file"
    os.environ.pop("COCMAIL_NOPE", None)
    cfg = parse_config('[imap]\nhost = "h"\npassword_env = "COCMAIL_NOPE"\n')
    with pytest.raises(ConfigError, match="COCMAIL_NOPE is not set"):
        cfg.imap.password.resolve()  # type: ignore[union-attr]


def test_staff_address_cannot_be_listed_twice() -> None:
    text = ('[[staff]]\nname = "A"\nemail = "a@x.org"\n'
            '[[staff]]\nname = "B"\nemail = "b@x.org"\naliases = ["A@x.org"]\n')
    with pytest.raises(ConfigError, match="listed for two staff members"):
        parse_config(text)
