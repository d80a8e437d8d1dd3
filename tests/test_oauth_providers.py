"""The `microsoft` and `google` token providers, through msal's and google-auth's own
HTTP stacks (requests), against a local HTTPS authority speaking the same protocol:
OpenID discovery, the client_credentials grant, the refresh_token grant, and the
authorization_code grant of `cocmail oauth2 login`. Nothing of either library is mocked;
what differs from production is only the URL (and a test CA, via REQUESTS_CA_BUNDLE).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from cocmail.config import OAuth2Config
from cocmail.oauth import SCOPES, TokenError, make_source
from testsupport.process import cocmail_env as _env
from testsupport.servers import TokenAuthority

pytest.importorskip("msal")
pytest.importorskip("google.oauth2.credentials")


@pytest.fixture
def authority(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenAuthority]:
    with TokenAuthority(user_for_grants="conduct@example.org", tls=True) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_path))
        yield server


def microsoft(authority: TokenAuthority, tmp: Path) -> OAuth2Config:
    secret = tmp / "client-secret"
    secret.write_text("s3cret-value\n")
    return OAuth2Config(provider="microsoft", tenant="contoso.onmicrosoft.com",
                        client_id="11111111-2222-3333-4444-555555555555",
                        client_secret_file=secret, authority=authority.url)


def test_microsoft_client_credentials_through_msal(authority: TokenAuthority,
                                                   tmp_path: Path) -> None:
    authority.client_secret = "s3cret-value"
    source = make_source(microsoft(authority, tmp_path))
    token = source.token()
    assert authority.valid(token, "conduct@example.org")
    path, form = authority.requests[-1]
    assert path == "/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://outlook.office365.com/.default"
    assert form["client_id"] == "11111111-2222-3333-4444-555555555555"
    assert source.token() == token  # cached: no second request
    source.invalidate(token)
    assert source.token() != token  # a refused token is replaced, not served from a cache


def test_microsoft_refusal_quotes_the_token_endpoint(authority: TokenAuthority,
                                                     tmp_path: Path) -> None:
    authority.client_secret = "the-right-one"
    with pytest.raises(TokenError) as e:
        make_source(microsoft(authority, tmp_path)).token()
    assert str(e.value) == ("Microsoft token endpoint refused the client credentials: "
                            "invalid_client: AADSTS7000215: Invalid client secret provided.")
    assert "s3cret-value" not in str(e.value)


def google(authority: TokenAuthority, tmp: Path, monkeypatch: pytest.MonkeyPatch
           ) -> OAuth2Config:
    monkeypatch.setenv("TEST_GOOGLE_SECRET", "GOCSPX-test")
    return OAuth2Config(provider="google", client_id="1234-abc.apps.googleusercontent.com",
                        client_secret_env="TEST_GOOGLE_SECRET",
                        refresh_token_file=tmp / "google-refresh-token",
                        token_uri=f"{authority.url}/token")


def test_google_refresh_token_through_google_auth(authority: TokenAuthority, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = google(authority, tmp_path, monkeypatch)
    assert cfg.refresh_token_file is not None
    with pytest.raises(TokenError, match=r"does not exist: make it with `cocmail oauth2 login`"):
        make_source(cfg).token()
    authority.refresh_tokens.add("1//rt-good")
    cfg.refresh_token_file.write_text("1//rt-good\n")
    cfg.refresh_token_file.chmod(0o644)
    with pytest.raises(TokenError, match=r"readable by others \(mode 0644\).*chmod 600"):
        make_source(cfg).token()
    cfg.refresh_token_file.chmod(0o600)
    token = make_source(cfg).token()
    assert authority.valid(token, "conduct@example.org")
    path, form = authority.requests[-1]
    assert (path, form["grant_type"], form["refresh_token"]) == \
        ("/token", "refresh_token", "1//rt-good")
    assert form["client_secret"] == "GOCSPX-test"
    assert form["scope"] == SCOPES["google"]


def test_google_revoked_refresh_token_says_log_in_again(
        authority: TokenAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = google(authority, tmp_path, monkeypatch)
    assert cfg.refresh_token_file is not None
    cfg.refresh_token_file.write_text("1//rt-revoked-0123456789abcdefghijklmnop\n")
    cfg.refresh_token_file.chmod(0o600)
    with pytest.raises(TokenError) as e:
        make_source(cfg).token()
    text = str(e.value)
    assert text.startswith("Google token endpoint refused the refresh token: invalid_grant: "
                           "Token has been expired or revoked.")
    assert "run `cocmail oauth2 login` again" in text and "7 days" in text
    assert "rt-revoked" not in text


def test_oauth2_login_writes_the_refresh_token_file(authority: TokenAuthority,
                                                    tmp_path: Path) -> None:
    """The installed-app flow as a user goes through it: the command prints a URL, the
    browser comes back to the loopback redirect with a code, the command trades the code
    for a refresh token and stores it mode 0600. The test plays the browser."""
    token_file = tmp_path / "google-refresh-token"
    config = tmp_path / "cocmail.toml"
    config.write_text(f"""
