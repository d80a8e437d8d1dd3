"""Cases and what is kept with them: their people, messages and audit trail, the
events they are filed under, their anonymous counts (`stats`), and their expunging.

Every function takes the connection first: a write inside the caller's transaction
(`Store.tx`, `Store.write`), a read through `Store.read` or inside a transaction.
Times come in as arguments; nothing here reads the clock.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from typing import Any

from ..clock import iso, parse_iso
from ..core.case import STEPS, Case, Person
from .connection import required_time, rows, value
from .migrations import STATS_SYNC
from .sealed import (
    EMAIL,
    MID,
    NAME,
    SEALED,
    blind,
    case_key,
    case_key_ids,
    destroy_keys,
    forget_case_key,
    row_key,
    seal,
)


def next_case_number(conn: sqlite3.Connection) -> int:
    """The number the next case gets."""
    return int(value(conn, "SELECT coalesce(max(number), 0) + 1 FROM cases"))


def case_for_message_ids(conn: sqlite3.Connection, mids: tuple[str, ...]) -> int | None:
    """The case a mail with one of these Message-IDs was recorded on (the first found)."""
    for mid in mids:
        n = value(conn, "SELECT case_number FROM messages WHERE mid_bi=? LIMIT 1",
                  (blind(conn, MID, mid),))
        if n is not None:
            return int(n)
    return None


def case_exists(conn: sqlite3.Connection, number: int) -> bool:
    return value(conn, "SELECT 1 FROM cases WHERE number=? AND purged IS NULL",
                 (number,)) is not None


def load_case(conn: sqlite3.Connection, number: int) -> Case | None:
    found = rows(conn, "SELECT * FROM cases WHERE number=?", (number,))
    if not found:
        return None
    people = rows(conn, "SELECT role, name, email, until FROM people WHERE case_number=?"
                  " ORDER BY id", (number,))
    return _case_from_row(found[0], people)


def load_cases(conn: sqlite3.Connection, *, include_closed: bool = True,
               events: list[str] | None = None, since: datetime | None = None
               ) -> list[Case]:
    """Live cases in number order, loaded in two queries whatever their count.

    Open only unless `include_closed`; of these events only (None: every event);
    with `since`, only those a digest of the period from `since` can show: open,
    opened or closed since then, or decided and not yet reported to the DSF.
    """
    where, params = _live_cases_where(include_closed, events, since)
    found = rows(conn, f"SELECT * FROM cases WHERE {where} ORDER BY number", params)
    people: dict[int, list[dict[str, Any]]] = {}
    for p in rows(conn, "SELECT case_number, role, name, email, until FROM people WHERE"
                  f" case_number IN (SELECT number FROM cases WHERE {where})"
                  " ORDER BY id", params):
        people.setdefault(p["case_number"], []).append(p)
    return [_case_from_row(r, people.get(r["number"], [])) for r in found]


def case_numbers(conn: sqlite3.Connection, include_closed: bool = False) -> list[int]:
    sql = "SELECT number FROM cases WHERE purged IS NULL"
    if not include_closed:
        sql += " AND status='open'"
    return [r["number"] for r in rows(conn, sql + " ORDER BY number")]


def save_case(conn: sqlite3.Connection, case: Case) -> None:
    from ..core.people import normalise_name

    row = {
        "number": case.number, "status": case.status, "opened": iso(case.opened),
        "subject": case.subject, "urgent": int(case.urgent),
        "reporter_anonymous": int(case.reporter_anonymous),
        "victim_is_reporter": int(case.victim_is_reporter),
        "when_text": case.when, "where_text": case.where, "summary": case.summary,
        "action": case.action, "outcome": case.outcome, "others": case.others,
        "received_by": case.received_by, "handlers": json.dumps(list(case.handlers)),
        "recused": json.dumps(list(case.recused)), "dsf_hold_until": iso(case.dsf_hold_until),
        "named": json.dumps(list(case.named)), "included": json.dumps(list(case.included)),
        "report_text": case.report_text, "root_message_id": case.root_message_id,
        "last_activity": iso(case.last_activity),
        "last_staff_action": iso(case.last_staff_action),
        "event": case.event, "public_summary": case.public_summary,
        "accused_side": case.accused_side, "forged_sender": case.forged_sender,
        "response": case.response, "victim_declined": int(case.victim_declined),
        "language": case.language or None,
        "victim_language": case.victim_language or None,
        "accused_language": case.accused_language or None,
    }
    for s, at in case.steps:
        row[s] = iso(at)
    kid = case_key(conn, case.number)
    for column in SEALED["cases"]:
        row[column] = seal(conn, kid, row[column])
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    updates = ", ".join(f"{k}=excluded.{k}" for k in row if k != "number")
    conn.execute(f"INSERT INTO cases ({cols}) VALUES ({marks}) ON CONFLICT(number)"
                 f" DO UPDATE SET {updates}", tuple(row.values()))
    conn.execute("DELETE FROM people WHERE case_number=?", (case.number,))
    people = list(case.people())
    if case.victim and not case.victim_is_reporter and case.victim not in people:
        people.append(case.victim)
    for p in people:
        norm = normalise_name(p.name)
        conn.execute("INSERT INTO people(case_number, role, name, email, norm_name,"
                     " name_words, until, email_bi, name_bi) VALUES (?,?,?,?,?,?,?,?,?)",
                     (case.number, p.role, seal(conn, kid, p.name), seal(conn, kid, p.email),
                      seal(conn, kid, norm), len(norm.split()) if norm else None,
                      p.until.isoformat() if p.until else None,
                      *_indexes(conn, p.role, p.email, norm)))
    # Its anonymous counts, in the same transaction: `stats` never lags behind.
    conn.execute(STATS_SYNC.format(only=" AND c.number=?"), (case.number,))


def _indexes(conn: sqlite3.Connection, role: str, email: str | None, norm: str
             ) -> tuple[str | None, str | None]:
    """The blind indexes of a person on a case: only a reported person's, which the
    repeat-offender look-ups need; a reporter's or a witness's would only link cases."""
    if role != "accused":
        return None, None
    return (blind(conn, EMAIL, email.lower() if email else None),
            blind(conn, NAME, norm or None))


def audit(conn: sqlite3.Connection, case_number: int | None, actor: str, action: str,
          detail: str = "", message_id: str | None = None, *, at: datetime) -> None:
    kid = row_key(conn, case_number)
    conn.execute("INSERT INTO audit(at, case_number, actor, action, detail, message_id)"
                 " VALUES (?,?,?,?,?,?)",
                 (iso(at), case_number, seal(conn, kid, actor), action,
                  seal(conn, kid, detail), seal(conn, kid, message_id)))


def add_message(conn: sqlite3.Connection, case_number: int, direction: str, *,
                sender: str, recipients: list[str], subject: str, date: datetime | None,
                message_id: str | None, kind: str, body: str,
                inbound_id: int | None = None, outbox_id: int | None = None) -> None:
    kid = case_key(conn, case_number)
    conn.execute(
        "INSERT INTO messages(case_number, direction, sender, recipients, subject, date,"
        " message_id, kind, body, inbound_id, outbox_id, mid_bi)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (case_number, direction, seal(conn, kid, sender),
         seal(conn, kid, json.dumps(recipients)), seal(conn, kid, subject), iso(date),
         seal(conn, kid, message_id), kind, seal(conn, kid, body), inbound_id, outbox_id,
         blind(conn, MID, message_id)))


def case_correspondence(conn: sqlite3.Connection, number: int) -> list[dict[str, Any]]:
    """The case's messages, oldest first, each with the raw mail it arrived as."""
    return rows(conn, "SELECT m.direction, m.sender, m.kind, m.body, m.date, m.recipients,"
                " i.raw FROM messages m LEFT JOIN inbound i ON i.id = m.inbound_id"
                " WHERE m.case_number=? ORDER BY m.id", (number,))


