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


def test_a_person_affected_who_did_not_report_is_not_assumed_to_read_the_reporters_language(
        desk: Desk) -> None:
    """A Portuguese reporter wrote about someone else: the person affected gets the
    decision in all the event's languages, not in Portuguese alone (found reading the
    demo's mails as the person affected)."""
    n = desk.report("Rita Reporter <rita@example.net>", PT_REPORT)
    desk.new()
    assert desk.staff("ana@example.org", n,
                      "#victim Vicky Vale <vicky@example.net>\n#action A formal warning\n"
                      "#outcome warning\n#notify-victim\n") == "done"
    (decision,) = to(desk.new(), "vicky@example.net")
    assert " / " in str(decision["Subject"])  # Portuguese / English
    assert "* * *" in body_of(decision)


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


# ------------------------------------------------------------------ every shipped language
REPORTS = {
    "en": "Hello, at the party last night a man kept touching my arm after I asked him to "
          "stop, and then he followed me to the bar.\n",
    "es": ES_REPORT,
    "pt": PT_REPORT,
    "fr": "Bonjour, hier soir pendant la fête, un homme m'a touché le bras plusieurs fois "
          "alors que je lui avais demandé d'arrêter, puis il m'a suivie jusqu'au bar.\n",
    "de": "Hallo, gestern Abend auf der Party hat mich ein Mann immer wieder am Arm "
          "angefasst, obwohl ich ihn gebeten hatte aufzuhören, und ist mir dann zur Bar "
          "gefolgt.\n",
    "it": "Buongiorno, ieri sera alla festa un uomo ha continuato a toccarmi il braccio "
          "anche dopo che gli avevo chiesto di smettere, e poi mi ha seguita fino al bar.\n",
}
ENGLISH_ONLY = frozenset({"the", "and", "you", "your", "we", "our", "please", "with", "this",
                          "that", "have", "from", "hello", "thank", "reply", "would", "been",
                          "about", "report", "received"})


@pytest.mark.parametrize("lang", sorted(REPORTS))
def test_a_report_in_each_shipped_language_is_answered_in_it_whole(
        tmp_path: Path, lang: str) -> None:
    """Through the pipeline, for an event that speaks that language: the report is
    detected, the acknowledgement and its subject are in that language with no English
    word left (besides the values: the event's name, the addresses), the staff mail is
    English and the case keeps the language."""
    desk = lang_desk(tmp_path, f'["{lang}", "en"]' if lang != "en" else '["en", "pt"]')
    try:
        n = desk.report("Rita Reporter <rita@example.net>", REPORTS[lang])
        sent = desk.new()
        (ack,) = to(sent, "rita@example.net")
        subject = str(ack["Subject"])
        assert subject.startswith(f"[CoC #{n}] ") and "/" not in subject
        assert f"[CoC #{n}]" in body_of(ack)
        if lang != "en":
            own = flat(body_of(ack)).replace("Example Conf 2027", " ").replace(
                "conduct@example.org", " ").lower()
            import re

            assert not set(re.findall(r"[a-z]+", own)) & ENGLISH_ONLY, body_of(ack)
            assert not set(re.findall(r"[a-z]+", subject.lower())) & ENGLISH_ONLY
        assert "A new report has arrived" in body_of(to(sent, "ben@example.org")[0])
        assert json.loads(desk.cli("cases", "show", str(n), "--json"))["language"] == lang
    finally:
        desk.close()


def test_a_team_override_of_one_language_falls_back_to_that_language(tmp_path: Path) -> None:
    """A team that rewrote only the Portuguese acknowledgement: its Portuguese mail uses
    that file, every other Portuguese mail the shipped Portuguese one, never English."""
    own = tmp_path / "own-templates"
    (own / "pt").mkdir(parents=True)
    shipped = (Path(__file__).resolve().parent.parent / "templates" / "pt" / "ack.txt")
    (own / "pt" / "ack.txt").write_text(shipped.read_text(encoding="utf-8").replace(
        "Obrigado por nos ter escrito.", "Obrigado pela sua confiança."), encoding="utf-8")
    (own / "pt" / "subjects.toml").write_text('[subjects]\nack = "O seu relato chegou"\n',
                                              encoding="utf-8")
    desk = lang_desk(tmp_path, extra=f'\n[templates]\ndir = "{own}"\n')
    try:
        n = desk.report("Rita Reporter <rita@example.net>", PT_REPORT)
        (ack,) = to(desk.new(), "rita@example.net")
        assert "Obrigado pela sua confiança." in body_of(ack)
        assert str(ack["Subject"]) == f"[CoC #{n}] O seu relato chegou"
        desk.staff("ana@example.org", n, "#reply\nVamos ligar-lhe amanhã.\n")
        (reply,) = to(desk.new(), "rita@example.net")
        assert str(reply["Subject"]).endswith("Sobre o seu relato")
        assert "Pode responder a este email" in body_of(reply)
    finally:
        desk.close()


