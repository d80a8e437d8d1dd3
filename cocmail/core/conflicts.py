"""Conflicts by construction: which team members a case names, so that they see nothing of it.

A report about a team member must never reach that member, and no member should have
to notice by themselves that they must step back. So every report, every later mail
from outside the team and every person a command puts on the case is checked against
the roster *before* any mail is addressed, and the members it names are excluded like a
recused member (`Case.recused`), with `Case.named` saying why.

The rule errs on the side of exclusion (a wrong exclusion costs an `#include`; a wrong
inclusion sends a report to the person it is about). A member is named by:
- any of their addresses (the staff address or an alias), anywhere;
- their full name, its words next to each other in any order ("Ben Okafor",
  "Okafor, Ben"), accents, case and punctuation ignored;
- a single part of their name (a first name, a surname) that no other member's name
  has, as a whole word ("Ben" names Ben Okafor unless another member is a Ben too);
  a part that is also an ordinary word ("will", "park": common_words) only where the
  text writes it as a name (a capital, or a text written without capitals);
- an address of theirs before the @ made of one word from their name ("wgrace").
Look-alike letters and invisible characters inside a name do not hide it.
A person put on the case by a command (`#accused`, `#witness`, `#victim`, `#reporter`)
names a member by address, by a name (or an address before the @) holding the member's
full name, by a name made only of parts only that member has ("Ben"), or, when the person
has no address, by a name holding such a part; a person with an address of their own and
another full name ("Ben Smith <ben@smith.example>") is someone else.

Pure: the roster and the text in, the members and a short reason out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from .case import Case, Person
from .common_words import MONTHS, ORDINARY
from .effects import Proposal
from .identity_guard import PARTICLES
from .model import Roster, StaffMember
from .people import addresses_in, name_words
from .public_text import LOOKALIKES, UNSPACED
from .replytext import is_quote, newest_cut, split_lines
from .vocabulary import Party, ProposalKind

MIN_PART = 2  # a one-letter initial ("J.") names nobody
MAX_HANDLE_EXTRA = 3  # letters an address adds to a name part: "bokafor", "benji"
# Letters of other scripts that look like Latin ones ("Bеn" with a Cyrillic "е"), in both
# cases: read as the Latin letter in the text and in the roster alike.
_LOOKALIKES = {**LOOKALIKES, **{ord(chr(k).upper()): v.upper() for k, v in LOOKALIKES.items()
                                if chr(k).upper() != chr(k)}}


def _plain(text: str) -> str:
    """`text` with the characters that hide a name dropped or read as Latin letters:
    invisible ones that would split it ("Be\u200bn", a bidi mark, a variation selector, a
    grapheme joiner) and look-alike letters of other scripts."""
    if text.isascii():
        return text
    chars = set(text)  # a report is thousands of characters, a few dozen distinct
    drop = {ord(c): None for c in chars
            if unicodedata.category(c) == "Cf" or c == "\u034f" or "\ufe00" <= c <= "\ufe0f"
            or "\U000e0100" <= c <= "\U000e01ef" or c in "\u115f\u1160\u3164\uffa0"}
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)  # "＠" is "@"
        chars = set(text)
    lookalikes = {o: _LOOKALIKES[o] for o in map(ord, chars) if o in _LOOKALIKES}
    if lookalikes:
        text = text.translate(lookalikes)
    if not drop:
        return text
    # Read both ways, as the identity guard does: inside a word ("Be\u200bn" is Ben) and
    # between two ("Ana\u2062Lima" is Ana Lima).
    return f"{text.translate(drop)}\n{text.translate(dict.fromkeys(drop, ' '))}"


def _words(name: str | None) -> list[str]:
    """The words of a name (one way: a name has no line of its own to read twice)."""
    return name_words(_plain(name or "").partition("\n")[0])


def _handles(m: StaffMember) -> set[str]:
    """The one-word local parts of the member's addresses made from their name: a part
    with an initial or a few letters before or after it ("bokafor", "benji" for Ben
    Okafor; not "marketing" for Mark). A report writing one names them."""
    parts = [w for w in _words(m.name) if len(w) >= 3]
    out = set()
    for address in _addresses(m):
        local = name_words(address.rpartition("@")[0].split("+")[0])
        if len(local) == 1 and local[0] not in parts and any(
                (local[0].startswith(p) or local[0].endswith(p))
                and len(local[0]) - len(p) <= MAX_HANDLE_EXTRA for p in parts):
            out.add(local[0])
    return out
ROLE_WORDS: dict[Party, str] = {
    Party.REPORTER: "the reporter", Party.VICTIM: "the person affected",
    Party.ACCUSED: "the reported person", Party.WITNESS: "a witness"}


def role_words(case: Case, email: str) -> str:
    """What `email` is on the case in words ("the reported person"), or ""."""
    role = case.role_of(email)
    return ROLE_WORDS.get(role, role) if role else ""


@dataclass(frozen=True)
class Named:
    """A member a case names, and how (for the other members' notice)."""

    member: StaffMember
    why: str  # e.g. 'by their address ben@example.org', 'by "Ben", a name only they have…'


def _addresses(m: StaffMember) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.lower() for a in (m.email, *m.aliases)))


