"""Who wrote on a case from outside the team, and the appeal that also leaves it.

Pure. Staff read "the reported person wrote" before they read the mail, so the words
must be right: the address the case has for a party decides first (the reporter before
anyone else), then the committee's address, then the token of cocmail's mail the message
answers (someone answering our mail to the reported person from another address may be
them, or whoever that mail was forwarded to: the relay says so). Anyone else is
"someone else".

A reported person who writes after the response was sent may be appealing. When the
team named an `[appeal] contact` (someone outside the team, who considers appeals), the
message goes to them too, and only the message: what the reported person wrote, with
the event and the case tag. Never the case file, the names of the people around them,
the team's notes or the attachments: an appeal contact asks the team for more. Only a
message from the reported person's address on the case goes (not one matched by a token
alone, nor one whose address may be forged); staff are told either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .case import Case
from .effects import OutMail
from .env import Env
from .identity_guard import check_text
from .mail_commands.values import CommandValueError, parse_person
from .mail_contexts import AppealNoticeContext
from .model import Address, ParsedMessage
from .people import addresses_in
from .tokens import Token
from .vocabulary import Party, Recipient, Step

# Who wrote, as the relay's subject and first line name them (effects.RELAY_SUBJECTS).
WORDS: dict[str, str] = {Party.REPORTER: "reporter", Party.VICTIM: "person affected",
                         Party.ACCUSED: "reported person", Party.WITNESS: "witness",
                         Recipient.DSF: "committee"}
SOMEONE = "someone not yet on the case"


@dataclass(frozen=True)
class Writer:
    """Who wrote, for the relay: `role` (WORDS' value or SOMEONE), how staff answer them
    (`reply_with`, a `#reply` line, "" when they cannot), why the match is weak (`note`),
    and whether it may be an appeal."""

    role: str
    reply_with: str = ""
    note: str = ""
    appeal: bool = False
    by_address: bool = False


def who_wrote(case: Case, env: Env, email: str | None, tokens: tuple[Token, ...]) -> Writer:
    role = case.role_of(email) if email else None
    if role is not None:
        return Writer(WORDS[role], _reply_with(case, role, email), by_address=True,
                      appeal=role == Party.ACCUSED and _after_response(case))
    if email and env.dsf and email.lower() == env.dsf.lower():
        return Writer(WORDS[Recipient.DSF], "#reply dsf", by_address=True)
    for t in tokens:
        party = _TOKEN_PARTY.get(t.role)
        if t.case == case.number and party is not None:
            words = WORDS[party]
            return Writer(words, _reply_with(case, party, None),
                          note=f"answered cocmail's mail to the {words}, from an address "
                               "the case does not have for them: it may be someone the mail "
                               "was passed on to",
                          appeal=party == Party.ACCUSED and _after_response(case))
    return Writer(SOMEONE)


_TOKEN_PARTY = {Recipient.REPORTER: Party.REPORTER, Recipient.VICTIM: Party.VICTIM,
                Recipient.ACCUSED: Party.ACCUSED, Recipient.WITNESS: Party.WITNESS,
                Recipient.DSF: Recipient.DSF}


def _after_response(case: Case) -> bool:
    return case.step(Step.HARASSER_INFORMED) is not None


def _reply_with(case: Case, role: str, email: str | None) -> str:
    """The `#reply` line that answers them (core/replies.py), naming them when their role
    has several people on the case."""
    if role == Party.REPORTER:
        return "#reply" if case.reporter and case.reporter.email else ""
    if role == Party.VICTIM:
        return "" if case.victim_is_reporter else "#reply victim"
    if role == Recipient.DSF:
        return "#reply dsf"
    people = case.accused if role == Party.ACCUSED else case.witnesses
    word = "accused" if role == Party.ACCUSED else "witness"
    if email is None:
        with_address = [p for p in people if p.email]
        if len(with_address) != 1:
            return f"#reply {word} <their address on the case>"
        email = with_address[0].email
    return f"#reply {word} {email}"


def appeal_address(contact: str | None) -> Address | None:
    """The address of `[appeal] contact` ("Name <addr>", an address, or a sentence with
    one in it); None when it has none (then staff pass the appeal on themselves)."""
    if not contact:
        return None
    try:
        name, email = parse_person(contact)
    except CommandValueError:
        name, email = "", None
    if email:
        return Address(name, email.lower())
    found = sorted(addresses_in(contact))
    return Address("", found[0]) if found else None


def relay_context(writer: Writer | None, appeal_to: str | None, withheld: str = ""
                  ) -> dict[str, Any]:
    """What staff_relay.txt says of who wrote, how to answer them, and the appeal."""
    return {"reply_with": writer.reply_with if writer else "",
            "role_note": writer.note if writer else "",
            "appeal": bool(writer and writer.appeal), "appeal_to": appeal_to,
            "appeal_withheld": withheld}


def appeal_names(case: Case, msg: ParsedMessage) -> str:
    """Whom the reported person's message names among the people the case protects
    ("Eve (the reporter)"), or "". The appeal contact is outside the team: a message
    that names the reporter, the person affected or a witness is not passed on, even
    though the reported person wrote it (they may have guessed; the contact must not
    learn it from cocmail). A subject that answers ours ("Re: [CoC #3] Outcome ... at
    <event>") is ours, not theirs, and is not read: an event's name may share a word with
    a reporter's."""
    ours = f"#{case.number}]" in msg.subject
    hits = check_text(msg.full_text if ours else f"{msg.subject}\n{msg.full_text}", case).hits
    return ", ".join(dict.fromkeys(f"{h.word} ({h.whose})" for h in hits))


def appeal_mail(case: Case, env: Env, msg: ParsedMessage, sender: str,
                writer: Writer | None, forged: str | None) -> tuple[OutMail | None, str]:
    """The reported person's message for the appeal contact, and whom it names when it
    was withheld for that (appeal_names). (None, "") when it is no appeal from their
    address on the case, or there is no contact with an address."""
    if writer is None or not writer.appeal or not writer.by_address or forged:
        return None, ""
    to = appeal_address(env.appeal)
    if to is None:
        return None, ""
    named = appeal_names(case, msg)
    if named:
        return None, named
    told = case.step(Step.HARASSER_INFORMED)
    return OutMail(to=to, role=Recipient.OTHER, case=case.number,
                   context=AppealNoticeContext(sender=sender, subject=msg.subject,
                                               text=msg.full_text.strip(),
                                               told=env.local(told) if told else "")), ""
