"""The identity guard and #response (issue 21): nothing bound for the reported person names
the reporter, the person affected or a witness. Through real mail (App.receive, replies
to the mails cocmail sent), and the pure check on the spellings a hurried writer uses."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cocmail.app import App
from cocmail.core.case import Case, Person
from cocmail.nonces import new_nonce
from cocmail.store import cases as cases_db
from testsupport.helpers import SEND_AT_ONCE, body_of, mail, spool

REPORT = mail("Lena Leaky <lena.leaky@attendee.example>", "Something happened",
              "Dan kept following me after the talk.\n\nLena\n",
              message_id="<r1@attendee.example>")
PEOPLE = ("#accused Dan Doe <dan@speaker.example>\n"
          "#witness Walt Whitfield <walt@attendee.example>\n")
# The issue's own decision line: natural on the sheet, never for the reported person.
ACTION = ("#action Warning issued. Keep away from Lena Leaky and Walt Whitfield; do not "
          "write to lena.leaky@attendee.example\n")
RESPONSE = ("#response Warning issued. Keep away from the people involved in this matter "
            "and do not contact them.\n")
_n = [0]


def _reply(app: App, who: str, body: str, to: EmailMessage | None = None) -> str:
    """`who` answers `to` (default: the newest mail cocmail sent them)."""
    _n[0] += 1
    to = to or [m for m in spool(app.cfg) if who in str(m["To"])][-1]
    return app.receive(mail(f"Staff <{who}>", "Re: " + str(to["Subject"]), body,
                            message_id=f"<g{_n[0]}@example.org>",
                            in_reply_to=to["Message-ID"]), "test")


def _to(app: App, who: str) -> list[EmailMessage]:
    return [m for m in spool(app.cfg) if who in str(m["To"])]


def _last(app: App, who: str) -> str:
    return body_of(_to(app, who)[-1])


@pytest.fixture
def approving(make_app: Callable[..., App]) -> App:
    """Ana and Ben, second approval as shipped (mail to the reported person waits)."""
    a = make_app()
    a.receive(REPORT, "test")
    return a


@pytest.fixture
def at_once(make_app: Callable[..., App]) -> App:
    a = make_app(SEND_AT_ONCE)
    a.receive(REPORT, "test")
    return a


def test_the_issue_s_action_never_reaches_the_reported_person(approving: App) -> None:
    _reply(approving, "ana@example.org", PEOPLE + ACTION + "#notify-harasser\n")
    transcript = _last(approving, "ana@example.org")
    assert "error" in transcript
    named = ("the response names Lena, Leaky and lena.leaky@attendee.example (the reporter, "
             "the person affected), Walt and Whitfield (a witness)")
    assert named in transcript.replace("\r\n", " ")
    assert "#response" in transcript  # how to go on
    assert not _to(approving, "dan@speaker.example")
    assert not [m for m in _to(approving, "ben@example.org")
                if "Approval needed" in str(m["Subject"])]
    case = approving.store.read(cases_db.load_case, 1)
    assert case is not None and case.action is None  # the whole block was refused


def test_a_refusal_reads_once_and_claims_nothing_was_done(approving: App) -> None:
    """On a phone: the refusal at its line only, the lines before it "not run" (before: the
    whole refusal twice, and "not run: accused added" read as if it had been)."""
    _reply(approving, "ana@example.org", PEOPLE + ACTION + "#notify-harasser\n")
    transcript = _last(approving, "ana@example.org").replace("\r\n", "\n")
    assert "Nothing was changed on case 1: line 4 could not be run.\n" in transcript
    assert transcript.count("the response names") == 1
    assert "#accused Dan Doe <dan@speaker.example>\n          not run\n" in transcript
    assert "added" not in transcript
    relay = _last(approving, "ben@example.org").replace("\r\n", "\n")
    assert "#accused Dan Doe <dan@speaker.example>\n          not run\n" in relay
    assert "ok:" not in relay
    assert "(No text below the commands.)" in relay


def test_response_goes_to_the_reported_person_and_the_action_stays_on_the_sheet(
        approving: App) -> None:
    _reply(approving, "ana@example.org", PEOPLE + ACTION + RESPONSE + "#notify-harasser\n")
    (proposal,) = [m for m in _to(approving, "ben@example.org")
                   if "Approval needed" in str(m["Subject"])]
    shown = body_of(proposal)
    assert "Keep away from the people involved" in shown and "Lena" not in shown
    _reply(approving, "ben@example.org", "#approve\n", to=proposal)
    (sent,) = _to(approving, "dan@speaker.example")
    text = sent.as_string()
    assert "Keep away from the people involved" in text
    for word in ("Lena", "Leaky", "Walt", "Whitfield", "lena.leaky"):
        assert word not in text
    case = approving.store.read(cases_db.load_case, 1)
    assert case is not None and case.action is not None and "Lena Leaky" in case.action


def test_a_response_that_names_someone_is_refused_at_once(at_once: App) -> None:
    _reply(at_once, "ana@example.org",
           PEOPLE + "#response Do not speak to Mr. WHITFIELD's friends again.\n")
    transcript = _last(at_once, "ana@example.org")
    assert "the response names WHITFIELD (a witness)" in transcript
    case = at_once.store.read(cases_db.load_case, 1)
    assert case is not None and case.response is None and not case.witnesses


def test_a_witness_named_later_in_the_same_mail_is_protected_too(at_once: App) -> None:
    _reply(at_once, "ana@example.org",
           "#accused Dan Doe <dan@speaker.example>\n#action Keep away from Kim.\n"
           "#notify-harasser\n#witness Kim Park <kim@attendee.example>\n")
    assert "the response names Kim (a witness)" in _last(at_once, "ana@example.org")
    assert not _to(at_once, "dan@speaker.example")


def test_without_approval_the_response_is_sent_when_it_names_no_one(at_once: App) -> None:
    _reply(at_once, "ana@example.org", PEOPLE + ACTION + RESPONSE + "#notify-harasser\n")
    (sent,) = _to(at_once, "dan@speaker.example")
    assert "Keep away from the people involved" in body_of(sent)
    assert "Lena" not in sent.as_string()


def test_near_misses_are_shown_in_the_proposal_and_the_preview(approving: App) -> None:
    _reply(approving, "ana@example.org",
           PEOPLE + "#action A warning\n#response A warning. Do not approach Lenna again.\n"
           "#preview harasser\n")
    (preview,) = [body_of(m) for m in _to(approving, "ana@example.org")
                  if "Preview" in str(m["Subject"])]
    assert '"Lenna" looks like "Lena"' in preview and "Do not approach Lenna again." in preview
    assert '"Lenna" looks like "Lena"' in _last(approving, "ana@example.org")  # transcript
    _reply(approving, "ana@example.org", "#notify-harasser\n")
    (proposal,) = [m for m in _to(approving, "ben@example.org")
                   if "Approval needed" in str(m["Subject"])]
    shown = body_of(proposal)
    assert '"Lenna" looks like "Lena" (the reporter, the person affected)' in shown
    assert "Do not approach Lenna again." in shown  # the exact mail


def test_preview_harasser_is_refused_when_the_response_names_someone(at_once: App) -> None:
    _reply(at_once, "ana@example.org", PEOPLE + ACTION + "#preview harasser\n")
    assert "the response names Lena" in _last(at_once, "ana@example.org")


def test_a_new_response_makes_a_waiting_proposal_stale(approving: App) -> None:
    """Ben approves what he read: a #response written after the proposal is not it."""
    _reply(approving, "ana@example.org", PEOPLE + "#action A warning\n"
           "#response A warning.\n#notify-harasser\n")
    (proposal,) = [m for m in _to(approving, "ben@example.org")
                   if "Approval needed" in str(m["Subject"])]
    _reply(approving, "ana@example.org", "#response A warning, and you may not come back.\n")
    _reply(approving, "ben@example.org", "#approve\n", to=proposal)
    transcript = _last(approving, "ben@example.org")
    assert "out of date: response changed" in transcript and "nothing was sent" in transcript
    assert not _to(approving, "dan@speaker.example")


