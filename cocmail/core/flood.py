"""The circuit breaker: a flood of mail becomes one summary notice, not a flood of mail.

Why: 200 reports from 200 addresses at one domain in one pass used to send that domain
200 acknowledgements (backscatter, with a greeting the sender chose) and every member
200 notifications; 100 follow-ups on one case, 100 relays each. A CoC team cannot read
that, and a real report drowns in it.

What: when a mail arrives, the shell counts what arrived before it within the window
(`FloodRules.window`, 10 minutes by default): new reports from the same sending domain,
new reports from anywhere, follow-ups on the same case. Past a threshold the mail is
*held*: it is recorded exactly as always (a held report is a case, a held follow-up is
on its case; `cocmail cases list` / `cases show` show it, its audit says why), but it
sends nothing: no acknowledgement, no notification, no relay. The held mail is then
listed, per member, in one summary notice (`flood_summary`), due once the burst has
paused for `QUIET` or, for a flood that keeps going, once the oldest held mail is a
window old. The count slides with time, so the first report after the burst is handled
as usual: notified at once and acknowledged.

Acknowledgements to a domain are capped by the same count: a report is acknowledged
only when fewer than `per_domain` reports from its domain (and fewer than `overall`
in all) arrived in the window before it, so one domain gets at most `per_domain`
acknowledgements in any window.

Only mail whose sender is not an authenticated team member counts: a member entering
reports taken in person, or answering a case, is never held. Everything here is pure:
the shell passes the counts in (decide.Facts.flood) and the held mail in (HeldItem).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .case import Case
from .effects import AuditEntry, OutMail
from .env import Env
from .flood_rules import Arrival, FloodCounts, FloodRules
from .identity import Identity
from .intake import ROLE_WORDS, Decision
from .mail_contexts import FloodSummaryContext

# A burst that paused this long is over: its summary goes out.
QUIET = timedelta(minutes=2)
# At most this many held mails are listed one per line in a summary group; the rest are
# named by number only (a summary of 5,000 reports must stay a readable mail).
LISTED_PER_GROUP = 50
# Why a mail was held, for its audit entry and the summary.
HELD_WHY = {
    "domain": "more than {n} new reports from the sending domain within {w}",
    "all": "more than {n} new reports within {w}",
    "case": "more than {n} messages on this case within {w}",
}


def counts(identity: Identity, case_number: int) -> bool:
    """Does mail from this sender count toward a flood? Everyone's but an authenticated
    team member's (mail merely claiming a member's address counts)."""
    return identity.staff is None or not identity.authenticated_for(case_number)


def sender_domain(identity: Identity) -> str:
    """The sending domain, as counted: the From address's domain, lower-cased."""
    email = identity.address.email if identity.address else ""
    return email.rpartition("@")[2].lower()


def report_rule(c: FloodCounts, rules: FloodRules) -> str | None:
    """Which breaker holds a new report with these counts before it, if any."""
    if rules.per_domain and c.domain >= rules.per_domain:
        return "domain"
    if rules.overall and c.overall >= rules.overall:
        return "all"
    return None


def followup_rule(c: FloodCounts, rules: FloodRules) -> str | None:
    return "case" if rules.per_case and c.case >= rules.per_case else None


