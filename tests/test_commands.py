"""Staff command blocks: found at the top of the newest text, never in what was quoted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.core.commands import (
    KNOWN_COMMANDS,
    OUTCOMES,
    PREVIEW_TARGETS,
    Command,
    CommandBlock,
    CommandError,
    CommandValueError,
    format_block,
    normalise_outcome,
    parse_command_block,
    parse_person,
)
from cocmail.core.conflicts import earlier_mail
from cocmail.core.replytext import newest_cut, split_lines

DATA = Path(__file__).parent / "data" / "replies"
SAMPLES = sorted((DATA / "corpus").glob("*.txt")) + sorted((DATA / "clients").glob("*.txt"))
IDS = [f"{p.parent.name}/{p.stem}" for p in SAMPLES]

def command(name: str, value: str, line: int, raw: str) -> Command:
    return Command(name=name, value=value, line=line, raw=raw)


NOTE = command("note", "hello", 1, "#note hello")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def expected_body(path: Path) -> str:
    """The note: the newest text, or for an interleaved reply (`<name>.note`) all of the
    sender's answers between the quoted blocks."""
    note = path.with_suffix(".note")
    source = note if note.exists() else path.with_suffix(".newest")
    return source.read_text(encoding="utf-8").strip()


def cmds(text: str) -> list[tuple[str, str]]:
    return [(c.name, c.value) for c in parse_command_block(text).commands]


# ------------------------------------------------------------------ real replies
@pytest.mark.parametrize("path", SAMPLES, ids=IDS)
@pytest.mark.parametrize("gap", ["\n", "\n\n", "\n#end\n"])
def test_command_on_top_of_a_real_reply(path: Path, gap: str) -> None:
    block = parse_command_block("#note hello" + gap + read(path))
    assert block.commands == (NOTE,) and block.errors == ()
    assert block.body == expected_body(path)
    assert not [x for x in block.body.split("\n") if x.lstrip().startswith(">")]


def first_history_line(lines: list[str]) -> int:
    """Index of the line that starts the history (quote, attribution, signature...)."""
    at = newest_cut(lines)
    while at < len(lines) and (not lines[at].strip() or set(lines[at].strip()) <= set("-_")):
        at += 1
    return at


@pytest.mark.parametrize("path", SAMPLES, ids=IDS)
@pytest.mark.parametrize("injected", ["#close", "> #close", "#CLOSE now"])
def test_command_in_the_history_is_never_returned(path: Path, injected: str) -> None:
    """A #close in the quote, below the signature, or under an Outlook header: never run."""
    lines = split_lines("#note hello\n\n" + read(path))
    for at in range(first_history_line(lines) + 1, len(lines) + 1):
        text = "\n".join(lines[:at] + [injected] + lines[at:])
        assert parse_command_block(text).commands == (NOTE,), (at, text)


@pytest.mark.parametrize("path", sorted((DATA / "clients").glob("*.txt")), ids=lambda p: p.stem)
def test_client_samples_carry_a_close_in_their_history(path: Path) -> None:
    """So that test_command_on_top_of_a_real_reply proves quoted commands stay unrun."""
    assert "#close" in read(path) and "#close" not in expected_body(path)


@pytest.mark.parametrize("path", SAMPLES, ids=IDS)
def test_a_reply_without_commands_is_all_body(path: Path) -> None:
    block = parse_command_block(read(path))
    assert block == CommandBlock(commands=(), body=expected_body(path), errors=())


def test_commands_in_a_gmail_reply_with_crlf() -> None:
    text = read(DATA / "clients" / "gmail.txt")
    mail = "#accused Dan Doe <dan@x.org>\r\n#when: Friday 22:00\r\n\r\n" + text.replace(
        "\n", "\r\n")
    block = parse_command_block(mail)
    assert block.commands == (
        command("accused", "Dan Doe <dan@x.org>", 1, "#accused Dan Doe <dan@x.org>"),
        command("when", "Friday 22:00", 2, "#when: Friday 22:00"),
    )
    assert block.body == expected_body(DATA / "clients" / "gmail.txt")