# ----------------------------------------------------------------- the pure check
NOW = datetime(2027, 6, 1, tzinfo=UTC)
CASE = Case(number=1, opened=NOW,
            reporter=Person("reporter", "Anouk Müller", "a.mueller@mail.example"),
            victim=Person("victim", 'Elena "Lena" Kowalska', "elena@mail.example"),
            victim_is_reporter=False,
            accused=(Person("accused", "Dan Doe", "dan@speaker.example"),),
            witnesses=(Person("witness", "José O'Brien", None),))


@pytest.mark.parametrize(("text", "word", "whose"), [
    ("Stay away from Lena.", "Lena", "the person affected"),
    ("Stay away from LENA's table.", "LENA", "the person affected"),
    ("Do not write to Elena.", "Elena", "the person affected"),
    ("Do not write to Kowalska.", "Kowalska", "the person affected"),
    ("Do not contact Anouk Mueller.", "Anouk", "the reporter"),
    ("Do not contact Mueller.", "Mueller", "the reporter"),
    ("Do not contact Muller.", "Muller", "the reporter"),
    ("Do not contact Mu\u0308ller.", "Müller", "the reporter"),  # decomposed "ü"
    ("Apologise to Jose.", "Jose", "a witness"),
    ("Apologise to OBrien.", "OBrien", "a witness"),
    ("Ask L\u0435na.", "L\u0435na", "the person affected"),  # a Cyrillic "е"
    ("Write to elena@mail.example", "elena@mail.example", "the person affected"),
    ("Write to a.mueller at mail dot example", "mueller", "the reporter"),
    # Mathematical letters decompose to capitals: the case is folded after that.
    ("Stay away from \U0001d40b\U0001d41e\U0001d427\U0001d41a.",
     "\U0001d40b\U0001d41e\U0001d427\U0001d41a", "the person affected"),
    ("Ask \U0001d5df\U0001d5f2\U0001d5fb\U0001d5ee.",
     "\U0001d5df\U0001d5f2\U0001d5fb\U0001d5ee", "the person affected"),
])
def test_every_spelling_of_a_protected_name_is_a_hit(text: str, word: str, whose: str) -> None:
    from cocmail.core.identity_guard import check_text

    hits = check_text(text, CASE).hits
    assert any(h.word == word and h.whose == whose for h in hits), hits


