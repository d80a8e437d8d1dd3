"""One idea of a mail address everywhere (core/addresses.py): an address staff can add to
a case is one the conflict check finds in a report, public text drops as a link, the
logs hide, and the config takes; what one refuses, the command refuses too."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.config import ConfigError, parse_config
from cocmail.core.commands import CommandValueError, parse_person
from cocmail.core.people import addresses_in
from cocmail.core.safe_text import LINK_REMOVED, without_links
from cocmail.redact import redact_addresses

LOCAL = st.text("abcXYZ09._+'-éß", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
LABEL = st.from_regex(r"[a-z0-9ü](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
ADDRESSES = st.builds(lambda local, labels: f"{local}@{'.'.join(labels)}",
                      LOCAL, st.lists(LABEL, min_size=2, max_size=3))
# What surrounds an address in a report, a table or Markdown.
AROUND = st.sampled_from([("", ""), ("<", ">"), ("**", "**"), ("|", "|"), ("(", ")."),
                          ("mail: ", ", thanks"), ('"', '"')])


def staff_config(email: str) -> str:
    return f'[[staff]]\nname = "Ana Lima"\nemail = "{email}"\n'


@settings(max_examples=300, deadline=None)
@given(ADDRESSES, AROUND)
def test_an_address_staff_can_add_is_found_hidden_and_taken_everywhere(
        addr: str, around: tuple[str, str]) -> None:
    before, after = around
    text = f"I told {before}{addr}{after} about it"
    assert parse_person(f"Ana <{addr}>") == ("Ana", addr)
    assert addr.lower() in addresses_in(text)
    assert addr not in redact_addresses(text) and "<address>" in redact_addresses(text)
    assert addr not in without_links(text)  # as a link, or inside <...> as a tag
    assert parse_config(staff_config(addr)).staff[0].email == addr.lower()


@pytest.mark.parametrize("bad", ["ana@localhost", "ana@-example.org", "ana@example-.org",
                                 "ana@@example.org", "ana example@example.org",
                                 "ana@example.org\n"])
def test_what_is_not_an_address_is_refused_by_command_and_config_alike(bad: str) -> None:
    with pytest.raises(CommandValueError):
        parse_person(f"Ana <{bad}>")
    with pytest.raises(ConfigError, match="is not an email address"):
        parse_config(staff_config(bad.replace("\n", "\\n")))


def test_public_text_names_where_an_address_was() -> None:
    assert without_links("write to **ana@example.org** today") == (
        f"write to **{LINK_REMOVED}** today")