def unique_parts(roster: Roster) -> dict[str, set[str]]:
    """Each member's name parts that no other member's name has (by member email)."""
    words = {m.email: {w for w in _words(m.name) if len(w) >= MIN_PART and w not in PARTICLES}
             for m in roster.members}
    out: dict[str, set[str]] = {}
    for email, mine in words.items():
        others = set().union(*(w for e, w in words.items() if e != email))
        out[email] = mine - others
    return out


def _full(m: StaffMember) -> str | None:
    """The member's full name as a sorted run of words, when it has two words or more."""
    words = _words(m.name)
    return " ".join(sorted(words)) if len(words) >= 2 else None


def named_in_text(text: str, roster: Roster, skip: frozenset[str] = frozenset()
                  ) -> list[Named]:
    """The members (not those whose email is in `skip`) that `text` names, in roster order."""
    if not text.strip():
        return []
    text = _plain(text)
    addresses = addresses_in(text) | _spelt_out(text)
    addresses |= {_unplussed(a) for a in addresses}
    order = name_words(text)  # once: the text may be a long report
    words = set(order)
    fulls = {m.email: _full(m) for m in roster.members}
    vocab = {w for f in fulls.values() if f for w in f.split()}
    runs: set[str] = set()
    for size in {len(f.split()) for f in fulls.values() if f}:
        # Only runs that start with a word of some member's name: one set test per word.
        runs.update(" ".join(sorted(order[i:i + size]))
                    for i in range(len(order) - size + 1) if order[i] in vocab)
    parts = unique_parts(roster)
    out = []
    for m in roster.members:
        if m.email.lower() in skip:
            continue
        why = None
        hit = next((a for a in _addresses(m) if a in addresses), None)
        if hit:
            why = f"by their address {hit}"
        elif fulls[m.email] and fulls[m.email] in runs:
            why = f'by their name "{m.name}"'
        elif hit := next((h for h in sorted(_handles(m)) if h in words), None):
            why = f'by "{hit}", the name in their address'
        else:
            part = next((p for p in sorted(parts[m.email])
                         if (p in words or UNSPACED.search(p) and p in text)
                         and _as_a_name(p, text)), None)
            if part:
                why = f'by "{_as_written(m, part)}", a name only they have on the team'
        if why:
            out.append(Named(m, why))
    return out


# An address spelt out against harvesters: "will (at) example (dot) org", "will at
# example dot org". Bounded repeats: linear on any text.
_AT = r"(?:\s*[(\[]\s*at\s*[)\]]\s*|\s+at\s+)"
_DOT = r"(?:\s*[(\[]\s*dot\s*[)\]]\s*|\s+dot\s+|\.)"
_SPELT = re.compile(rf"(?<![\w.+-])([\w.+-]{{1,64}}){_AT}"
                    rf"([\w-]{{1,63}}(?:{_DOT}[\w-]{{1,63}}){{1,4}})", re.IGNORECASE)
_DOTS = re.compile(_DOT, re.IGNORECASE)
# Cheap first: most text says "at" ("at the party") but never "dot" or "(at)".
_SPELT_HINT = re.compile(r"[(\[]\s*at\s*[)\]]|\sdot\s", re.IGNORECASE)


def _spelt_out(text: str) -> set[str]:
    """The addresses `text` spells out ("will at example dot org"), lower-cased."""
    if _SPELT_HINT.search(text) is None:
        return set()
    return {f"{m.group(1)}@{_DOTS.sub('.', m.group(2))}".lower()
            for m in _SPELT.finditer(text)}


def _unplussed(address: str) -> str:
    """"ben+coc@example.org" as the mailbox it reaches: "ben@example.org"."""
    local, at, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0]}{at}{domain}" if "+" in local else address


def _as_written(m: StaffMember, part: str) -> str:
    """`part` (folded) as the member's name spells it: "Zoë", not "zoe"."""
    return next((w for w in m.name.split() if _words(w) == [part]), part)


