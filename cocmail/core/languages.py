"""Which language a mail to someone outside the team is written in (issue 26). Pure.

The people most shaken by an incident read cocmail's mail in their second language, on a
phone, at night; so the acknowledgement answers in the language the report is written in
when the event speaks it, and otherwise in every language the event speaks, the main one
first, in one mail (nobody is left with a mail they cannot read, and nobody is guessed
at). The detector runs in the shell (cocmail/language_detect.py) and reaches the core as
a fact: a language code, or "" when it could not tell.

A case keeps one language per party (`#language [accused|victim] <code>`); "" means "not
known": that party's mail goes out in all the event's languages. Staff mail is always in
`[process] staff_language`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, TypeVar

from .effects import OutMail
from .env import Env
from .vocabulary import OUTWARD_KINDS, MailKind, Party, Recipient

# The languages cocmail ships every outward template in (templates/<code>/), English first.
SHIPPED_LANGUAGES: tuple[str, ...] = ("en", "es", "pt", "fr", "de", "it")

# Their names as the team reads them in a staff notification (staff mail is in English
# today; a staff_language with its own staff templates would name them its own way).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German",
    "it": "Italian",
}

# The parties `#language` sets, and the mail role (Recipient letter) each one's mail has.
LANGUAGE_PARTIES: dict[Party, Recipient] = {
    Party.REPORTER: Recipient.REPORTER, Party.VICTIM: Recipient.VICTIM,
    Party.ACCUSED: Recipient.ACCUSED,
}


def language_name(code: str) -> str:
    """`pt` -> "Portuguese"; a code cocmail does not ship is shown as it is."""
    return LANGUAGE_NAMES.get(code, code or "unknown")


def names(codes: Iterable[str]) -> str:
    """("pt", "en") -> "Portuguese and English"."""
    words = [language_name(c) for c in codes]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def answer_languages(detected: str, event_languages: tuple[str, ...]) -> tuple[str, ...]:
    """The languages of the acknowledgement: the report's own when the event speaks it,
    else all of the event's, the main one first."""
    if detected in event_languages:
        return (detected,)
    return event_languages


def party_languages(stored: str, event_languages: tuple[str, ...]) -> tuple[str, ...]:
    """The languages of later mail to a party: the stored one, else all the event's."""
    if stored and stored in SHIPPED_LANGUAGES:
        return (stored,)
    return event_languages


def languages_for(kind: str, role: str, chosen: dict[str, str],
                  event_languages: tuple[str, ...]) -> tuple[str, ...]:
    """The languages of a mail of `kind` to `role`; () for staff mail and the committee's
    report (they stay in the team's language). `chosen` maps a Recipient letter to the
    language stored for that party on the case (Case.chosen_languages already gives the
    person affected who reported the reporter's language; a person affected who did not
    report is not assumed to read the reporter's)."""
    if kind not in OUTWARD_KINDS:
        return ()
    return party_languages(chosen.get(role, ""), event_languages)


# The detector reads at most this much of a report: a language shows in its first
# paragraphs, and a crafted megabyte must not cost more than a letter.
MAX_DETECT_CHARS = 2000


def reporter_words(text: str) -> str:
    """The reporter's own newest words in `text` (a mail's own body): without quoted
    mail, attributions, signatures and the history a client adds below, so that an
    English quote under a Portuguese report does not decide its language."""
    from .replytext import reply_parts

    own, _ = reply_parts(text)
    words = "\n".join(run.text for run in own).strip()
    if not words:
        words = "\n".join(line for line in text.splitlines()
                          if not line.lstrip().startswith(">"))
    return words.strip()[:MAX_DETECT_CHARS]


def needs_detection(event_languages: tuple[str, ...]) -> bool:
    """An event that speaks only English answers in English whatever the report's
    language: its reports are not run through the detector."""
    return event_languages != ("en",)


def localise(mail: OutMail, chosen: dict[str, str], event_languages: tuple[str, ...]
             ) -> OutMail:
    """`mail` with its languages set (a mail that already has them keeps them), and
    the mails a proposal or a preview shows to staff set the same way."""
    ctx: Any = mail.context
    if mail.kind == MailKind.PROPOSAL and ctx.inners:
        inners = [localise(m, chosen, event_languages) for m in ctx.inners]
        return replace(mail, context=replace(ctx, inners=inners))
    if mail.kind == MailKind.PREVIEW and ctx.inner is not None:
        inner = localise(ctx.inner, chosen, event_languages)
        return replace(mail, context=replace(ctx, inner=inner))
    if mail.languages:
        return mail
    languages = languages_for(mail.kind, mail.role, chosen, event_languages)
    return replace(mail, languages=languages) if languages else mail


D = TypeVar("D")


def localised(decision: D, env: Env, detected: str | None = None) -> D:
    """A Decision (core/intake.py) whose outward mails, proposed mails included, carry
    the languages of the case as it decided it: one place, so that no command that
    writes to a reporter, the person affected or the reported person can forget.

    `detected` (a new report's language, "" unknown; None for any other mail): the case
    keeps it when the event speaks it, the acknowledgement is written in it (else in all
    the event's languages), and the staff notification says both (`report_language`)."""
    case = getattr(decision, "case", None)
    mails = list(decision.mails)  # type: ignore[attr-defined]
    if detected is not None and case is not None:
        if case.reporter is not None and detected in env.languages:
            case = replace(case, language=detected)
        mails = [replace(m, languages=answer_languages(detected, env.languages))
                 if m.kind == MailKind.ACK else m for m in mails]
        notice = staff_notice(detected, env.languages, mails)
        mails = [replace(m, context=replace(m.context, report_language=notice))
                 if m.kind == MailKind.STAFF_NEW_CASE else m for m in mails]
    chosen = case.chosen_languages() if case is not None else {}
    proposals = tuple(replace(p, mails=tuple(localise(m, chosen, env.languages)
                                             for m in p.mails))
                      for p in getattr(decision, "proposals", ()))
    return replace(decision, case=case,  # type: ignore[type-var]
                   mails=tuple(localise(m, chosen, env.languages) for m in mails),
                   proposals=proposals)


def staff_notice(language: str, event_languages: tuple[str, ...],
                 mails: Iterable[OutMail]) -> dict[str, Any] | None:
    """What a new case's staff notification says of languages: the report's (a code,
    "" when the detector could not tell) and the acknowledgement's ([]: none was sent).
    None for an English-only event, whose reports are not run through the detector."""
    if not needs_detection(event_languages):
        return None
    ack = next((m for m in mails if m.kind == MailKind.ACK), None)
    return {"wrote": language, "answered": list(ack.languages) if ack else []}
