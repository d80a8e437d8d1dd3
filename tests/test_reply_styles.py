"""Every way staff write a reply (issue 12): top, bottom, interleaved, in 21 languages.

Each reply answers a real notification cocmail sent (its Message-ID, its quoted body)
and goes through App.receive like any mail. It must run exactly its commands, and the
note it leaves (what `#reply` would mail the reporter) must hold no quoted line, no
attribution and no header block.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cocmail.app import App, open_app
from cocmail.core.commands import parse_command_block
from cocmail.store import cases as cases_db
from testsupport.helpers import body_of, mail, make_config, spool

ADDR = "conduct@example.org"
NAME = "Example Conf 2027 Code of Conduct team"

# What each client writes above the quote, language by language (Gmail web/Android,
# Outlook, Thunderbird), with cocmail as the sender being quoted.
ATTRIBUTIONS: dict[str, str] = {
    "en": f"On Tue, Apr 2, 2027 at 2:20 PM {NAME} <{ADDR}> wrote:",
    "en-thunderbird": f"On 02/04/2027 14:20, {NAME} wrote:",
    "de": f"Am Di., 2. Apr. 2027 um 14:20 Uhr schrieb {NAME} <{ADDR}>:",
    "fr": f"Le mar. 2 avr. 2027 à 14:20, {NAME} <{ADDR}> a écrit :",
    "es": f"El mar, 2 abr 2027 a las 14:20, {NAME} (<{ADDR}>) escribió:",
    "pt": f"Em ter., 2 de abr. de 2027 às 14:20, {NAME} <{ADDR}> escreveu:",
    "it": f"Il giorno mar 2 apr 2027 alle ore 14:20 {NAME} <{ADDR}> ha scritto:",
    "nl": f"Op di 2 apr. 2027 om 14:20 schreef {NAME} <{ADDR}>:",
    "da": f"tir. 2. apr. 2027 kl. 14.20 skrev {NAME} <{ADDR}>:",
    "sv": f"Den tis 2 apr. 2027 kl 14:20 skrev {NAME} <{ADDR}>:",
    "no": f"tir. 2. apr. 2027 kl. 14:20 skrev {NAME} <{ADDR}>:",
    "fi": f"ti 2. huhtik. 2027 klo 14.20 {NAME} ({ADDR}) kirjoitti:",
    "pl": f"wt., 2 kwi 2027 o 14:20 {NAME} <{ADDR}> napisał(a):",
    "pl-thunderbird": f"W dniu 2.04.2027 o 14:20, {NAME} pisze:",
    "cs": f"út 2. 4. 2027 v 14:20 odesílatel {NAME} <{ADDR}> napsal:",
    "ru": f"вт, 2 апр. 2027 г. в 14:20, {NAME} <{ADDR}>:",
    "ru-android": f'02.04.2027 14:20 пользователь "{NAME}" <{ADDR}> написал:',
    "uk": f"вт, 2 квіт. 2027 о 14:20 {NAME} <{ADDR}> пише:",
    "tr": f"2 Nis 2027 Sal, saat 14:20 tarihinde {NAME} <{ADDR}> şunu yazdı:",
    "hu": f"{NAME} <{ADDR}> ezt írta (időpont: 2027. ápr. 2., K, 14:20):",
    "el": f"Στις Τρί 2 Απρ 2027 στις 2:20 μ.μ., ο/η {NAME} <{ADDR}> έγραψε:",
    "ja": f"2027年4月2日(火) 14:20 {NAME} <{ADDR}>:",
    "zh": f"{NAME} <{ADDR}> 于2027年4月2日周二 14:20写道：",
    "he": f"\u202bבתאריך יום ג׳, 2 באפר׳ 2027 ב-14:20 מאת \u202a{NAME}\u202c\u200f "
          f"<\u202a{ADDR}\u202c\u200f>:\u202c",
}

# Outlook's header block above the unquoted original, language by language.
HEADER_BLOCKS: dict[str, tuple[str, str, str, str]] = {
    "en": ("From", "Sent", "To", "Subject"),
    "de": ("Von", "Gesendet", "An", "Betreff"),
    "fr": ("De", "Envoyé", "À", "Objet"),
    "es": ("De", "Enviado", "Para", "Asunto"),
    "pt": ("De", "Enviado", "Para", "Assunto"),
    "it": ("Da", "Inviato", "A", "Oggetto"),
    "nl": ("Van", "Verzonden", "Aan", "Onderwerp"),
    "da": ("Fra", "Sendt", "Til", "Emne"),
    "sv": ("Från", "Skickat", "Till", "Ämne"),
    "no": ("Fra", "Sendt", "Til", "Emne"),
    "fi": ("Lähettäjä", "Lähetetty", "Vastaanottaja", "Aihe"),
    "pl": ("Od", "Wysłane", "Do", "Temat"),
    "cs": ("Od", "Odesláno", "Komu", "Předmět"),
    "ru": ("От", "Отправлено", "Кому", "Тема"),
    "uk": ("Від", "Надіслано", "Кому", "Тема"),
    "tr": ("Kimden", "Gönderildi", "Kime", "Konu"),
    "hu": ("Feladó", "Elküldve", "Címzett", "Tárgy"),
    "el": ("Από", "Αποστολή", "Προς", "Θέμα"),
    "ja": ("差出人", "送信日時", "宛先", "件名"),
    "zh": ("发件人", "发送时间", "收件人", "主题"),
    "he": ("מאת", "נשלח", "אל", "נושא"),
}

SEPARATORS = {
    "pt": "-------- Mensagem original --------",
    "it": "-------- Messaggio originale --------",
    "pl": "-------- Oryginalna wiadomość --------",
    "ru": "-------- Исходное сообщение --------",
    "ja": "-------- 元のメッセージ --------",
}

REPORT = mail("Eve Example <eve@attendee.example>", "At the party",
              "Dan Doe grabbed my arm at the party and would not let go.\n",
              message_id="<r1@attendee.example>")


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    a = make_app()
    assert a.receive(REPORT, "test") == "done"
    return a


def notification(app: App) -> tuple[str, str, str]:
    """(Message-ID, Subject, body) of Ana's notification of case 1."""
    note = next(m for m in spool(app.cfg) if "ana@example.org" in str(m["To"]))
    return note["Message-ID"], note["Subject"], body_of(note)