def staff_mail_bodies(conn: sqlite3.Connection, case_number: int) -> list[str]:
    """The bodies of the mail cocmail queued for staff members on a case."""
    found = rows(conn, "SELECT m.body FROM messages m JOIN outbox o ON o.id=m.outbox_id"
                 " WHERE m.case_number=? AND m.direction='out' AND o.role LIKE 's%'",
                 (case_number,))
    return [r["body"] or "" for r in found]


def case_messages(conn: sqlite3.Connection, case_number: int) -> list[dict[str, Any]]:
    """The case's mail in and out (headers only, no bodies), oldest first."""
    return rows(conn, "SELECT direction, sender, recipients, subject, date, message_id,"
                " kind FROM messages WHERE case_number=? ORDER BY id", (case_number,))


def case_audit(conn: sqlite3.Connection, case_number: int) -> list[dict[str, Any]]:
    """The case's audit trail, oldest first."""
    return rows(conn, "SELECT at, actor, action, detail FROM audit WHERE case_number=?"
                " ORDER BY id", (case_number,))


def purged_at(conn: sqlite3.Connection, case_number: int) -> str | None:
    """When the case was expunged (ISO time), None while it is whole."""
    return value(conn, "SELECT purged FROM cases WHERE number=?", (case_number,))


# ------------------------------------------------------------ events and counts
def file_cases_under(conn: sqlite3.Connection, event: dict[str, Any], now: datetime) -> None:
    """Record the configured event (its facts as of now), and give it every case
    that has none: those opened before cases had events (schema 3)."""
    conn.execute("INSERT INTO events(name, starts, ends, attendees_in_person,"
                 " attendees_online, reporting_channels, first_seen)"
                 " VALUES (:name, :starts, :ends, :attendees_in_person,"
                 " :attendees_online, :reporting_channels, :first_seen)"
                 " ON CONFLICT(name) DO UPDATE SET starts=excluded.starts,"
                 " ends=excluded.ends, attendees_in_person=excluded.attendees_in_person,"
                 " attendees_online=excluded.attendees_online,"
                 " reporting_channels=excluded.reporting_channels",
                 {**event, "first_seen": iso(now)})
    conn.execute("UPDATE cases SET event=? WHERE event IS NULL", (event["name"],))
    conn.execute("UPDATE stats SET event=? WHERE event IS NULL", (event["name"],))