def test_the_reported_person_s_own_name_and_plain_words_pass() -> None:
    from cocmail.core.identity_guard import check_text

    verdict = check_text("Dan Doe, you are warned: keep away from the people involved, "
                         "and do not contact anyone about this report.", CASE)
    assert verdict.hits == ()


def test_near_misses_are_reported_not_refused() -> None:
    from cocmail.core.identity_guard import check_text

    verdict = check_text("Do not approach Kowalski or Anuok.", CASE)
    assert verdict.hits == ()
    assert {n.word for n in verdict.near} == {"Kowalski", "Anuok"}


# ----------------------------------------------------------------- the property
_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéñ", min_size=2, max_size=9)
_FILLER = ["warned", "keep", "away", "from", "the", "people", "involved", "you", "must",
           "not", "contact", "anyone", "about", "this"]
_SPELLINGS = [str.capitalize, str.upper, lambda w: w + "'s",
              lambda w: unicodedata.normalize("NFD", w), lambda w: "\u00ad".join(w)]


@settings(max_examples=150, deadline=None)
@given(victim=_NAME, witness=_NAME, reporter=_NAME,
       words=st.lists(st.tuples(st.sampled_from(["filler", "victim", "witness", "reporter"]),
                                st.integers(0, 13), st.integers(0, 4)), min_size=1, max_size=8))
def test_no_response_that_names_a_protected_person_is_ever_sent(
        victim: str, witness: str, reporter: str, words: list[tuple[str, int, int]]) -> None:
    """On random names and random responses: a response naming the reporter, the person
    affected or a witness (in any case, accented or not, possessive, with hidden soft
    hyphens) is refused; one that names none of them goes out without them."""
    from cocmail.core.commands import parse_command_block
    from cocmail.core.compose import Composer
    from cocmail.core.env import Env, NoHistory
    from cocmail.core.mail_commands.run import apply_block
    from cocmail.core.model import Roster, StaffMember
    from cocmail.core.public_text import identifying_words
    from cocmail.render import Renderer

    # Prefixes no English word has, so that the template's own words never look like one.
    names = {"victim": f"Qv{victim}", "witness": f"Xq{witness}", "reporter": f"Zq{reporter}"}
    text = " ".join(_FILLER[i] if kind == "filler" else _SPELLINGS[s](names[kind])
                    for kind, i, s in words)
    case = Case(number=5, opened=NOW, reporter=Person("reporter", names["reporter"] + " Doe",
                                                       "rep@a.example"))
    block = parse_command_block(
        f"#victim {names['victim']} <vic@a.example>\n#witness {names['witness']}\n"
        f"#accused Dan Doe <dan@x.example>\n#action A warning\n#response {text}\n"
        "#notify-harasser\n")
    env = Env(event="Example Conf", event_ends=None, tz=ZoneInfo("Europe/Berlin"),
              inbox="conduct@example.org", dsf="conduct@djangoproject.com", appeal=None,
              roster=Roster((StaffMember(1, "Ana Lima", "ana@example.org"),)), now=NOW,
              history=NoHistory(), nonce=new_nonce)
    r = apply_block(case, block.commands, block.body, StaffMember(1, "Ana Lima",
                                                                 "ana@example.org"), env)
    named = any(kind != "filler" for kind, _, _ in words)
    assert r.rejected == named, (text, r.reason)
    composer = Composer(secret=b"s" * 64, renderer=Renderer(), inbox="conduct@example.org",
                        tag="CoC", event="Example Conf", plus_addressing=True, nonce=new_nonce)
    for m in r.mails:
        if m.to.email == "dan@x.example":
            body = composer.compose(m, NOW).body
            assert not identifying_words(body.replace("Dan Doe", ""), r.case), body


