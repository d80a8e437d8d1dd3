"""The newest part of a reply: what staff wrote this time, never the mail they answered.

The corpus (tests/data/replies/corpus, from GitHub's email_reply_parser, MIT) holds real
client output and its traps; tests/data/replies/clients holds the clients staff use.
Each `<name>.txt` has a `<name>.newest` with the text a reader would call "the reply".
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.core.conflicts import earlier_mail
from cocmail.core.replytext import (
    attribution_length,
    is_header_block,
    is_original_message,
    is_sent_from,
)

DATA = Path(__file__).parent / "data" / "replies"
CORPUS = sorted((DATA / "corpus").glob("*.txt"))
CLIENTS = sorted((DATA / "clients").glob("*.txt"))


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def expected(path: Path) -> str:
    return read(path.with_suffix(".newest")).rstrip("\n")


def fresh_text(text: str) -> str:
    """What cocmail takes for the sender's new text when it screens a reply for the
    members it names (conflicts.earlier_mail, cut by replytext.newest_cut), without
    the blank lines around it."""
    lines = earlier_mail(text)[0].split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip()


@pytest.mark.parametrize("path", CORPUS + CLIENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fresh_text_of_real_replies(path: Path) -> None:
    assert fresh_text(read(path)) == expected(path)


def test_the_samples_are_all_there() -> None:
    assert len(CORPUS) == 26 and len(CLIENTS) >= 20


@pytest.mark.parametrize("path", CORPUS + CLIENTS, ids=lambda p: p.stem)
def test_crlf_gives_the_same_text(path: Path) -> None:
    text = read(path).replace("\r\n", "\n")
    assert fresh_text(text.replace("\n", "\r\n")) == expected(path)


# ------------------------------------------------------------------ traps
def test_on_at_the_start_of_a_sentence_is_not_an_attribution() -> None:
    text = read(DATA / "corpus" / "greedy_on.txt")
    assert fresh_text(text).startswith("On your remote host you can run:")
    assert "telnet 127.0.0.1 52698" in fresh_text(text)
    assert "George Plymale" not in fresh_text(text)


def test_a_word_starting_with_on_is_not_an_attribution() -> None:
    result = fresh_text(read(DATA / "corpus" / "email_one_is_not_on.txt"))
    assert "One outstanding question I had:" in result
    assert result.endswith("Locally (on development), when I run...")


def test_double_dash_inside_a_line_is_not_a_signature() -> None:
    result = fresh_text(read(DATA / "corpus" / "email_sig_delimiter_in_middle_of_line.txt"))
    assert result.endswith("kthxbai")


def test_sent_from_my_desk_is_a_sentence_not_a_footer() -> None:
    result = fresh_text(read(DATA / "corpus" / "email_sent_from_my_not_signature.txt"))
    assert result.endswith("Sent from my desk, is much easier then my mobile phone.")


def test_a_date_and_a_colon_without_a_verb_is_kept() -> None:
    text = "On 3 June at 22:00 I talked to him and said:\n\nplease stop.\n"
    assert fresh_text(text) == text.strip()


def test_a_note_quoting_the_accused_without_mail_quotes_is_kept() -> None:
    text = "On 4 June, the accused wrote:\n\n  'leave me alone or else'\n\nAna"
    assert fresh_text(text) == text


def test_the_accused_wrote_in_the_middle_of_a_line_is_kept() -> None:
    text = "On Friday he wrote: leave me alone, and then he left.\n\nAna"
    assert fresh_text(text) == text


def test_a_quoted_message_inside_the_staff_note_cuts_the_note() -> None:
    # A quote is the earlier mail; everything the sender adds below it is interleaved
    # commentary that we deliberately do not keep (see the module docstring).
    assert fresh_text("Hi,\n> old\nnew below") == "Hi,"


# ------------------------------------------------------------------ detectors
@pytest.mark.parametrize("line", [
    "Sent from my iPhone", "Sent from my iPad", "Sent from my BlackBerry",
    "Sent from my Verizon Wireless BlackBerry", "Sent from my Samsung Galaxy smartphone.",
    "sent from my phone", "Sent from Mail for Windows 10", "Sent from Outlook",
    "Get Outlook for iOS", "Get Outlook for Android<https://aka.ms/ghei36>",
    "Von meinem iPhone gesendet", "Envoyé de mon iPhone", "Enviado desde mi iPhone",
    "Verstuurd vanaf mijn iPhone", "Sendt fra min iPhone", "Skickat från min iPhone",
])
def test_mobile_footers(line: str) -> None:
    assert is_sent_from(line)
    assert fresh_text(f"Done.\n\n{line}\n\nOld mail") == "Done."


@pytest.mark.parametrize("line", [
    "Sent from my desk, is much easier then my mobile phone.",
    "Sent from a magnificent torch of pixels",
    "Sent from my hotel room because I could not sleep after what happened at the party",
    "The report was sent from my phone",
])
def test_sentences_about_sending_are_not_footers(line: str) -> None:
    assert not is_sent_from(line)


@pytest.mark.parametrize("line", [
    "-----Original Message-----", "-------- Original message --------",
    "-----Ursprüngliche Nachricht-----", "-----Message d'origine-----",
    "-----Mensaje original-----", "-----Oorspronkelijk bericht-----",
])
def test_original_message_separators(line: str) -> None:
    assert is_original_message(line)
    assert fresh_text(f"Yes.\n{line}\n#close\n") == "Yes."


@pytest.mark.parametrize("block", [
    "From: A <a@x.org>\nSent: Friday\nTo: B\nSubject: s",
    "*From:* A\n*Sent:* Friday\n*To:* B",
    "From: A\nDate: Friday\nSubject: s",
    "Von: A\nGesendet: Freitag\nAn: B\nBetreff: s",
    "De : A\nEnvoyé : vendredi\nÀ : B\nObjet : s",
    "De: A\nEnviado: viernes\nPara: B\nAsunto: s",
    "Van: A\nVerzonden: vrijdag\nAan: B\nOnderwerp: s",
])
def test_outlook_header_blocks(block: str) -> None:
    assert is_header_block(block.split("\n"), 0)
    assert fresh_text(f"Yes.\n\n{block}\n\n#close") == "Yes."


def test_a_from_line_alone_is_not_a_header_block() -> None:
    text = "From: the reporter's friend, who saw it too.\nShe was upset.\n"
    assert not is_header_block(text.split("\n"), 0)
    assert fresh_text(text) == text.strip()


@pytest.mark.parametrize("lines, length", [
    (["On Tue, Sep 25, 2012 at 8:59 AM, Chris <c@x.org> wrote:"], 1),
    (["On Dec 16, 2011, at 12:47 PM, Corey Donohoe", "<reply@reply.github.com>", "wrote:"], 3),
    (["Am Mo., 4. Juli 2022 um 08:13 Uhr schrieb Rick <", "rick@example.com>:"], 2),
    (["Le mer. 29 juin 2022 à 12:32, Rick <rick@example.com> a écrit :"], 1),
    (["El lun, 4 jul 2022 a las 8:13, Rick (<rick@example.com>) escribió:"], 1),
    (["Op ma 4 jul. 2022 om 08:13 schreef Rick <rick@example.com>:"], 1),
    (["15. marts 2017 kl. 11.00 skrev John Doe <john@example.com>:"], 1),
    (["On your remote host you can run:"], 0),
    (["One outstanding question I had:"], 0),
    (["On Monday Jane wrote:"], 0),  # no date: only recognised just above a quote
    (["On 4 June, the accused wrote:"], 0),  # no time, no address: a note's own words
    (["On 04/06/2027 22:31, CoC Inbox wrote:"], 1),
    (["On Mon, Jun 4, 2027, CoC Inbox <conduct@example.org> wrote:"], 1),
    (["On 9 Jan 2014, at 2:47, George", "", "wrote:"], 0),  # a blank line ends it
])
def test_attributions(lines: list[str], length: int) -> None:
    assert attribution_length(lines, 0) == length


def test_an_undated_attribution_just_above_a_quote_is_removed() -> None:
    text = "Fine by me.\n\nJane Doe wrote:\n\n> old text\n"
    assert fresh_text(text) == "Fine by me."


def test_rule_lines_above_a_header_block_go_with_it() -> None:
    text = "Ok.\n\n______________\n\nFrom: A\nSent: B\n"
    assert fresh_text(text) == "Ok."


# ------------------------------------------------------------------ shape of the result
def test_leading_blank_lines_and_trailing_white_space_are_dropped() -> None:
    assert fresh_text("\n \n  indented first line  \nsecond\t \n\n  \n") == (
        "  indented first line  \nsecond")


def test_everything_quoted_leaves_nothing() -> None:
    assert fresh_text("> one\n> two\n") == ""
    assert fresh_text("") == ""


def test_html2text_escaped_signature_delimiter() -> None:
    assert fresh_text("Thanks\n\n\\--   \nAna Lima\n") == "Thanks"


# ------------------------------------------------------------------ speed and robustness
def test_pathological_corpus_file_is_fast() -> None:
    text = read(DATA / "corpus" / "pathological.txt")
    start = time.perf_counter()
    for _ in range(10):
        fresh_text(text)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("text", [
    "On " + "1, " * 100_000 + "x",
    ("On 1 Jan 2020 " + "a" * 390 + "\n") * 2_000,
    "On 1\n" * 50_000,
    "From: x\n" * 50_000,
    "Sent from my " + "iPhone " * 50_000,
    " " * 200_000 + "-",
    "-" * 200_000 + "x",
    "#note " + "a@" * 100_000,
    "a" * 200_000 + " wrote:",
])
def test_crafted_bodies_are_linear(text: str) -> None:
    start = time.perf_counter()
    fresh_text(text)
    assert time.perf_counter() - start < 1.0


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_a_stable_prefix_without_quotes(text: str) -> None:
    result = fresh_text(text)
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    assert result == result.rstrip() and result in normalised
    assert not [line for line in result.split("\n") if line.lstrip(" \t").startswith(">")]
    assert fresh_text(result) == result


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "", " ", ">", "> x", "On 1 Jan 2020, A wrote:", "wrote:", "-- ", "--", "From: a",
    "Sent: b", "Date: c", "Sent from my iPhone", "-----Original Message-----", "______",
    "text", "On your side:", "Am 1. Mai schrieb B <", "b@x.org>:", "#close", "\\--",
]), max_size=12))
def test_mail_shaped_noise_gives_a_stable_prefix(lines: list[str]) -> None:
    text = "\n".join(lines)
    result = fresh_text(text)
    assert result in text and fresh_text(result) == result
    assert "> x" not in result and "-- " not in result