def events(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every event cocmail has filed cases under, oldest first."""
    return rows(conn, "SELECT * FROM events ORDER BY coalesce(starts, first_seen), name")


def stats_rows(conn: sqlite3.Connection, events: list[str] | None) -> list[dict[str, Any]]:
    """The anonymous per-case counts, of these events (None: all)."""
    sql = "SELECT event, opened, outcome, people_named, closed FROM stats"
    if events is None:
        return rows(conn, sql + " ORDER BY opened")
    marks = ",".join("?" for _ in events) or "NULL"
    return rows(conn, sql + f" WHERE event IN ({marks}) ORDER BY opened", tuple(events))


def refresh_stats(conn: sqlite3.Connection) -> None:
    """Bring every live case's anonymous counts into `stats` (which purges never
    touch). Each save of a case does this for its case; retention calls it once more
    before a purge, and the bench after filling cases in."""
    conn.execute(STATS_SYNC.format(only=""))


# ------------------------------------------------------------ expunging (retention)
def case_mail_ids(conn: sqlite3.Connection, case_number: int) -> tuple[list[str], list[str]]:
    """(Message-IDs of the mail that came in on the case, of the mail it recorded)."""
    inbound = [r[0] for r in conn.execute(
        "SELECT message_id FROM inbound WHERE case_number=? AND message_id IS NOT NULL",
        (case_number,))]
    recorded = [r[0] for r in conn.execute(
        "SELECT message_id FROM messages WHERE case_number=? AND message_id IS NOT NULL",
        (case_number,))]
    return inbound, recorded


def mail_naming_earlier_cases(conn: sqlite3.Connection, case_number: int
                              ) -> list[tuple[int, str | None, int | None, bytes | None,
                                              str | None]]:
    """(message id, body, outbox id, raw, kind) of other cases' outgoing mail that
    may carry an earlier-case warning. Read whole and looked at here: a sealed body
    cannot be searched by SQL (a purge's cost, not a report's)."""
    found = conn.execute(
        "SELECT m.id, m.body, m.outbox_id, o.raw, o.kind FROM messages m"
        " LEFT JOIN outbox o ON o.id=m.outbox_id WHERE m.direction='out' AND"
        " m.case_number<>?", (case_number,)).fetchall()
    return [r for r in found if r[1] and "earlier cases" in r[1].lower()]  # as LIKE did


def rewrite_message(conn: sqlite3.Connection, message_id: int, body: str) -> None:
    number = value(conn, "SELECT case_number FROM messages WHERE id=?", (message_id,))
    conn.execute("UPDATE messages SET body=? WHERE id=?",
                 (seal(conn, case_key(conn, number), body), message_id))


def expunge_case(conn: sqlite3.Connection, case_number: int, inbound_ids: list[str],
                 now: datetime) -> None:
    """Remove every name, address and text of the case; keep number, dates, outcome.

    `inbound_ids`: the Message-IDs of its incoming mail, whose duplicate copies are
    stored without a case. Its keys are destroyed first (crypto-shredding): every copy
    of what they sealed, in old backups too, can no longer be read."""
    mids = [blind(conn, MID, m) or "" for m in inbound_ids]
    destroy_keys(conn, case_key_ids(conn, case_number, mids))
    forget_case_key(conn, case_number)
    conn.execute("DELETE FROM people WHERE case_number=?", (case_number,))
    conn.execute("DELETE FROM messages WHERE case_number=?", (case_number,))
    conn.execute("DELETE FROM held WHERE case_number=?", (case_number,))
    conn.execute("DELETE FROM proposals WHERE case_number=?", (case_number,))
    conn.execute("DELETE FROM arrivals WHERE case_number=?", (case_number,))
    conn.execute("UPDATE audit SET actor='(expunged)', detail=NULL, message_id=NULL"
                 " WHERE case_number=?", (case_number,))
    conn.execute("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL, message_id=NULL,"
                 " mid_bi=NULL, error=NULL WHERE case_number=?", (case_number,))
    conn.executemany("UPDATE inbound SET raw=NULL, subject=NULL, sender=NULL,"
                     " message_id=NULL, mid_bi=NULL, error=NULL WHERE case_number IS NULL"
                     " AND mid_bi=?", [(m,) for m in mids])
    # Mail still waiting would go out with nothing in it: it is cancelled, not sent.
    conn.execute("UPDATE outbox SET raw=NULL, recipients='[]', mailbox=NULL, subject=NULL,"
                 " sender='',"
                 " last_error=NULL, state=CASE WHEN state='pending' THEN 'cancelled'"
                 " ELSE state END WHERE case_number=?", (case_number,))
    conn.execute("UPDATE cases SET subject=NULL, when_text=NULL, where_text=NULL,"
                 " summary=NULL, action=NULL, others=NULL, received_by=NULL,"
                 " handlers='[]', recused='[]', named='[]', included='[]',"
                 " report_text=NULL, root_message_id=NULL, accused_side=NULL,"
                 " forged_sender=NULL, response=NULL, public_summary=NULL,"
                 " purged=? WHERE number=?", (iso(now), case_number))


def _case_from_row(r: dict[str, Any], people: list[dict[str, Any]]) -> Case:
    """A Case from its `cases` row and its `people` rows (in id order)."""
    def of(role: str) -> tuple[Person, ...]:
        return tuple(Person(role, p["name"] or "", p["email"],
                            date.fromisoformat(p["until"]) if p["until"] else None)
                     for p in people if p["role"] == role)

    reporter = of("reporter")
    victim = of("victim")
    return Case(
        number=r["number"], opened=required_time(r["opened"], f"opening of case {r['number']}"),
        status=r["status"],
        subject=r["subject"] or "", urgent=bool(r["urgent"]),
        reporter=reporter[0] if reporter else None,
        reporter_anonymous=bool(r["reporter_anonymous"]),
        victim=victim[0] if victim else None,
        victim_is_reporter=bool(r["victim_is_reporter"]),
        accused=of("accused"), witnesses=of("witness"),
        when=r["when_text"], where=r["where_text"], summary=r["summary"],
        action=r["action"], outcome=r["outcome"], others=r["others"],
        received_by=r["received_by"], handlers=tuple(json.loads(r["handlers"])),
        recused=tuple(json.loads(r["recused"])),
        named=tuple(json.loads(r["named"])), included=tuple(json.loads(r["included"])),
        steps=tuple((s, parse_iso(r[s])) for s in STEPS),
        dsf_hold_until=parse_iso(r["dsf_hold_until"]), report_text=r["report_text"] or "",
        root_message_id=r["root_message_id"], last_activity=parse_iso(r["last_activity"]),
        last_staff_action=parse_iso(r["last_staff_action"]),
        event=r["event"], public_summary=r["public_summary"],
        accused_side=r["accused_side"], forged_sender=r["forged_sender"],
        response=r["response"], victim_declined=bool(r["victim_declined"]),
        language=r["language"] or "", victim_language=r["victim_language"] or "",
        accused_language=r["accused_language"] or "",
    )


def _live_cases_where(include_closed: bool, events: list[str] | None,
                      since: datetime | None) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its parameters) of load_cases."""
    where, params = ["purged IS NULL"], []
    if not include_closed:
        where.append("status='open'")
    if events is not None:
        where.append(f"event IN ({','.join('?' for _ in events) or 'NULL'})")
        params += events
    if since is not None:
        # A superset of what digest_context shows: seconds are truncated, so a case of
        # the first second of the period is loaded and the digest itself decides.
        # One indexed look-up per reason (migration 7); an OR of them would read every case.
        where.append("number IN (SELECT number FROM cases WHERE status='open'"
                     " UNION SELECT number FROM cases WHERE opened>=?"
                     " UNION SELECT number FROM cases WHERE closed>=?"
                     " UNION SELECT number FROM cases WHERE decision IS NOT NULL"
                     " AND dsf_reported IS NULL)")
        params += [iso(since), iso(since)]
    return " AND ".join(where), tuple(params)