def _minutes(w: timedelta) -> str:
    n = int(w.total_seconds() // 60)
    return f"{n} minute{'' if n == 1 else 's'}"


def why_held(rule: str, rules: FloodRules) -> str:
    n = {"domain": rules.per_domain, "all": rules.overall, "case": rules.per_case}[rule]
    return HELD_WHY[rule].format(n=n, w=_minutes(rules.window))


def _hold(d: Decision, arrival: Arrival, rules: FloodRules) -> Decision:
    """`d` recorded as it is, its mail kept back for the summary notice."""
    assert arrival.held is not None
    case = d.case
    if case is not None and d.created:
        case = case.with_step("acknowledged", None)  # no acknowledgement went out
    audit = d.audit + (AuditEntry("held for a summary",
                                  f"{why_held(arrival.held, rules)}: no mail sent for it;"
                                  " staff get one summary notice for the burst"),)
    return replace(d, case=case, mails=(), audit=audit, arrival=arrival,
                   log=f"{d.log} (held for a flood summary)")


def on_new_case(d: Decision, c: FloodCounts, rules: FloodRules, identity: Identity
                ) -> Decision:
    """A new case: counted, and held when past a threshold."""
    if d.case is None or not counts(identity, d.case.number):
        return d
    arrival = Arrival("report", report_rule(c, rules))
    return replace(d, arrival=arrival) if arrival.held is None else _hold(d, arrival, rules)


FOLLOWUP_KINDS = ("followup", "auto", "bounce", "staff")


def sender_role(d: Decision, identity: Identity) -> str:
    """Who wrote a follow-up, as the summary names them: a role, never a name."""
    return role_on(d.case, identity, automatic=d.kind in ("auto", "bounce"))


def role_on(case: Case | None, identity: Identity, *, automatic: bool) -> str:
    """The sender's role on `case`, as the summary names it. Follow-ups on a case are
    counted per role: the reported person flooding the case does not hold back the
    reporter's next message."""
    if automatic:
        return "automatic mail"
    if identity.staff is not None:
        return "a team member's address, not authenticated"
    email = identity.address.email if identity.address else None
    role = case.role_of(email) if case is not None and email else None
    return f"the {ROLE_WORDS.get(role, role)}" if role else "someone not yet on the case"


def on_followup(d: Decision, c: FloodCounts, rules: FloodRules, identity: Identity
                ) -> Decision:
    """Mail on a case (not from an authenticated member): counted, held when past the
    case's threshold."""
    if d.case is None or d.kind not in FOLLOWUP_KINDS or not counts(identity, d.case.number):
        return d
    arrival = Arrival("followup", followup_rule(c, rules), sender_role(d, identity))
    return replace(d, arrival=arrival) if arrival.held is None else _hold(d, arrival, rules)


# ------------------------------------------------------------------ the summary


@dataclass(frozen=True)
class HeldItem:
    """One held mail waiting for the summary, as the shell loads it."""

    id: int
    kind: str  # report | followup
    held: str  # domain | all | case
    at: datetime
    case: Case
    domain: str = ""  # reports: the reporter's domain
    who: str = ""  # follow-ups: the sender's role on the case


def summary_due(items: list[HeldItem], rules: FloodRules, now: datetime) -> bool:
    """The burst paused for QUIET, or its oldest held mail is a window old."""
    if not items:
        return False
    return (now - max(i.at for i in items) >= QUIET
            or now - min(i.at for i in items) >= rules.window)


def _span(first: datetime, last: datetime, env: Env) -> str:
    """"at 2027-06-03 23:12", "from 2027-06-03 23:12 to 23:14" (local time)."""
    a, b = env.local(first), env.local(last)
    if a == b:
        return f"at {a}"
    return f"from {a} to {b[11:] if a[:10] == b[:10] else b}"


def _groups(items: list[HeldItem], env: Env) -> list[dict[str, object]]:
    """Held mail as the summary lists it: reports held by a domain's limit per domain,
    those held by the overall limit together (each line naming its domain), follow-ups
    per case."""
    groups: dict[tuple[str, str], list[HeldItem]] = {}
    for i in sorted(items, key=lambda i: (i.at, i.id)):
        if i.kind == "followup":
            key = ("followup", str(i.case.number))
        else:
            key = ("report", i.domain if i.held == "domain" else "*")
        groups.setdefault(key, []).append(i)
    out: list[dict[str, object]] = []
    for (kind, key), held in groups.items():
        numbers = list(dict.fromkeys(i.case.number for i in held))
        domains = sorted({i.domain for i in held})
        mixed = kind == "report" and key == "*" and len(domains) > 1
        senders: dict[str, int] = {}
        for i in held:
            senders[i.who or "someone"] = senders.get(i.who or "someone", 0) + 1
        out.append({
            "kind": kind, "case": held[0].case.number if kind == "followup" else None,
            "origin": f"{len(domains)} different domains" if mixed else domains[0],
            "why": why_held(held[0].held, env.flood), "count": len(held),
            "span": _span(held[0].at, held[-1].at, env), "cases": numbers,
            "listed": [{"case": i.case.number, "subject": i.case.subject,
                        "urgent": i.case.urgent, "domain": i.domain if mixed else ""}
                       for i in held[:LISTED_PER_GROUP]] if kind == "report" else [],
            "unlisted": numbers[LISTED_PER_GROUP:] if kind == "report" else [],
            "senders": [f"{who} ({n})" for who, n in senders.items()],
        })
    return out


def summary_mails(items: list[HeldItem], env: Env) -> tuple[OutMail, ...]:
    """One `flood_summary` per member, listing only the held mail of cases they may see:
    a member excluded from a case finds neither it nor a count that includes it, and a
    member who may see none of it gets nothing."""
    mails = []
    for address, role in env.staff_recipients(()):
        member = env.roster.by_email(address.email)
        emails = [address.email, *(member.aliases if member else ())]
        mine = [i for i in items if not any(i.case.is_recused(e) for e in emails)]
        if not mine:
            continue
        reports = [i for i in mine if i.kind == "report"]
        ctx = FloodSummaryContext(
            recipient_name=address.name, groups=_groups(mine, env),
            unacknowledged=sum(1 for i in reports
                               if i.case.step("acknowledged") is None
                               and i.case.reporter is not None))
        mails.append(OutMail(to=address, role=role, case=None, context=ctx))
    return tuple(mails)