# ------------------------------------------------------------------ the block
def test_names_ignore_case_and_underscores_and_take_a_colon() -> None:
    text = "#Notify_Victim\n#WHEN: Friday 22:00\n#where:Main hall\n#note :-) all good  \n"
    assert cmds(text) == [("notify-victim", ""), ("when", "Friday 22:00"),
                          ("where", "Main hall"), ("note", ":-) all good")]


def test_line_numbers_count_the_skipped_blank_lines() -> None:
    block = parse_command_block("\n  \n#urgent\n  #close  \n\nbody")
    assert [(c.line, c.raw) for c in block.commands] == [(3, "#urgent"), (4, "#close")]
    assert block.body == "body"


@pytest.mark.parametrize("ending", [
    "\n", "\n#end", "\n-- ", "\n--", "\n> #close", "\nOn 4 Jun 2027, at 22:31, A wrote:",
    "\nAm 4. Juni 2027 schrieb A <a@x.org>:", "\n-----Original Message-----", "\nthanks",
    "\n#1 priority", "\n# heading",
])
def test_the_block_ends_at_the_first_line_that_is_not_a_command(ending: str) -> None:
    text = "#urgent" + ending + "\n#close\n"
    assert cmds(text) == [("urgent", "")]


def test_end_is_not_a_command_and_text_below_it_is_the_body() -> None:
    block = parse_command_block("#close\n#end\nWe met and agreed.\n\n-- \nAna\n")
    assert cmds("#close\n#end\n") == [("close", "")]
    assert block.body == "We met and agreed."
    after_end = parse_command_block("#end\n#close\n")
    assert (after_end.commands, after_end.body, after_end.errors) == ((), "#close", ())
    assert [(x.line, x.raw) for x in after_end.ignored] == [(2, "#close")]  # and told so


def test_text_right_below_the_commands_is_the_body() -> None:
    block = parse_command_block("#reply\nDear Eve, we have talked to him.\n\nAna\n> old")
    assert cmds("#reply\nDear Eve") == [("reply", "")]
    assert block.body == "Dear Eve, we have talked to him.\n\nAna"


def test_commands_below_a_greeting_are_not_commands() -> None:
    block = parse_command_block("Hi team,\n#close\n")
    assert (block.commands, block.body, block.errors) == ((), "Hi team,\n#close", ())
    assert [(x.line, x.raw) for x in block.ignored] == [(2, "#close")]  # and told so


def test_html_mail_converted_to_text() -> None:
    # html2text indents nothing but may leave invisible marks and two-space line breaks.
    block = parse_command_block("\u200b#note from the phone  \n\u200b#urgent\n\n\\--  \nAna\n")
    assert cmds("\u200b#note from the phone  \n\u200b#urgent") == [
        ("note", "from the phone"), ("urgent", "")]
    assert block.body == ""


# ------------------------------------------------------------------ errors
def test_a_misspelt_command_is_an_error_with_a_suggestion() -> None:
    block = parse_command_block("#action Warned\n#notifed-victim\n#close\n")
    assert block.errors == (CommandError(line=2, raw="#notifed-victim",
                                         reason="unknown command #notifed-victim; "
                                                "did you mean #notified-victim?"),)
    assert cmds("#action Warned\n#notifed-victim\n#close\n") == [("action", "Warned"),
                                                                 ("close", "")]


@pytest.mark.parametrize("line, suggestion", [
    ("#close.", "#close"), ("#Acused Dan", "#accused"), ("#reportdsf", "#report-dsf"),
    ("#notify-harraser", "#notify-harasser"),
])
def test_suggestions(line: str, suggestion: str) -> None:
    (error,) = parse_command_block(line).errors
    assert error.reason.endswith(f"did you mean {suggestion}?")


def test_an_unknown_word_points_to_help() -> None:
    (error,) = parse_command_block("#metoo").errors
    assert error.reason == "unknown command #metoo; reply with #help for the list of commands"


def test_a_huge_unknown_name_is_shortened_in_the_reason() -> None:
    (error,) = parse_command_block("#" + "x" * 100_000).errors
    assert len(error.reason) < 200


