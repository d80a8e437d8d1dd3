"""`#reply <party>`: whom a reply goes to, and the mail that carries it (issue 25, item 1).

Pure. Staff write to the reporter by default, and to the person affected, a reported
person, a witness or the committee when they name them. Each party has its own
template, because a careful team writes differently to each (the person affected is
offered support, a witness is asked for discretion, the reported person learns nothing
of anyone else). The gates say plainly why a reply cannot go: nobody with that role,
no address, or two people it could mean. What leaves the team never names an anonymous
reporter; mail to a reported person also passes the identity guard (the caller, as
for the response, and may wait for a second member's #approve).
"""

from __future__ import annotations

from dataclasses import dataclass

from .case import Case, Person
from .effects import OutMail
from .env import Env
from .identity_guard import anonymous_words
from .mail_commands.values import CommandValueError, parse_person
from .mail_contexts import (
    AccusedReplyContext,
    CommitteeReplyContext,
    VictimReplyContext,
    WitnessReplyContext,
)
from .model import Address
from .vocabulary import Recipient
from .workflow import Refused, _reporter_mail_gate, _same, mail_reporter_reply

# The words `#reply` takes, and the party each means ("committee" is the DSF's own name
# for itself when `[dsf] name` says so; both work).
PARTY_WORDS = {"reporter": "reporter", "victim": "victim", "accused": "accused",
               "witness": "witness", "dsf": "dsf", "committee": "dsf"}
REPLY_SYNTAX = "#reply [reporter|victim|accused [name or addr]|witness <name or addr>|dsf]"


@dataclass(frozen=True)
class Reply:
    """A reply ready to go: the mail, and who it is for in the transcript's words."""

    mail: OutMail
    label: str  # "the reported person (Dan Doe <dan@example.org>)"
    party: str  # reporter | victim | accused | witness | dsf
    short: str  # "the reported person": the transcript's line


def reply_to(case: Case, env: Env, value: str, text: str) -> Reply:
    """The reply `#reply <value>` would send with `text`, or Refused saying why not."""
    word, _, who = value.strip().partition(" ")
    party = PARTY_WORDS.get(word.lower() or "reporter")
    if party is None:
        raise Refused(f"#reply does not know {word!r}: {REPLY_SYNTAX}")
    who = who.strip()
    if party in ("reporter", "victim", "dsf") and who:
        raise Refused(f"#reply {word} takes no name: {REPLY_SYNTAX}")
    if party == "reporter":
        _reporter_mail_gate(case)
        assert case.reporter
        return Reply(mail_reporter_reply(case, text), f"the reporter ({case.reporter.display()})",
                     party, "the reporter")
    if party == "dsf":
        _not_naming_anonymous(case, text, "the committee")
        name = env.details.committee
        mail = OutMail(to=Address(env.details.committee_address_name(), env.dsf),
                       role=Recipient.DSF, case=case.number,
                       context=CommitteeReplyContext(text=text))
        return Reply(mail, name, party, name)
    if party == "victim":
        victim = _victim(case)
        _not_naming_anonymous(case, text, "the person affected")
        mail = OutMail(to=Address(victim.name, victim.email or ""),
                       role=Recipient.VICTIM, case=case.number,
                       context=VictimReplyContext(victim_name=victim.name, text=text))
        return Reply(mail, f"the person affected ({victim.display()})", party,
                     "the person affected")
    if party == "witness":
        person = _one_of(case.witnesses, who, "witness", "a witness")
        _not_naming_anonymous(case, text, "a witness")
        mail = OutMail(to=Address(person.name, person.email or ""),
                       role=Recipient.WITNESS, case=case.number,
                       context=WitnessReplyContext(witness_name=person.name, text=text))
        return Reply(mail, f"a witness ({person.display()})", party, "a witness")
    person = _one_of(case.accused, who, "accused", "the reported person")
    mail = OutMail(to=Address(person.name, person.email or ""),
                   role=Recipient.ACCUSED, case=case.number,
                   context=AccusedReplyContext(accused_name=person.name, text=text))
    return Reply(mail, f"the reported person ({person.display()})", party,
                 "the reported person")


def _victim(case: Case) -> Person:
    victim = case.effective_victim()
    if victim is None:
        raise Refused("no person affected on the case: set #victim Name <address> first")
    if case.victim_is_reporter or (case.reporter is not None and _same(victim, case.reporter)):
        raise Refused("the person affected is the reporter on this case: write #reply "
                      "(to the reporter)")
    if not victim.email:
        raise Refused(f"the person affected ({victim.display()}) has no email address on the "
                      "case: set #victim Name <address>, or talk to them in person")
    return victim


def _one_of(people: tuple[Person, ...], who: str, role: str, words: str) -> Person:
    """The one person of `people` that `who` (a name or an address; may be empty when
    the case has only one) means, with an address; else Refused saying which to write."""
    named = ", ".join(p.display() for p in people)
    if not people:
        raise Refused(f"no {role} on the case: add #{role} Name <address> first")
    if who:
        try:
            name, email = parse_person(who)
        except CommandValueError as e:
            raise Refused(str(e)) from None
        wanted = Person(role, name, email.lower() if email else None)
        found = [p for p in people if _same(wanted, p)]
        if not found:
            raise Refused(f"no {role} on the case is {wanted.display()} (the case names: "
                          f"{named})")
    elif len(people) == 1:
        found = list(people)
    else:
        raise Refused(f"{len(people)} people are on the case as {role} ({named}): say which, "
                      f"e.g. #reply {role} {people[0].email or people[0].name}")
    if len(found) > 1:
        raise Refused(f"{who} could be any of {', '.join(p.display() for p in found)}: "
                      f"write the address, e.g. #reply {role} {found[0].email or '<address>'}")
    person = found[0]
    if not person.email:
        raise Refused(f"{words} ({person.display()}) has no email address on the case: add it "
                      f"with #{role} Name <address>, or talk to them in person")
    return person


def _not_naming_anonymous(case: Case, text: str, whom: str) -> None:
    """An anonymous reporter is never named outside the team (docs/process.md)."""
    named = anonymous_words(text, case)
    if named:
        raise Refused(f"the reporter is anonymous, but this reply to {whom} names them ("
                      + ", ".join(named) + "); take that out")