def quoted(body: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in body.splitlines())


COMMANDS = "#summary grabbed an arm\n#when Friday 22:00\n"
SAID = "Spoke with the reporter; she is safe."


def build(style: str, lang: str, original: str) -> str:
    attribution = ATTRIBUTIONS[lang]
    q = quoted(original)
    half = len(q.splitlines()) // 2
    first, second = "\n".join(q.splitlines()[:half]), "\n".join(q.splitlines()[half:])
    if style == "top":
        return f"{COMMANDS}\n{SAID}\n\n{attribution}\n{q}\n"
    if style == "bottom":
        return f"{attribution}\n{q}\n\n{COMMANDS}\n{SAID}\n\n-- \nAna\n"
    assert style == "interleaved"
    return (f"{attribution}\n{first}\n\n{COMMANDS}\n{SAID}\n\n{second}\n\n"
            "And I will talk to Dan tomorrow.\n")


def send_reply(app: App, body: str) -> None:
    mid, subject, _ = notification(app)
    reply = mail("Ana Lima <ana@example.org>", "Re: " + subject, body,
                 message_id="<reply-1@example.org>", in_reply_to=mid)
    assert app.receive(reply, "test") == "done"


def note_of(app: App) -> str:
    # message_id is sealed (issue 27): SQL cannot filter on it, so compare after reading
    rows = [r for r in app.store.query("SELECT message_id, body FROM messages")
            if r["message_id"] == "reply-1@example.org"]
    assert len(rows) == 1
    return rows[0]["body"] or ""


def assert_clean(note: str, original: str) -> None:
    assert SAID in note
    assert not [ln for ln in note.splitlines() if ln.lstrip().startswith(">")]
    assert "@example.org>" not in note and ADDR not in note
    assert "grabbed my arm" not in note  # nothing of the quoted notification
    for line in original.splitlines():
        if len(line.strip()) > 25:
            assert line.strip() not in note


@pytest.mark.parametrize("lang", list(ATTRIBUTIONS))
@pytest.mark.parametrize("style", ["top", "bottom", "interleaved"])
def test_reply_runs_its_commands_and_keeps_no_quote(app: App, style: str, lang: str) -> None:
    _, _, original = notification(app)
    send_reply(app, build(style, lang, original))
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None
    assert (case.summary, case.when) == ("grabbed an arm", "Friday 22:00")
    note = note_of(app)
    assert_clean(note, original)
    for word in ATTRIBUTIONS[lang].split():
        if len(word) > 6 and "@" not in word:
            assert word not in note, word
    if style == "interleaved":
        assert "talk to Dan tomorrow" in note


@pytest.mark.parametrize("lang", list(HEADER_BLOCKS))
def test_outlook_header_block_ends_the_reply(app: App, lang: str) -> None:
    frm, sent, to, subject = HEADER_BLOCKS[lang]
    _, subj, original = notification(app)
    block = (f"{frm}: {NAME} <{ADDR}>\n{sent}: 2 April 2027 14:20\n{to}: Ana Lima\n"
             f"{subject}: {subj}\n\n{original}\n#close\n")
    send_reply(app, f"{COMMANDS}\n{SAID}\n\n________________________________\n{block}")
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.summary == "grabbed an arm"
    assert case.status == "open"  # the #close in the original never ran
    note = note_of(app)
    assert_clean(note, original)
    assert f"{frm}:" not in note and f"{sent}:" not in note


def test_blackberry_header_block_run_together_by_html_conversion(app: App) -> None:
    _, subj, original = notification(app)
    send_reply(app, f"{COMMANDS}\n{SAID}\n\nFrom: {NAME} <{ADDR}> Sent: Tue, 2 Apr 2027 "
                    f"14:20 To: Ana Lima Subject: {subj}\n{original}\n")
    note = note_of(app)
    assert_clean(note, original)


