"""Speaking the reporter's language (issue 26), through the real pipeline.

Reports arrive as mail, staff answer as mail, and what cocmail sent is read as its
reader would: the acknowledgement in the report's language when the event speaks it,
else in all of the event's languages in one mail; `#language` changing the next mail;
staff mail staying in the team's language and saying which language the reporter
wrote in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cocmail.app import open_app
from cocmail.config import ConfigError, parse_config
from cocmail.core.languages import reporter_words
from cocmail.language_detect import detect
from testsupport.apps import Desk
from testsupport.helpers import body_of

PT_REPORT = ("Olá, ontem à noite, durante o jantar da conferência, um participante fez "
             "comentários ofensivos sobre mim e depois seguiu-me até ao hotel. Não sei o "
             "que fazer e tenho medo de voltar amanhã.\n")
ES_REPORT = ("Perdón, mi inglés no es muy bueno. Ayer en la charla de la tarde un hombre me "
             "tocó sin permiso varias veces y no sé qué hacer.\n")


def lang_desk(tmp: Path, languages: str = '["pt", "en"]', extra: str = "") -> Desk:
    """A Desk whose [event] has `languages = <languages>`."""
    desk = Desk(tmp, extra)
    desk.close()
    path = Path(desk.cfg.source)
    path.write_text(path.read_text().replace('timezone = "Europe/Berlin"\n',
                                             f'timezone = "Europe/Berlin"\n'
                                             f'languages = {languages}\n', 1))
    desk.cfg = parse_config(path.read_text(), str(path), tmp)
    desk.app = open_app(desk.cfg, clock=desk.clock)
    return desk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = lang_desk(tmp_path)
    yield d
    d.close()


def flat(text: str) -> str:
    return " ".join(text.split())


def to(sent: list, who: str) -> list:  # type: ignore[type-arg]
    return [m for m in sent if who in str(m["To"])]


def test_a_portuguese_report_is_acknowledged_in_portuguese(desk: Desk) -> None:
    n = desk.report("Rita Reporter <rita@example.net>", PT_REPORT, subject="Preciso de ajuda")
    (ack,) = to(desk.new(), "rita@example.net")
    text = flat(body_of(ack))
    assert str(ack["Subject"]) == f"[CoC #{n}] Recebemos o seu relato"
    assert text.startswith("Olá Rita Reporter,")
    assert f"abrimos o caso {n}" in text and f"[CoC #{n}]" in text
    assert "Thank you" not in text and "We have received" not in str(ack["Subject"])


def test_a_spanish_report_to_a_pt_en_event_gets_one_ack_in_portuguese_then_english(
        desk: Desk) -> None:
    n = desk.report("Lucía Gómez <lucia@example.net>", ES_REPORT)
    (ack,) = to(desk.new(), "lucia@example.net")
    text = body_of(ack)
    assert str(ack["Subject"]) == (f"[CoC #{n}] Recebemos o seu relato / "
                                   "We have received your report")
    pt, en = text.index("Obrigado por nos ter escrito"), text.index("Thank you for writing")
    assert 0 <= pt < en
    assert "* * *" in text[pt:en]


def test_staff_mail_stays_english_and_names_both_languages(desk: Desk) -> None:
    desk.report("Lucía Gómez <lucia@example.net>", ES_REPORT)
    (note,) = to(desk.new(), "ana@example.org")
    text = flat(body_of(note))
    assert "A new report has arrived" in text
    assert "Language: written in Spanish; acknowledged in Portuguese and English" in text
    assert "mi inglés no es muy bueno" in text  # the report as written
    assert "Obrigado" not in text


def test_quoted_english_below_a_portuguese_report_does_not_decide(desk: Desk) -> None:
    body = PT_REPORT + ("\nOn Monday, Conference Team <info@example.org> wrote:\n"
                        "> Thank you for registering for the conference. Please read the\n"
                        "> Code of Conduct and tell us if anything happens to you.\n")
    desk.report("Rita Reporter <rita@example.net>", body)
    (ack,) = to(desk.new(), "rita@example.net")
    assert "Recebemos o seu relato" in str(ack["Subject"])
    assert "Thank you" not in body_of(ack)


def test_language_changes_the_next_mail_and_is_shown_on_the_case(desk: Desk) -> None:
    n = desk.report("Rita Reporter <rita@example.net>", PT_REPORT)
    desk.new()
    assert desk.staff("ana@example.org", n, "#reply\nObrigada, vamos falar consigo amanhã.\n"
                      ) == "done"
    (reply,) = to(desk.new(), "rita@example.net")
    assert str(reply["Subject"]).endswith("Sobre o seu relato")
    assert "Pode responder a este email" in body_of(reply)
    assert json.loads(desk.cli("cases", "show", str(n), "--json"))["language"] == "pt"

    assert desk.staff("ana@example.org", n, "#language en\n#reply\nWe will call you.\n"
                      ) == "done"
    sent = desk.new()
    (reply,) = to(sent, "rita@example.net")
    assert str(reply["Subject"]).endswith("About your report")
    assert "You can reply to this email" in body_of(reply)
    (transcript,) = to(sent, "ana@example.org")
    assert "mail to the reporter on this case is now in English (en)" in flat(
        body_of(transcript))
    assert json.loads(desk.cli("cases", "show", str(n), "--json"))["language"] == "en"


def test_language_for_the_reported_person(desk: Desk) -> None:
    n = desk.report("Rita Reporter <rita@example.net>", PT_REPORT)
    desk.new()
    desk.staff("ana@example.org", n, "#accused Dan Doe <dan@example.net>\n#language accused es\n")
    shown = json.loads(desk.cli("cases", "show", str(n), "--json"))
    assert shown["languages"] == {"reporter": "pt", "victim": "pt", "accused": "es"}


def test_language_refuses_a_language_cocmail_does_not_ship(desk: Desk) -> None:
    n = desk.report("Rita Reporter <rita@example.net>", PT_REPORT)
    desk.new()
    desk.staff("ana@example.org", n, "#language tlh\n")
    (transcript,) = to(desk.new(), "ana@example.org")
    assert "cocmail has no mail in 'tlh'" in flat(body_of(transcript))
    assert json.loads(desk.cli("cases", "show", str(n), "--json"))["language"] == "pt"


def test_an_english_only_event_answers_in_english_and_says_nothing_of_languages(
        tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    try:
        desk.report("Lucía Gómez <lucia@example.net>", ES_REPORT)
        sent = desk.new()
        (ack,) = to(sent, "lucia@example.net")
        assert "Thank you for writing" in body_of(ack) and "Obrigado" not in body_of(ack)
        assert "Language:" not in body_of(to(sent, "ana@example.org")[0])
    finally:
        desk.close()


@pytest.mark.parametrize(("lines", "key"), [
    ('[event]\nlanguages = ["pt", "xx"]\n', "languages"),
    ('[event]\nlanguages = []\n', "languages"),
    ('[event]\nlanguages = "pt"\n', "languages"),
    ('[process]\nstaff_language = "klingon"\n', "staff_language"),
])
def test_unknown_languages_are_refused_naming_the_key(tmp_path: Path, lines: str,
                                                       key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_config(lines, str(tmp_path / "c.toml"), tmp_path)


def test_languages_are_read_main_first(tmp_path: Path) -> None:
    cfg = parse_config('[event]\nlanguages = ["PT", "en", "pt"]\n', str(tmp_path / "c.toml"),
                       tmp_path)
    assert cfg.event.languages == ("pt", "en")
    assert cfg.process.staff_language == "en"


@pytest.mark.parametrize(("text", "code"), [
    ("Fui assediada no corredor ontem à noite.", "pt"),
    ("Me acosaron en el pasillo ayer por la noche.", "es"),
    ("Hola, I want to report something. Ayer en el social event un señor me dijo cosas muy "
     "feas y me siguió hasta el hotel.", "es"),
    ("Bonjour, je voudrais signaler un comportement inacceptable pendant l'atelier d'hier.\n\n"
     "On Monday, John <j@example.org> wrote:\n> Please send us your report in English if you "
     "can, it is easier for the whole team.", "fr"),
    ("Dzień dobry, wczoraj na konferencji ktoś mnie obrażał i nie wiem co robić.", "pl"),
    ("昨日の懇親会で、ある参加者から不快な発言をされました。", "ja"),
    ("ok", ""),
])
def test_the_detector_on_short_mixed_and_quoted_texts(text: str, code: str) -> None:
    assert detect(reporter_words(text)) == code