def test_name_particles_alone_name_no_one() -> None:
    from cocmail.core.identity_guard import check_text

    case = Case(number=1, opened=NOW,
                reporter=Person("reporter", "Maria de la Cruz", "maria@mail.example"))
    assert check_text("Stay away from la terrasse and de bar, van or no van.", case).hits == ()
    assert [h.word for h in check_text("Stay away from Cruz.", case).hits] == ["Cruz"]


def test_a_name_the_report_writes_of_someone_not_on_the_case_is_shown_for_a_second_look(
        make_app: Callable[..., App]) -> None:
    """The reporter's friend who saw it was never added with #witness: the guard does not
    know her as a witness, but a response naming her is not sent unremarked."""
    app = make_app()
    app.receive(mail("Lena Leaky <lena.leaky@attendee.example>", "Something happened",
                     "Dan kept following me after the talk at DjangoCon on Monday. My "
                     "friend Mara saw it.\n\nLena\n", message_id="<r9@attendee.example>"),
                "test")
    _reply(app, "ana@example.org",
           "#accused Dan Doe <dan@speaker.example>\n#action A warning\n"
           "#response A warning. Do not approach Mara, and stay away from DjangoCon "
           "on Monday.\n#preview harasser\n")
    (preview,) = [body_of(m) for m in _to(app, "ana@example.org")
                  if "Preview" in str(m["Subject"])]
    assert '"Mara" (a name the report writes' in preview
    assert '"DjangoCon"' not in preview and '"Monday"' not in preview


def test_a_name_inside_a_sentence_without_spaces_is_refused(
        make_app: Callable[..., App]) -> None:
    """Japanese writes no spaces: "山田さんに近づかないでください" (stay away from Ms Yamada)
    is one run of letters that holds the reporter's surname."""
    app = make_app()
    app.receive(mail("山田 花子 <hanako@attendee.example>", "報告",
                     "Dan kept following me after the talk.\n",
                     message_id="<r10@attendee.example>"), "test")
    _reply(app, "ana@example.org", "#accused Dan Doe <dan@speaker.example>\n"
                                   "#action A warning\n"
                                   "#response 警告です。山田さんに近づかないでください。\n"
                                   "#preview harasser\n")
    assert "the response names 山田 (the reporter" in " ".join(
        _last(app, "ana@example.org").split())


def test_the_public_checks_find_a_name_inside_a_sentence_without_spaces() -> None:
    from cocmail.core.identity_guard import anonymous_words
    from cocmail.core.public_text import identifying_words

    case = Case(number=1, opened=NOW, reporter=Person("reporter", "王芳", "fang@mail.example"),
                reporter_anonymous=True,
                accused=(Person("accused", "Dan Doe", "dan@speaker.example"),))
    assert identifying_words("王芳在派对上被骚扰。", case) == ["王芳"]
    assert anonymous_words("王芳在派对上被骚扰。", case) == ["王芳"]
    assert identifying_words("有人在派对上被骚扰。", case) == []


def test_a_name_inside_a_sentence_without_spaces_is_redacted() -> None:
    from cocmail.core.public_text import person_terms, redact

    terms = person_terms("王芳", "fang@mail.example")
    assert redact("王芳在派对上被骚扰。Write to fang@mail.example", terms) \
        == "[anonymous]在派对上被骚扰。Write to [anonymous]"