# ------------------------------------------------------------------ the command table
SPEC_NAMES = (
    "reporter victim accused witness remove when where summary others public-summary clear "
    "handler "
    "recuse include urgent note "
    "notify-accused notified-accused action response outcome until notify-harasser "
    "notified-harasser "
    "notify-victim notified-victim report-dsf reported-dsf reply preview status close reopen "
    "approve reject confirm help end"
).split()


def test_every_command_of_the_spec_is_known_and_nothing_else() -> None:
    # docs/mail.md's commands, and the open issues' additions (docs/interface.md): #public-summary,
    # #include, #response (issue 21), #remove, #clear (issue 24), #until (issue 25)
    assert list(KNOWN_COMMANDS) == SPEC_NAMES


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_each_command_has_a_short_plain_help_line(name: str) -> None:
    syntax, text = KNOWN_COMMANDS[name]
    assert syntax.split()[0] == f"#{name}"
    assert text and "\n" not in text and len(syntax) + len(text) <= 100
    if name != "end":
        assert cmds(syntax.replace("|", " ")) == [(name, syntax[len(name) + 1:].strip()
                                                   .replace("|", " "))]


def test_the_staff_cheat_sheet_picks_only_commands_of_the_registry() -> None:
    """The cheat-sheet in staff mail (render.CHEAT_SHEET) is chosen from the registry's
    reference; a renamed command would make it fall back silently to the first few."""
    from cocmail.core.mail_commands.registry import command_reference
    from cocmail.render import CHEAT_SHEET, useful

    assert [name.lstrip("#") for name in CHEAT_SHEET if name.lstrip("#") not in
            KNOWN_COMMANDS] == []
    sheet = useful(command_reference())
    assert [syntax.split()[0] for syntax, _ in sheet] == list(CHEAT_SHEET)


def test_preview_targets_are_in_the_preview_syntax() -> None:
    assert PREVIEW_TARGETS == ("accused", "harasser", "victim", "dsf", "reply")
    assert all(t in KNOWN_COMMANDS["preview"][0] for t in PREVIEW_TARGETS)


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("value, person", [
    ("Dan Doe <dan@x.org>", ("Dan Doe", "dan@x.org")),
    ('"Doe, Dan" <dan@x.org>', ("Doe, Dan", "dan@x.org")),
    ("  dan@x.org ", ("", "dan@x.org")),
    ("<dan@x.org>", ("", "dan@x.org")),
    ("Dan Doe dan@x.org", ("Dan Doe", "dan@x.org")),
    ("Dan  Doe", ("Dan Doe", None)),
    ("the tall guy with the red hat", ("the tall guy with the red hat", None)),
    ("Dan (@dan on the conference chat)", ("Dan (@dan on the conference chat)", None)),
    ("Zoë Ångström <zoe@bücher.example>", ("Zoë Ångström", "zoe@bücher.example")),
    ("anonymous", ("anonymous", None)),
])
def test_parse_person(value: str, person: tuple[str, str | None]) -> None:
    assert parse_person(value) == person


@pytest.mark.parametrize("value, words", [
    ("", "name or an address"),
    ("   ", "name or an address"),
    ("Dan <dan@x>", "not an email address"),
    ("Dan <dan@>", "not an email address"),
    ("Dan <@x.org>", "not an email address"),
    ("Dan <dan..doe@x.org>", "not an email address"),
    ("Dan <dan@x..org>", "not an email address"),
    ("Dan <dan doe@x.org>", "not an email address"),
    ("Dan <>", "not an email address"),
    ("Dan <dan@x.org", "cannot read"),
    ("Dan <a@x.org> <b@x.org>", "cannot read"),
    ("dan@x.org Dan Doe", "cannot read"),
    ("Dan\r\nBcc: all@x.org <dan@x.org>", "line break"),
    ("Dan\x00 <dan@x.org>", "control character"),
    ("Dan\u2028Doe", "line break"),
])
def test_parse_person_refuses(value: str, words: str) -> None:
    with pytest.raises(CommandValueError) as e:
        parse_person(value)
    assert words in str(e.value) and e.value.reason == str(e.value)


