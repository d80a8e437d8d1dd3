"""docs/providers.md keeps up with the code: every provider preset with its servers, every
[oauth2] key and the login command, so a team on Microsoft 365 or Google finds each."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocmail.config import OAUTH2_KEYS, OAUTH2_PROVIDERS, PRESETS

DOC = (Path(__file__).resolve().parent.parent / "docs" / "providers.md").read_text()


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_and_its_servers_are_documented(name: str) -> None:
    assert f'provider = "{name}"' in DOC
    for host, port, security in PRESETS[name].values():
        assert f"{host} {port} {security}" in DOC, f"{host} {port} {security}"


@pytest.mark.parametrize("key", sorted({k for keys, _ in OAUTH2_KEYS.values() for k in keys}))
def test_every_oauth2_key_is_documented(key: str) -> None:
    assert f"`{key}`" in DOC or f"{key} =" in DOC, key


@pytest.mark.parametrize("provider", OAUTH2_PROVIDERS)
def test_every_token_provider_is_documented(provider: str) -> None:
    assert f'provider = "{provider}"' in DOC


def test_the_steps_that_matter_are_there() -> None:
    for phrase in ("IMAP.AccessAsApp", "SMTP.SendAsApp", "admin consent", "New-ServicePrincipal",
                   "Add-MailboxPermission", "Add-RecipientPermission", "Internal",
                   "Desktop app", "https://mail.google.com/", "`cocmail oauth2 login`",
                   "7 days", "app password", "550 5.7.30", "December 2026",
                   "https://outlook.office365.com/.default"):
        assert phrase in DOC, phrase
