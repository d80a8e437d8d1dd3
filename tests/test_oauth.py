"""OAuth2 logins against real servers: Dovecot's oauth2 passdb (token introspection over
HTTP) and an aiosmtpd sink taking AUTH XOAUTH2, with tokens from a real token_command.

What a user would notice: cocmail logs in with a helper's token and handles reports; a
token the server stops taking is replaced and the watch goes on; a token that keeps
being refused costs one clear log line per attempt, with backoff; no token ever shows
up in the log or the database.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocmail.config import ConfigError, OAuth2Config, parse_config
from cocmail.delivery.transports import ServerUnavailable, SmtpTransport
from cocmail.inbox.imap import Fetched, ImapWatcher
from cocmail.oauth import CommandTokenSource, TokenError, make_source, redact
from testsupport.helpers import mail, make_config, own_names
from testsupport.process import cocmail
from testsupport.servers import (
    DOVECOT_BINARY,
    Dovecot,
    ImapUser,
    SmtpSink,
    TokenAuthority,
    wait_until,
)

HELPER = """\
import pathlib, sys
token_file = pathlib.Path(sys.argv[1])
with open(token_file.with_suffix(".calls"), "a") as calls:
    calls.write("called\\n")
tokens = token_file.read_text().split()
token = tokens[0]
if len(tokens) > 1:  # a queue of tokens: each run hands out the next one
    token_file.write_text(" ".join(tokens[1:]))
print("mail-token: refreshing for conduct; debug: got " + token, file=sys.stderr)
if token == "FAIL":
    print("mail-token: no credentials for conduct", file=sys.stderr)
    sys.exit(3)