@pytest.mark.parametrize("value, outcome", [
    ("warning", "warning"), ("  Not a violation ", "not-a-violation"),
    ("removed_from_event", "removed-from-event"), ("BAN", "ban"), ("talk ended", "talk-ended"),
])
def test_normalise_outcome(value: str, outcome: str) -> None:
    assert normalise_outcome(value) == outcome


def test_an_unknown_outcome_lists_the_valid_ones() -> None:
    with pytest.raises(CommandValueError) as e:
        normalise_outcome("warned")
    assert "did you mean warning?" in str(e.value)
    assert all(o in str(e.value) for o in OUTCOMES)
    assert OUTCOMES == ("not-a-violation", "out-of-scope", "no-action", "warning", "no-contact",
                        "talk-ended", "removed-from-event", "suspension", "ban", "other")


# ------------------------------------------------------------------ format / round trip
def test_format_block() -> None:
    commands = [command("accused", "Dan <dan@x.org>", 7, "whatever"),
                command("close", "", 8, ""), command("note", ": starts with a colon", 9, "")]
    text = format_block(commands)
    assert text == "#accused Dan <dan@x.org>\n#close\n#note : starts with a colon"
    assert cmds(text) == [(c.name, c.value) for c in commands]


@pytest.mark.parametrize("command", [command("end", "", 1, "#end"),
                                     command("frobnicate", "", 1, "#frobnicate"),
                                     command("note", "two\nlines", 1, "#note two")])
def test_format_block_refuses_what_would_not_read_back(command: Command) -> None:
    with pytest.raises(ValueError):
        format_block([command])


NAMES = st.sampled_from([n for n in KNOWN_COMMANDS if n != "end"])
VALUES = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                 max_size=40).map(str.strip)


def canonical(pairs: list[tuple[str, str]]) -> tuple[Command, ...]:
    return tuple(command(n, v, i, f"#{n} {v}".rstrip()) for i, (n, v) in enumerate(pairs, 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_blocks_round_trip(pairs: list[tuple[str, str]]) -> None:
    commands = canonical(pairs)
    assert parse_command_block(format_block(commands)) == CommandBlock(commands=commands, body="",
                                                                       errors=())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(NAMES, VALUES), min_size=1, max_size=5), st.text())
def test_nothing_below_a_blank_line_changes_the_commands(pairs: list[tuple[str, str]],
                                                         rest: str) -> None:
    commands = canonical(pairs)
    block = parse_command_block(format_block(commands) + "\n\n" + rest)
    assert block.commands == commands and block.errors == ()
    assert block.body == earlier_mail(rest)[0].strip()


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_any_text_parses_without_raising(text: str) -> None:
    block = parse_command_block(text)
    for item in block.commands + block.errors:
        assert item.raw.startswith("#") and 1 <= item.line <= text.count("\n") + text.count(
            "\r") + 1
    assert block.body == block.body.strip()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_values_never_raise_anything_but_command_value_error(text: str) -> None:
    for parse in (parse_person, normalise_outcome):
        try:
            parse(text)
        except CommandValueError:
            pass


@given(st.text(max_size=30), st.text(max_size=30))
def test_a_parsed_person_has_no_line_breaks(name: str, addr: str) -> None:
    try:
        parsed_name, parsed_addr = parse_person(f"{name} <{addr}>")
    except CommandValueError:
        return
    assert not any(c in parsed_name + (parsed_addr or "") for c in "\r\n\x00<>")


def test_pathological_mail_parses_fast() -> None:
    text = "#note hello\n" + read(DATA / "corpus" / "pathological.txt")
    start = time.perf_counter()
    block = parse_command_block(text)
    assert time.perf_counter() - start < 0.2
    assert block.commands == (NOTE,)


def test_a_huge_block_parses_fast() -> None:
    text = "#note " + "x" * 1000 + "\n" + "#when tonight\n" * 20_000 + "#" + "a" * 200_000
    start = time.perf_counter()
    block = parse_command_block(text)
    assert time.perf_counter() - start < 1.0
    assert len(block.commands) == 20_001 and len(block.errors) == 1