[storage]
dir = "{tmp_path / 'data'}"
[imap]
host = "imap.gmail.com"
auth = "oauth2"
[oauth2]
provider = "google"
client_id = "1234-abc.apps.googleusercontent.com"
client_secret_env = "TEST_GOOGLE_SECRET"
refresh_token_file = "{token_file}"
token_uri = "{authority.url}/token"
""")
    env = {**_env(), "TEST_GOOGLE_SECRET": "GOCSPX-test", "PYTHONUNBUFFERED": "1",
           "REQUESTS_CA_BUNDLE": str(authority.cert_path)}
    # --debug: requests-oauthlib would log the code exchange's body (client secret,
    # code) and oauthlib the tokens; cocmail keeps their loggers at WARNING.
    proc = subprocess.Popen([sys.executable, "-m", "cocmail", "--config", str(config),
                             "--debug", "oauth2", "login"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            if m := re.search(r"https://accounts\.google\.com/\S+", line):
                url = m.group(0)
                break
        assert url, proc.stderr.read() if proc.stderr else ""
        query = parse_qs(urlparse(url).query)
        assert query["scope"] == ["https://mail.google.com/"]
        assert query["access_type"] == ["offline"]
        redirect = query["redirect_uri"][0]
        assert urlparse(redirect).hostname in ("localhost", "127.0.0.1")
        back = f"{redirect}?{urlencode({'state': query['state'][0], 'code': 'c0de'})}"
        with urllib.request.urlopen(back, timeout=10) as answer:
            assert answer.status == 200
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    code_exchange = [f for p, f in authority.requests if f.get("grant_type") ==
                     "authorization_code"]
    assert code_exchange and code_exchange[0]["code"] == "c0de"
    stored = token_file.read_text().strip()
    assert stored in authority.refresh_tokens
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert stored not in out + err and "GOCSPX-test" not in out + err
    assert not any(token in out + err for token in authority._tokens)
    assert f"wrote the refresh token to {token_file}" in err


def test_help_does_not_load_the_provider_libraries() -> None:
    """msal and google-auth cost hundreds of milliseconds to import: only a token fetch
    may pay for them, never `cocmail --help` nor a password setup."""
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom cocmail.cli import main\n"
             "CliRunner().invoke(main, ['--help'])\nCliRunner().invoke(main, ['oauth2', "
             "'login', '--help'])\n"
             "import cocmail.delivery.outbox, cocmail.inbox.imap, cocmail.oauth\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'msal', 'google', 'google_auth_oauthlib', 'requests'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=_env(), timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_debug_log_of_a_microsoft_token_fetch_carries_no_token(authority: TokenAuthority,
                                                               tmp_path: Path) -> None:
    """`cocmail --debug check` fetches a token through msal (whose own loggers, and
    urllib3's, would print the token answer at DEBUG): the output must not hold it."""
    authority.client_secret = "s3cret-value"
    (tmp_path / "secret").write_text("s3cret-value\n")
    config = tmp_path / "cocmail.toml"
    config.write_text(f"""
[storage]
dir = "{tmp_path / 'data'}"
[imap]
provider = "microsoft365"
host = "127.0.0.1"
port = 9
security = "none"
auth = "oauth2"
[oauth2]
provider = "microsoft"
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret_file = "secret"
authority = "{authority.url}"
""")
    env = {**_env(), "REQUESTS_CA_BUNDLE": str(authority.cert_path)}
    out = subprocess.run([sys.executable, "-m", "cocmail", "--config", str(config), "--debug",
                          "check"], capture_output=True, text=True, env=env, timeout=60)
    text = out.stdout + out.stderr
    assert "ok    oauth2: got an access token from the Microsoft identity platform" in text
    assert "FAIL  imap: cannot connect" in text  # nothing listens there; beside the point
    issued = list(authority._tokens)
    assert issued and not any(token in text for token in issued)
    assert "s3cret-value" not in text