def _as_a_name(part: str, text: str) -> bool:
    """Whether `text` writes `part` (a member's name part it holds) as a name. An
    ordinary word that is also a name ("will", "mark", "park": common_words) is one only
    with a capital ("Will", "WILL"), or in a text written without capitals; any
    other name part is a name however it is written ("ben"). A month next to a number
    ("3 May", "April 2027") is a date."""
    if part not in ORDINARY or _lower_case_writer(text):
        return True
    seen = False
    for m in re.finditer(rf"(?<![^\W_]){re.escape(part)}(?![^\W_])", text, re.IGNORECASE):
        seen = True
        if not m.group(0).islower() and not (part in MONTHS and _a_date(text, m)):
            return True
    return not seen  # written some other way ("Wíll"): a name, to be safe


def _a_date(text: str, m: re.Match[str]) -> bool:
    """A month next to a number: "3 May", "May 4th", "April 2027"."""
    return (_NUMBER_BEFORE.search(text, max(0, m.start() - 8), m.start()) is not None
            or _NUMBER_AFTER.match(text, m.end()) is not None)


_NUMBER_BEFORE = re.compile(r"\d[^\W\d_]{0,2}[\s,.]{1,3}$")
_NUMBER_AFTER = re.compile(r"[\s,.]{1,3}\d")


# Signs of a writer who does not capitalise: "i" for I, a sentence or a paragraph begun
# in lower case (a sentence after a word of three letters or more: not "e.g.", "p.m.").
_LOWER_I = re.compile(r"(?<![\w'’.-])i(?=\s|['’](?:m|ve|ll|d)\b)")
_LOWER_SENTENCE = re.compile(r"[.!?]\s+[a-z]")
_WORD_BEFORE = re.compile(r"(?<![^\W\d_])[^\W\d_]{3,}[.!?]*$")
_NOT_AN_END = frozenset({"etc", "approx", "incl"})
_LOWER_PARAGRAPH = re.compile(r"\n[ \t]*\n[ \t]*[a-z]")  # or the text below the subject


@lru_cache(maxsize=2)
def _lower_case_writer(text: str) -> bool:
    """Whether `text` is written without capitals, where a capital cannot tell a name
    from a word: no capital at all, "i" for I, or a sentence begun in lower case. A
    subject line or a signature footer with capitals does not change that."""
    if not any(c.isupper() for c in text) or _LOWER_I.search(text) is not None:
        return True
    first, _, rest = text.partition("\n")
    if rest.lstrip(" \t")[:1].islower() or _LOWER_PARAGRAPH.search(text) is not None:
        return True
    for m in _LOWER_SENTENCE.finditer(text):  # few in a text that capitalises
        word = _WORD_BEFORE.search(text, max(0, m.start() - 30), m.start() + 1)
        if word is not None and word.group(0).rstrip(".!?").lower() not in _NOT_AN_END:
            return True
    return False


def member_for(person: Person, roster: Roster) -> StaffMember | None:
    """The team member `person` (someone a command put on the case) is, if any."""
    if person.email:
        member = roster.by_email(person.email) or roster.by_email(_unplussed(person.email))
        if member is not None:
            return member
    words = set(_words(person.name))
    local = set(_words((person.email or "").rpartition("@")[0]))
    parts = unique_parts(roster)
    for m in roster.members:
        full = set(_words(m.name))
        if len(full) >= 2 and (full <= words or full <= local):
            return m
        mine = parts[m.email]
        if words and (words <= mine or (not person.email and words & mine)):
            return m
    return None


def seeing(roster: Roster, recused: tuple[str, ...]) -> list[StaffMember]:
    """The members not excluded from a case with `recused`."""
    gone = {r.lower() for r in recused}
    return [m for m in roster.members if not any(a in gone for a in _addresses(m))]


# ------------------------------------------------------------------ the case
def exclude_named(case: Case, emails: list[str]) -> Case:
    """`case` with the members of `emails` excluded because it names them."""
    new = [e for e in dict.fromkeys(emails) if e not in case.recused]
    return replace(case, recused=case.recused + tuple(new), named=case.named + tuple(new),
                   handlers=tuple(h for h in case.handlers if h not in new))


def include(case: Case, email: str) -> Case:
    """`case` with `email` brought back (#include approved)."""
    return replace(case, recused=tuple(r for r in case.recused if r != email),
                   named=tuple(n for n in case.named if n != email),
                   included=case.included + (() if email in case.included else (email,)))