@pytest.mark.parametrize("lang", list(SEPARATORS))
def test_original_message_separators(app: App, lang: str) -> None:
    _, _, original = notification(app)
    send_reply(app, f"{COMMANDS}\n{SAID}\n\n{SEPARATORS[lang]}\n{original}\n")
    assert_clean(note_of(app), original)


def test_commands_below_the_block_get_a_word_back_never_silence() -> None:
    block = parse_command_block("#summary x\n\n#notify-accused\n> #close\n\nlater #no\n"
                                "#action warned\n")
    assert [c.name for c in block.commands] == ["summary"]
    assert [(i.line, i.raw) for i in block.ignored] == [(3, "#notify-accused"),
                                                        (7, "#action warned")]
    bottom = parse_command_block(f"{ATTRIBUTIONS['en']}\n> old\n\nHi\n\n> more\n\n#close\n")
    assert bottom.commands == ()
    assert [(i.line, i.raw) for i in bottom.ignored] == [(8, "#close")]


CORPUS = sorted((Path(__file__).parent / "data" / "replies" / "corpus").glob("*.newest"))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_every_corpus_reply_as_a_bottom_post(path: Path) -> None:
    """The corpus's newest texts, written below a quote instead of above it."""
    newest = path.read_text(encoding="utf-8").strip()
    if not newest:
        pytest.skip("this sample's reply is empty")
    text = f"{ATTRIBUTIONS['en']}\n> Earlier mail\n> #close\n>\n\n#note hello\n{newest}\n"
    block = parse_command_block(text)
    assert [(c.name, c.value) for c in block.commands] == [("note", "hello")]
    assert block.body == parse_command_block(newest).body or block.body == newest


@pytest.mark.parametrize("body, line", [
    (f"{COMMANDS}\n#notify-accused\n\n{SAID}\n", "#notify-accused"),  # after a blank line
    (f"Hi team,\n\n{ATTRIBUTIONS['en']}\n> old\n\n#close\n", "#close"),  # below the quote
    (f"{SAID}\n#close\n", "#close"),  # under a line of text
])
def test_commands_cocmail_did_not_run_are_reported_to_the_sender(app: App, body: str,
                                                                 line: str) -> None:
    send_reply(app, body)
    case = app.store.read(cases_db.load_case, 1)
    assert case is not None and case.status == "open"
    answer = [m for m in spool(app.cfg) if "ana@example.org" in str(m["To"])][-1]
    assert "reply-1@example.org" in str(answer["In-Reply-To"])
    text = body_of(answer)
    assert "Not run, because of where they are in your mail" in text
    assert line in text
    if not body.startswith("#"):
        assert "Commands not run" in str(answer["Subject"])
        assert "None of the commands in your mail were run" in text


def broken_wrap(body: str, width: int = 72) -> str:
    """`body` quoted by a client that wraps long lines without repeating `>`."""
    out = []
    for line in body.splitlines():
        q = f"> {line}" if line else ">"
        while len(q) > width and " " in q[:width]:
            cut = q.rfind(" ", 0, width)
            out.append(q[:cut])
            q = q[cut + 1:]
        out.append(q)
    return "\n".join(out)


CRAFTED = mail("Mallory <mallory@attendee.example>", "At the party",
               "Dan Doe grabbed my arm at the party and I want the team to know it. "
               "#action You are banned from every future event\n"
               "He also said something to me that made me feel unsafe at the party.\n",
               message_id="<r2@attendee.example>")


@pytest.mark.parametrize("style", ["bottom", "interleaved", "top"])
def test_wrapped_tail_of_a_quote_never_runs_nor_reaches_the_note(
        tmp_path: Path, style: str) -> None:
    """A client that wraps the quote without `>` leaves the tail of a quoted line
    unquoted: the report's author can make that tail a command line. It is the quote's."""
    a = open_app(make_config(tmp_path))
    try:
        assert a.receive(CRAFTED, "test") == "done"
        _, _, original = notification(a)
        q = broken_wrap(original)
        assert "\n#action You are banned" in q  # the client's wrap did expose it
        attribution = ATTRIBUTIONS["en"]
        if style == "bottom":
            body = f"{attribution}\n{q}\n\n{COMMANDS}\n{SAID}\n"
        elif style == "interleaved":
            half = q.index("#action")
            body = f"{attribution}\n{q[:half]}{q[half:]}\n\n{COMMANDS}\n{SAID}\n"
        else:
            body = f"{COMMANDS}\n{SAID}\n\n{attribution}\n{q}\n"
        send_reply(a, body)
        case = a.store.read(cases_db.load_case, 1)
        assert case is not None
        assert case.action is None
        assert (case.summary, case.when) == ("grabbed an arm", "Friday 22:00")
        note = note_of(a)
        assert SAID in note
        assert "banned" not in note and "unsafe" not in note and "party" not in note
    finally:
        a.close()