print(token)
"""


class Helper:
    """A token helper as people have them (mbsync PassCmd style): prints what the test
    put in its token file, counts its runs, and chats on stderr (the token included)."""

    def __init__(self, tmp: Path):
        self.script = tmp / "mail-token.py"
        self.script.write_text(HELPER)
        self.token_file = tmp / "token.txt"
        self.calls_file = tmp / "token.calls"

    def give(self, *tokens: str) -> None:
        """What the next runs print: each run the next token, the last one for ever."""
        self.token_file.write_text("\n".join(tokens) + "\n")

    @property
    def calls(self) -> int:
        return len(self.calls_file.read_text().splitlines()) if self.calls_file.exists() else 0

    @property
    def argv(self) -> list[str]:
        return [sys.executable, str(self.script), str(self.token_file)]

    def toml(self, lifetime: int = 3000) -> str:
        argv = ", ".join(f'"{a}"' for a in self.argv)
        return (f'[oauth2]\nprovider = "command"\ntoken_command = [{argv}]\n'
                f"token_lifetime = {lifetime}\n")

    def config(self, lifetime: int = 3000, timeout: float = 30.0) -> OAuth2Config:
        return OAuth2Config(token_command=tuple(self.argv), token_lifetime=lifetime,
                            command_timeout=timeout)


@pytest.fixture(scope="module")
def authority() -> Iterator[TokenAuthority]:
    with TokenAuthority() as server:
        yield server


@pytest.fixture(scope="module")
def oauth_dovecot(authority: TokenAuthority) -> Iterator[Dovecot]:
    if not Path(DOVECOT_BINARY).exists():
        pytest.skip("dovecot-imapd is not installed")
    with Dovecot(oauth2_introspection_url=f"{authority.url}/introspect") as server:
        yield server


@pytest.fixture
def helper(tmp_path: Path) -> Helper:
    return Helper(tmp_path)


def imap_toml(dovecot: Dovecot, user: str) -> str:
    return (f'[imap]\nhost = "{dovecot.host}"\nport = {dovecot.port}\nsecurity = "none"\n'
            f'username = "{user}"\nauth = "oauth2"\n')


# ------------------------------------------------------------------ configuration
def test_oauth2_settings_are_validated_like_every_other(tmp_path: Path) -> None:
    base = '[imap]\nhost = "imap.example.org"\nauth = "oauth2"\n'
    with pytest.raises(ConfigError, match=r'line 3: imap.auth = "oauth2" needs an \[oauth2\]'):
        parse_config(base, "c.toml")
    with pytest.raises(ConfigError, match=r"line 6: oauth2.token_commnd is not a known"):
        parse_config(base + '[oauth2]\ntoken_command = ["x"]\ntoken_commnd = "y"\n', "c.toml")
    with pytest.raises(ConfigError, match=r"oauth2.token_command must be a list of strings"):
        parse_config(base + '[oauth2]\ntoken_command = "mail-token conduct"\n', "c.toml")
    with pytest.raises(ConfigError, match=r"line 6: oauth2.tenant is a setting of provider "
                                          r'= "microsoft", not "google"'):
        parse_config(base + '[oauth2]\nprovider = "google"\ntenant = "x"\n', "c.toml")
    with pytest.raises(ConfigError, match=r'oauth2.client_id is required with provider = '
                                          r'"microsoft"'):
        parse_config(base + '[oauth2]\nprovider = "microsoft"\ntenant = "t"\n', "c.toml")
    with pytest.raises(ConfigError, match=r"imap.auth must be one of password, oauth2"):
        parse_config('[imap]\nhost = "h"\nauth = "xoauth2"\n', "c.toml")
    cfg = parse_config(base + '[oauth2]\ntoken_command = ["mail-token", "conduct"]\n'
                       '[smtp]\nhost = "smtp.example.org"\nauth = "oauth2"\n', "c.toml")
    assert cfg.oauth2 is not None and cfg.oauth2.token_command == ("mail-token", "conduct")
    assert cfg.smtp is not None and cfg.smtp.username == cfg.inbox.address  # XOAUTH2 user


@pytest.mark.parametrize("provider, imap, smtp", [
    ("gmail", ("imap.gmail.com", 993, "ssl"), ("smtp.gmail.com", 465, "ssl")),
    ("microsoft365", ("outlook.office365.com", 993, "ssl"),
     ("smtp.office365.com", 587, "starttls")),
    ("fastmail", ("imap.fastmail.com", 993, "ssl"), ("smtp.fastmail.com", 465, "ssl")),
])
def test_provider_presets_fill_in_host_port_and_security(
        provider: str, imap: tuple[str, int, str], smtp: tuple[str, int, str]) -> None:
    cfg = parse_config(f'[imap]\nprovider = "{provider}"\n[smtp]\nprovider = "{provider}"\n')
    assert cfg.imap is not None and cfg.smtp is not None
    assert (cfg.imap.host, cfg.imap.port, cfg.imap.security) == imap
    assert (cfg.smtp.host, cfg.smtp.port, cfg.smtp.security) == smtp


def test_explicit_keys_win_over_a_preset() -> None:
    cfg = parse_config('[imap]\nprovider = "gmail"\nhost = "127.0.0.1"\nport = 1143\n'
                       '[smtp]\nprovider = "gmail"\nsecurity = "starttls"\n')
    assert cfg.imap is not None and cfg.smtp is not None
    assert (cfg.imap.host, cfg.imap.port, cfg.imap.security) == ("127.0.0.1", 1143, "ssl")
    # Gmail's other submission port: starttls chosen, so the port follows it.
    assert (cfg.smtp.host, cfg.smtp.port, cfg.smtp.security) == \
        ("smtp.gmail.com", 587, "starttls")
    with pytest.raises(ConfigError, match=r'line 2: imap.provider must be one of gmail, '
                                          r"microsoft365, fastmail, not 'yahoo'"):
        parse_config('[imap]\nprovider = "yahoo"\n', "c.toml")
    with pytest.raises(ConfigError, match=r'imap.host is required in \[imap\] \(or set '
                                          r'provider = "gmail"'):
        parse_config('[imap]\nport = 993\n', "c.toml")


# ------------------------------------------------------------------ the token command
def test_command_token_is_cached_refreshed_at_its_lifetime_and_after_a_refusal(
        helper: Helper) -> None:
    now = [0.0]
    source = CommandTokenSource(helper.config(lifetime=600), clock=lambda: now[0])
    helper.give("first-token")
    assert source.token() == "first-token"
    helper.give("second-token")
    now[0] = 599.0
    assert source.token() == "first-token" and helper.calls == 1  # cached, not re-run
    now[0] = 600.0
    assert source.token() == "second-token" and helper.calls == 2  # lifetime over
    helper.give("third-token")
    source.invalidate("some-older-token")  # a refusal of a token no longer in use
    assert source.token() == "second-token"
    source.invalidate("second-token")  # the server refused the current one
    assert source.token() == "third-token" and helper.calls == 3


def test_command_failures_say_which_step_and_never_show_the_token(
        helper: Helper, caplog: pytest.LogCaptureFixture) -> None:
    helper.give("FAIL")
    with pytest.raises(TokenError, match=r"token_command \S+ exited with code 3: "
                                         r"mail-token: no credentials for conduct"):
        make_source(helper.config()).token()
    missing = OAuth2Config(token_command=("/nonexistent/mail-token",))
    with pytest.raises(TokenError, match=r"/nonexistent/mail-token cannot be run: No such"):
        make_source(missing).token()
    slow = OAuth2Config(token_command=(sys.executable, "-c", "import time; time.sleep(5)"),
                        command_timeout=0.5)
    with pytest.raises(TokenError, match=r"did not finish within 0.5 s"):
        make_source(slow).token()
    empty = OAuth2Config(token_command=(sys.executable, "-c", "pass"))
    with pytest.raises(TokenError, match=r"printed no token"):
        make_source(empty).token()

    caplog.set_level(logging.INFO, "cocmail.oauth2")
    token = "ya29.a0AfB_secret-token-value-0123456789abcdef"
    helper.give(token)
    assert make_source(helper.config()).token() == token
    assert "mail-token: refreshing for conduct; debug: got [token]" in caplog.text
    assert token not in caplog.text


def test_redact_cuts_tokens_and_anything_token_shaped() -> None:
    assert redact("refused tok-1 for u", ("tok-1",)) == "refused [token] for u"
    assert redact("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl") == \
        "Bearer [redacted]"
    gmail = ("[ALERT] Application-specific password required: "
             "https://support.google.com/accounts/answer/185833 (Failure)")
    assert redact(gmail) == gmail  # the server's advice stays readable


# ------------------------------------------------------------------ IMAP and SMTP, end to end
def test_run_once_logs_in_to_imap_and_smtp_with_the_helpers_token(
        tmp_path: Path, oauth_dovecot: Dovecot, authority: TokenAuthority,
        helper: Helper) -> None:
    user = oauth_dovecot.add_user()
    token = authority.issue(user.name)
    helper.give(token)
    oauth_dovecot.append(user.name, mail("Rita <rita@example.net>", "Harassment at the party",
                                         "Someone kept following me."))
    with SmtpSink(oauth2=authority) as sink:
        smtp = (f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\nsecurity = "none"\n'
                f'username = "{user.name}"\nauth = "oauth2"\n')
        make_config(tmp_path, helper.toml(), imap=imap_toml(oauth_dovecot, user.name),
                    smtp=smtp)
        # --debug: the most a log ever says must still not carry the token.
        run = cocmail(tmp_path / "cocmail.toml", "--debug", "run", "--once")
        assert run.code == 0, run.err
        got = sink.wait_for(3)  # the reporter's acknowledgement and the staff notices
    assert sink.auth_attempts and set(sink.auth_attempts) == {user.name}
    assert any("rita@example.net" in r.rcpt_tos for r in got)
    assert "processed 1 message(s)" in run.err
    assert f"Login: user=<{user.name}>, method=XOAUTH2" in oauth_dovecot.logs()
    # One run of the helper per process: the IMAP fetch here, the SMTP delivery in the
    # courier process; each login reused its process's cached token.
    assert helper.calls == 2
    # Secrets stay secret: not in the log (the helper even printed it on stderr), not in
    # the database, not in the spool or anywhere else under the storage dir.
    assert token not in run.err and "[token]" in run.err
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_a_revoked_token_is_replaced_and_the_watch_goes_on(
        oauth_dovecot: Dovecot, authority: TokenAuthority, helper: Helper,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    user = oauth_dovecot.add_user()
    first = authority.issue(user.name)
    helper.give(first)
    got: list[Fetched] = []
    stop = threading.Event()
    watcher = ImapWatcher(oauth_dovecot.imap_config(user.name), None,
                          last_uid=lambda f, v: max((m.uid for m in got), default=0),
                          accept=got.extend, stop=stop, max_backoff=0.5,
                          tokens=CommandTokenSource(helper.config()))
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert watcher.connected.wait(10)
        oauth_dovecot.append(user.name, mail("a@example.net", "one", "first report"))
        assert wait_until(lambda: len(got) == 1, 10)
        # The identity provider revokes the token and the server drops the link.
        authority.revoke(first)
        second = authority.issue(user.name)
        helper.give(second)
        oauth_dovecot.kill_imap_processes()
        oauth_dovecot.append(user.name, mail("b@example.net", "two", "second report"))
        assert wait_until(lambda: len(got) == 2, 15), caplog.text
    finally:
        stop.set()
        thread.join(10)
    assert helper.calls == 2
    assert "refused the OAuth2 token; fetching a new one" in caplog.text
    assert first not in caplog.text and second not in caplog.text


def test_a_refused_token_gives_one_clear_line_per_attempt_and_backs_off(
        oauth_dovecot: Dovecot, authority: TokenAuthority, helper: Helper,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    user = oauth_dovecot.add_user()
    bad = authority.issue(user.name)
    authority.revoke(bad)
    helper.give(bad)  # the helper keeps handing out the revoked token
    stop = threading.Event()
    watcher = ImapWatcher(oauth_dovecot.imap_config(user.name), None, last_uid=lambda f, v: 0,
                          accept=lambda batch: None, stop=stop, max_backoff=1.0,
                          tokens=CommandTokenSource(helper.config()))
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    stop.wait(4.0)
    stop.set()
    thread.join(10)
    refusals = [r for r in caplog.records if "refused, also with a freshly fetched token"
                in r.getMessage()]
    # Backoff of 0.5-1 s after each failure, plus Dovecot's ~1 s per refused login:
    # a handful of attempts in 4 s, not hundreds; each one token fetch and one login.
    assert 1 <= len(refusals) <= 4, caplog.text
    assert helper.calls in (len(refusals), len(refusals) + 1)
    assert "[AUTHENTICATIONFAILED]" in refusals[0].getMessage()
    assert "reconnecting to" in caplog.text
    assert not watcher.connected.is_set()
    assert bad not in caplog.text


def test_run_once_with_a_refused_token_says_so_in_one_line(
        tmp_path: Path, oauth_dovecot: Dovecot, authority: TokenAuthority,
        helper: Helper) -> None:
    user = oauth_dovecot.add_user()
    revoked = authority.issue(user.name)
    authority.revoke(revoked)
    helper.give(revoked)
    make_config(tmp_path, helper.toml(), imap=imap_toml(oauth_dovecot, user.name))
    run = cocmail(tmp_path / "cocmail.toml", "run", "--once")
    assert run.code == 1
    assert run.err.strip().splitlines()[-1] == (
        f"Error: IMAP login as {user.name} to 127.0.0.1:{oauth_dovecot.port} refused with "
        "OAuth2 (a freshly fetched token was refused too): [AUTHENTICATIONFAILED] "
        "Authentication failed.; `cocmail check` says more")
    assert revoked not in run.err


def test_a_failing_token_command_is_logged_and_backed_off_too(
        oauth_dovecot: Dovecot, helper: Helper, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    user = oauth_dovecot.add_user()
    helper.give("FAIL")
    stop = threading.Event()
    watcher = ImapWatcher(oauth_dovecot.imap_config(user.name), None, last_uid=lambda f, v: 0,
                          accept=lambda batch: None, stop=stop, max_backoff=1.0,
                          tokens=CommandTokenSource(helper.config()))
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    stop.wait(2.5)
    stop.set()
    thread.join(10)
    failures = [r for r in caplog.records if "no OAuth2 token: token_command" in r.getMessage()]
    assert failures and "exited with code 3: mail-token: no credentials for conduct" in \
        failures[0].getMessage()
    assert len(failures) <= 4 and helper.calls == len(failures)  # backoff, not a loop


def test_oauthbearer_is_used_where_the_server_offers_no_xoauth2(
        authority: TokenAuthority, helper: Helper) -> None:
    if not Path(DOVECOT_BINARY).exists():
        pytest.skip("dovecot-imapd is not installed")
    with Dovecot(oauth2_introspection_url=f"{authority.url}/introspect",
                 oauth2_mechanisms=("oauthbearer",)) as server:
        user = server.add_user()
        helper.give(authority.issue(user.name))
        server.append(user.name, mail("a@example.net", "one", "a report"))
        got: list[Fetched] = []
        watcher = ImapWatcher(server.imap_config(user.name), None, last_uid=lambda f, v: 0,
                              accept=got.extend, stop=threading.Event(),
                              tokens=CommandTokenSource(helper.config()))
        try:
            assert watcher.catch_up() == 1
        finally:
            watcher.close()
        assert f"Login: user=<{user.name}>, method=OAUTHBEARER" in server.logs()


def test_smtp_xoauth2_authenticates_and_retries_a_refused_token_after_a_refresh(
        authority: TokenAuthority, helper: Helper, tmp_path: Path) -> None:
    user = "conduct@example.org"
    with SmtpSink(oauth2=authority) as sink:
        cfg = make_config(tmp_path, helper.toml(), smtp=(
            f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\nsecurity = "none"\n'
            'auth = "oauth2"\n'))
        assert cfg.smtp is not None and cfg.oauth2 is not None
        row = {"id": 1, "recipients": '["rita@example.net"]', "sender": user,
               "raw": mail(user, "Re: your report", "We got it.")}
        first, second, stale = (authority.issue(user) for _ in range(3))
        authority.revoke(stale)
        helper.give(first, second, stale)
        transport = SmtpTransport(cfg.smtp, cfg.oauth2)
        transport.send(row)
        transport.close()
        assert len(sink.wait_for(1)) == 1 and sink.auth_attempts == [user]

        # The provider revokes the cached token: refused once, refreshed, sent.
        authority.revoke(first)
        transport.send(row)
        transport.close()
        assert len(sink.wait_for(2)) == 2
        assert sink.auth_attempts == [user] * 3 and helper.calls == 2

        # A freshly fetched token refused too: a clear ServerUnavailable (the outbox backs
        # off and retries later), the server's words, no token.
        authority.revoke(second)
        with pytest.raises(ServerUnavailable) as refused:
            transport.send(row)
        assert helper.calls == 3 and len(sink.messages) == 2
        assert "AUTH XOAUTH2 as conduct@example.org refused, also with a freshly fetched " \
               "token: 535 5.7.8 Username and Password not accepted" in str(refused.value)
        assert stale not in str(refused.value) and second not in str(refused.value)


# ------------------------------------------------------------------ cocmail check
def check(tmp: Path, extra: str, imap: str, smtp: str, own: bool = False) -> tuple[int, str]:
    make_config(tmp, extra, imap=imap, smtp=smtp)
    if own:
        own_names(tmp / "cocmail.toml")
    run = cocmail(tmp / "cocmail.toml", "check")
    return run.code, run.out + run.err


def test_check_passes_with_oauth2_and_says_so(
        tmp_path: Path, oauth_dovecot: Dovecot, authority: TokenAuthority,
        helper: Helper) -> None:
    user = oauth_dovecot.add_user()
    token = authority.issue(user.name)
    helper.give(token)
    with SmtpSink(oauth2=authority) as sink:
        code, out = check(tmp_path, helper.toml(), imap_toml(oauth_dovecot, user.name),
                          f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\n'
                          f'security = "none"\nusername = "{user.name}"\nauth = "oauth2"\n',
                          own=True)
    assert code == 0, out
    assert "ok    oauth2: got an access token from the token_command python" in out
    assert re.search(r"ok    imap: logged in to 127\.0\.0\.1:\d+ \(none\) with OAuth2", out)
    assert f"and logged in as {user.name} with OAuth2" in out
    assert token not in out


def test_check_names_the_failing_step_of_an_oauth2_login(
        tmp_path: Path, oauth_dovecot: Dovecot, authority: TokenAuthority,
        helper: Helper) -> None:
    user = oauth_dovecot.add_user()
    imap = imap_toml(oauth_dovecot, user.name)
    helper.give("FAIL")
    code, out = check(tmp_path, helper.toml(), imap, "")
    assert code != 0
    assert re.search(r"FAIL  oauth2: token_command \S+ exited with code 3: mail-token: no "
                     r"credentials for conduct", out), out
    assert "imap:" not in out  # no login tried without a token

    revoked = authority.issue(user.name)
    authority.revoke(revoked)
    helper.give(revoked)
    with SmtpSink(oauth2=authority) as sink:
        code, out = check(tmp_path, helper.toml(), imap,
                          f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\n'
                          f'security = "none"\nauth = "oauth2"\n')
    assert code != 0
    assert f"FAIL  imap: OAuth2 login as {user.name} refused by 127.0.0.1:" in out
    assert "[AUTHENTICATIONFAILED] Authentication failed." in out
    assert re.search(r"FAIL  smtp: 127\.0\.0\.1:\d+ \(none\): AUTH XOAUTH2 as "
                     r"conduct@example\.org refused, also with a freshly fetched token: 535 "
                     r"5\.7\.8 Username and Password not accepted \(test\)", out), out
    assert revoked not in out


def test_check_gives_the_app_password_hint_when_a_provider_refuses_a_password(
        tmp_path: Path, oauth_dovecot: Dovecot, authority: TokenAuthority) -> None:
    user = oauth_dovecot.add_user()
    # The presets with host and port pointed at the local servers (explicit keys win).
    imap = (f'[imap]\nprovider = "gmail"\nhost = "{oauth_dovecot.host}"\n'
            f'port = {oauth_dovecot.port}\nsecurity = "none"\nusername = "{user.name}"\n'
            'password = "my-account-password"\n')
    with SmtpSink(oauth2=authority) as sink:
        smtp = (f'[smtp]\nprovider = "microsoft365"\nhost = "{sink.host}"\n'
                f'port = {sink.port}\nsecurity = "none"\nusername = "conduct@example.org"\n'
                'password = "my-account-password"\n')
        code, out = check(tmp_path, "", imap, smtp)
    assert code != 0
    assert re.search(r"FAIL  imap: login as \w+ refused by .*: \[AUTHENTICATIONFAILED\] "
                     r"Authentication failed\. \(Google takes no account password here", out)
    assert "app password" in out and "myaccount.google.com/apppasswords" in out
    assert re.search(r"FAIL  smtp: login as conduct@example.org refused by .*: 535 .*"
                     r"\(Exchange Online has basic auth off", out), out
    assert "my-account-password" not in out


def test_check_uses_oauth2_only_on_the_side_configured_for_it(
        tmp_path: Path, oauth_dovecot: Dovecot, authority: TokenAuthority,
        helper: Helper, dovecot: Dovecot, imap_user: ImapUser) -> None:
    """IMAP with OAuth2 and a plain SMTP relay (no AUTH, or a password) is how `run`
    delivers; `check` once tried XOAUTH2 on that relay too and failed with a 500. The
    other way round: a password IMAP login next to an OAuth2 SMTP server."""
    user = oauth_dovecot.add_user()
    helper.give(authority.issue(user.name))
    with SmtpSink() as plain:
        code, out = check(tmp_path, helper.toml(), imap_toml(oauth_dovecot, user.name),
                          f'[smtp]\nhost = "{plain.host}"\nport = {plain.port}\n'
                          'security = "none"\n', own=True)
    assert code == 0, out
    assert re.search(r"ok    imap: logged in to 127\.0\.0\.1:\d+ \(none\) with OAuth2", out)
    assert re.search(r"ok    smtp: connected to 127\.0\.0\.1:\d+ \(none\)\n", out), out
    assert "XOAUTH2" not in out and "too long" not in out

    smtp_user = "conduct@conference.test"  # own=True: a team's own names, not example.org
    helper.give(authority.issue(smtp_user))
    with SmtpSink(oauth2=authority) as sink:
        code, out = check(tmp_path, helper.toml(),
                          f'[imap]\nhost = "{dovecot.host}"\nport = {dovecot.port}\n'
                          f'security = "none"\nusername = "{imap_user.name}"\n'
                          f'password = "{imap_user.password}"\n',
                          f'[smtp]\nhost = "{sink.host}"\nport = {sink.port}\n'
                          f'security = "none"\nusername = "{smtp_user}"\nauth = "oauth2"\n',
                          own=True)
    assert code == 0, out
    assert re.search(r"ok    imap: logged in to 127\.0\.0\.1:\d+ \(none\);", out), out
    assert f"and logged in as {smtp_user} with OAuth2" in out