@dataclass(frozen=True)
class Screened:
    """What checking new text (and people) against the roster did to a case."""

    case: Case
    excluded: tuple[Named, ...] = ()  # excluded just now
    everyone: tuple[Named, ...] = ()  # named, but they are every member who could see it
    to_contacts: bool = False  # so it goes to [process] conflict_contacts instead

    def also(self, case: Case, roster: Roster) -> Screened:
        """This screening, and the members the sender's commands then excluded from `case`
        (a report taken in person with `#accused` a member), for the same notice."""
        added = [roster.by_email(e) for e in case.named if e not in self.case.named]
        more = tuple(Named(m, "by a command in the mail that entered the report")
                     for m in added if m is not None)
        return replace(self, case=case, excluded=self.excluded + more)

    def notice(self) -> dict[str, Any] | None:
        """The `conflict` value of the staff mail's context: whom it names, and what
        cocmail did about it; None when it names nobody."""
        named = self.excluded or self.everyone
        if not named:
            return None
        return {"named": [{"name": n.member.name or n.member.email, "email": n.member.email,
                           "why": n.why} for n in named],
                "everyone": bool(self.everyone), "contacts": self.to_contacts}

    def audit(self, where: str) -> list[tuple[str, str]]:
        """(action, detail) audit entries: who was excluded, and why."""
        out = [("excluded", f"{n.member.name} <{n.member.email}>: {where} names them "
                            f"({n.why}); they are sent nothing about this case")
               for n in self.excluded]
        if self.to_contacts:
            out.append(("conflict contacts", f"{where} names every team member who could see "
                                             "it: sent to [process] conflict_contacts"))
        if self.everyone:
            out.append(("not excluded", f"{where} names every team member who could see it "
                        "and no [process] conflict_contacts is set: sent to them, warned"))
        return out


def screen(case: Case, text: str, roster: Roster, *, people: tuple[Person, ...] = (),
           skip: frozenset[str] = frozenset(), contacts: tuple[str, ...] = (),
           intake: bool = False, quoted: str = "",
           quoted_by: frozenset[str] = frozenset()) -> Screened:
    """Exclude the members `text` (or `people`) names, before any mail is addressed.

    `skip`: members not excluded by `text` (whoever wrote or forwarded the report: their
    own name or signature in it). Members #include brought back are not excluded again by
    text, only by a person put on the case. When the members named are all who could see
    the case, a new report (`intake`) with `contacts` set goes to them instead; otherwise
    nobody is excluded and the notice warns: a report is never left unread.
    `quoted`: the earlier mail a reply quotes (`earlier_mail`), where the members of
    `quoted_by` (those handling the case: their own signed reply quoted back names
    them) are not excluded.
    """
    gone = {e.lower() for e in case.recused}
    found: dict[str, Named] = {}
    skip = skip | gone | set(case.included)
    for n in named_in_text(text, roster, skip) + named_in_text(quoted, roster, skip | quoted_by):
        found.setdefault(n.member.email, n)
    for p in people:
        m = member_for(p, roster)
        if m is not None and m.email not in gone:
            found.setdefault(m.email, Named(m, f"as {ROLE_WORDS.get(p.role, p.role)} "
                                               f"({p.display()})"))
    if not found:
        return Screened(case)
    named = tuple(found.values())
    if seeing(roster, case.recused + tuple(found)):
        return Screened(exclude_named(case, list(found)), excluded=named)
    if intake and contacts:
        return Screened(exclude_named(case, list(found)), excluded=named, to_contacts=True)
    return Screened(case, everyone=named)


def earlier_mail(text: str) -> tuple[str, str]:
    """(what the sender wrote this time, the earlier mail their reply quotes): lines
    quoted with ">", and all below an Outlook header block or separator or a signature
    (core/replytext)."""
    lines = split_lines(text)
    cut = newest_cut(lines)
    fresh = [line for line in lines[:cut] if not is_quote(line)]
    earlier = [line for line in lines[:cut] if is_quote(line)] + lines[cut:]
    return "\n".join(fresh), "\n".join(earlier)


class NamesSender(ValueError):
    """A command would put its own sender on the case."""


def person_added(case: Case, p: Person, roster: Roster, sender: str
                 ) -> tuple[Case, str, list[tuple[str, str]]]:
    """A person a command puts on the case who is on the team is excluded at once, so that
    nothing the mail causes reaches them: the case, the words for the transcript line and
    the audit entries. NamesSender when it is the command's own sender."""
    member = member_for(p, roster)
    if member is not None and member.email == sender:
        raise NamesSender("this names you: a member the case names cannot run commands on "
                          "it; ask another member of the team to add it")
    s = screen(case, "", roster, people=(p,))
    named = s.excluded or s.everyone
    if not named:
        return case, "", []
    name = named[0].member.name
    if s.everyone:
        return case, f"; {name} is on the team but the last member who can see the case", \
            s.audit("the case")
    return s.case, (f"; {name} is on the team: now excluded from this case and sent nothing "
                    "about it"), s.audit("the case")


# Proposals about a member: never theirs to decide.
MEMBER_KINDS = (ProposalKind.RECUSE, ProposalKind.INCLUDE)


def concerned(proposals: list[Proposal] | tuple[Proposal, ...]) -> set[str]:
    """Members a waiting proposal is about: they decide nothing on the case meanwhile."""
    return {p.target for p in proposals if p.state == "waiting" and p.kind in MEMBER_KINDS}