def test_the_demo_shows_a_report_in_another_language_and_its_acknowledgement(
        tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cocmail.cli import main

    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3e. Another report, written in Spanish" in out
    assert "Subject: [CoC #2] Hemos recibido su reporte" in out
    assert "Language:     written in Spanish; acknowledged in Spanish" in out


# ------------------------------------------------------------------ the local way
@pytest.mark.parametrize(("lang", "minutes", "words"), [
    ("en", 60, "an hour"), ("en", 120, "2 hours"), ("pt", 120, "2 horas"),
    ("es", 1440, "1 día"), ("de", 30, "30 Minuten"),
    ("fr", 180, "3\u00a0heures"),  # CLDR's no-break space: a wrap never parts them
])
def test_the_promised_time_is_written_in_the_mail_s_language(
        lang: str, minutes: int, words: str) -> None:
    from cocmail.render_i18n import duration

    assert duration({"language": lang}, minutes) == words


def test_dates_are_written_the_local_way() -> None:
    from datetime import date

    from cocmail.render_i18n import local_date

    day = date(2027, 6, 5)
    assert local_date({"language": "pt"}, day) == "5 de junho de 2027"
    assert local_date({"language": "de"}, day) == "5. Juni 2027"
    assert local_date({"language": "en"}, "2027-06-05") == "June 5, 2027"
    assert local_date({"language": "fr"}, "not a date") == "not a date"


# ------------------------------------------------------------------ the leak property
@pytest.mark.parametrize("lang", sorted(REPORTS))
def test_nothing_identifying_reaches_the_reported_person_in_any_language(lang: str) -> None:
    """tests/test_identity_guard.py's property, in every shipped language: random names
    for the reporter, the person affected and a witness, a response written around them;
    whatever is sent to the reported person, in that language's templates, names none
    of them."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tests.test_identity_guard import _FILLER, _NAME, _SPELLINGS

    _leak_property(lang, given, settings, st, _NAME, _FILLER, _SPELLINGS)


def _leak_property(lang, given, settings, st, name, filler, spellings):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from cocmail.core.case import Case, Person
    from cocmail.core.commands import parse_command_block
    from cocmail.core.compose import Composer
    from cocmail.core.env import Env, NoHistory
    from cocmail.core.languages import localise
    from cocmail.core.mail_commands.run import apply_block
    from cocmail.core.model import Roster, StaffMember
    from cocmail.core.public_text import identifying_words
    from cocmail.nonces import new_nonce
    from cocmail.render import Renderer

    now = datetime(2027, 6, 4, 22, 30, tzinfo=UTC)
    ana = StaffMember(1, "Ana Lima", "ana@example.org")
    composer = Composer(secret=b"s" * 64, renderer=Renderer(), inbox="conduct@example.org",
                        tag="CoC", event="Example Conf", plus_addressing=True, nonce=new_nonce)

    @settings(max_examples=25, deadline=None)
    @given(victim=name, witness=name, reporter=name,
           words=st.lists(st.tuples(st.sampled_from(["filler", "victim", "witness", "reporter"]),
                                    st.integers(0, 13), st.integers(0, 4)),
                          min_size=1, max_size=6))
    def check(victim: str, witness: str, reporter: str,
              words: list[tuple[str, int, int]]) -> None:
        names = {"victim": f"Qv{victim}", "witness": f"Xq{witness}", "reporter": f"Zq{reporter}"}
        text = " ".join(filler[i] if kind == "filler" else spellings[s](names[kind])
                        for kind, i, s in words)
        case = Case(number=5, opened=now, reporter=Person(
            "reporter", names["reporter"] + " Doe", "rep@a.example"), language=lang)
        block = parse_command_block(
            f"#victim {names['victim']} <vic@a.example>\n#witness {names['witness']}\n"
            f"#accused Dan Doe <dan@x.example>\n#language accused {lang}\n"
            f"#action A warning\n#response {text}\n#notify-accused\n#notify-harasser\n")
        env = Env(event="Example Conf", event_ends=None, tz=ZoneInfo("Europe/Berlin"),
                  inbox="conduct@example.org", dsf="conduct@djangoproject.com", appeal=None,
                  roster=Roster((ana,)), now=now, history=NoHistory(), nonce=new_nonce,
                  languages=(lang,))
        r = apply_block(case, block.commands, block.body, ana, env)
        to_dan = [m for m in r.mails if m.to.email == "dan@x.example"]
        assert r.rejected or len(to_dan) == 2, r.reason
        for m in r.mails:
            if m.to.email == "dan@x.example":
                m = localise(m, r.case.chosen_languages(), env.languages)
                assert m.languages == (lang,)
                body = composer.compose(m, now).body
                assert not identifying_words(body.replace("Dan Doe", ""), r.case), body

    check()
