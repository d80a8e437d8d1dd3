"""The shell around the pure core: one stored inbound message -> one committed decision.

raw (already durable) -> parse -> de-duplicate -> screen -> identify -> match ->
decide (pure) -> compose -> ONE transaction: case, people, messages, audit, outbox,
inbound marked done. Anything that raises is counted; the third failure quarantines
the message and tells staff. Nothing here decides what a message means.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .config import Config
from .core.compose import Attachment, Composed, Composer
from .core.effects import AUTO_NOTICE_SUBJECT, OutMail
from .core.env import Env, History, NoHistory
from .core.identity import arrival_path, identify
from .core.intake import Decision, HeldEntry, continue_case, open_case, unmatched_automatic
from .core.matching import match_case
from .core.message import MessageError, body_sha256, parse_message
from .core.model import Address, ParsedMessage, Roster
from .core.screening import bounced_message_ids, screen
from .core.tokens import token_from_address, token_from_message_id
from .history import StoreHistory
from .outbox import redact_addresses
from .render import Renderer
from .store import Store, iso, utcnow

log = logging.getLogger("cocmail.pipeline")
# Characters of an exception's text kept on the inbound row (`quarantine list` shows it):
# the error's first lines, not whatever a hostile message made it quote.
FAILURE_CHARS = 500
# Characters of a #note kept in the audit log: a note is a few lines; the mail that
# carried it is on file in full.
NOTE_CHARS = 2000
# What the team sent the reporter, the person affected and the reported person.
CORRESPONDENCE_OUT = ("ack", "reporter_reply", "victim_decision", "accused_complaint",
                      "harasser_response")


def human_size(n: int) -> str:
    """Sizes for staff: MB with one decimal, KB below a megabyte."""
    if n >= 1024 * 1024:
        mb = n / (1024 * 1024)
        return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"
    return f"{max(n // 1024, 1)} KB" if n >= 1024 else f"{n} bytes"



def env_from_config(cfg: Config, roster: Roster, now: datetime,
                    history: History | None = None) -> Env:
    """The core's view of the world: the config's values, the roster and the time."""
    return Env(event=cfg.event.name, event_ends=cfg.event.ends, tz=cfg.event.tz,
               inbox=cfg.inbox.address, dsf=cfg.dsf.address, appeal=cfg.appeal.contact,
               roster=roster, now=now, history=history or NoHistory(),
               ack_limit=cfg.inbox.ack_limit_per_day,
               second_approval=cfg.process.second_approval)

class _Index:
    """matching.CaseIndex over the store."""

    def __init__(self, store: Store):
        self.store = store

    def case_for_message_ids(self, mids: tuple[str, ...]) -> int | None:
        return self.store.case_for_message_ids(mids)

    def case_exists(self, number: int) -> bool:
        return self.store.case_exists(number)

    def is_on_case(self, number: int, email: str) -> bool:
        case = self.store.load_case(number)
        return case is not None and case.role_of(email) is not None


class Pipeline:
    def __init__(self, cfg: Config, store: Store, secret: bytes,
                 clock: Callable[[], datetime] = utcnow, renderer: Renderer | None = None):
        self.cfg = cfg
        self.store = store
        self.secret = secret
        self.clock = clock
        self.roster = store.roster(cfg.staff)
        self.renderer = renderer or Renderer(cfg.templates.dir)
        self.composer = Composer(secret=secret, renderer=self.renderer, inbox=cfg.inbox.address,
                                 tag=cfg.inbox.subject_tag, event=cfg.event.name,
                                 plus_addressing=cfg.inbox.plus_addressing)
        self.history = StoreHistory(store)

    def env(self) -> Env:
        return env_from_config(self.cfg, self.roster, self.clock(), self.history)

    # ------------------------------------------------------------ processing
    def process_pending(self, progress: Callable[[int], None] | None = None) -> int:
        done = 0
        while True:
            ids = self.store.pending_inbound(limit=500)
            if not ids:
                return done
            for inbound_id in ids:
                self.process(inbound_id)
                done += 1
                if progress:
                    progress(done)

    def process(self, inbound_id: int) -> str:
        row = self.store.inbound(inbound_id)
        if row is None or row["state"] != "pending":
            return row["state"] if row else "missing"
        try:
            return self._process(inbound_id, row)
        except Exception as e:  # noqa: BLE001 - poison mail must never stop the daemon
            reason = f"{type(e).__name__}: {e}"
            # An exception's text may quote what it choked on (an address, a line of
            # the body): logs get it with addresses replaced, the traceback too.
            log.warning("inbound %s failed: %s", inbound_id, redact_addresses(reason))
            if log.isEnabledFor(logging.DEBUG):
                log.debug("inbound %s: %s", inbound_id,
                          redact_addresses(traceback.format_exc()).rstrip())
            if self.store.record_failure(inbound_id, reason[:FAILURE_CHARS]):
                self._notify_quarantine(inbound_id, reason)
                return "quarantined"
            return "pending"

    def _process(self, inbound_id: int, row: dict[str, Any]) -> str:
        raw: bytes = row["raw"] or b""
        if len(raw) > self.cfg.inbox.max_message_bytes:
            reason = (f"message is {human_size(len(raw))}, over the "
                      f"{human_size(self.cfg.inbox.max_message_bytes)} cap")
            return self._quarantine(inbound_id, reason)
        try:
            msg = parse_message(raw)
        except MessageError as e:
            return self._quarantine(inbound_id, str(e))
        body_sha = body_sha256(raw)
        if self.store.seen_before(inbound_id, msg.message_id, body_sha, msg.raw_sha256):
            with self.store.tx() as c:
                return self._claim(c, inbound_id, msg, body_sha) or "duplicate"

        env = self.env()
        screening = screen(msg, self.cfg.inbox.address)
        identity = identify(msg, self.roster, self.secret, inbox_address=self.cfg.inbox.address,
                            trusted_authserv_ids=self.cfg.security.trusted_authserv_ids,
                            plus_addressing=self.cfg.inbox.plus_addressing,
                            arrived_via=arrival_path(row["source"]),
                            authres_via=self.cfg.security.authentication_results_via)
        thread_tokens = tuple(t for t in (token_from_message_id(self.secret, m)
                                          for m in msg.thread_ids()) if t)
        if screening.bounce:
            thread_tokens += tuple(t for t in (token_from_message_id(self.secret, m)
                                               for m in bounced_message_ids(raw)) if t)
        address_tokens: tuple = ()
        if self.cfg.inbox.plus_addressing:
            address_tokens = tuple(t for t in (
                token_from_address(self.secret, a, self.cfg.inbox.address)
                for a in msg.recipient_addresses()) if t)

        def decide(conn: Any | None) -> tuple[Decision, list[Composed], Any]:
            # Matched and loaded again when decided again inside the transaction: another
            # process may have opened this thread's case or changed it meanwhile.
            match = match_case(msg, thread_tokens=thread_tokens,
                               address_tokens=address_tokens, index=_Index(self.store),
                               tag=self.cfg.inbox.subject_tag,
                               sender_is_staff=identity.staff is not None)
            case = self.store.load_case(match.case) if match.case is not None else None
            if case is None and (screening.bounce or screening.loop):
                decision = unmatched_automatic(msg, screening)
            elif case is None:
                number = self.store.next_case_number(conn)
                acks = 0
                if identity.address is not None:
                    acks = self.store.acks_since(identity.address.email,
                                                 env.now - timedelta(days=1))
                decision = open_case(msg, number, env, identity, screening, acks)
            else:
                held = self._held_entry(identity, case.number)
                noticed = frozenset[str]()
                if screening.automatic or screening.bounce:
                    noticed = self.store.noticed_since(case.number, AUTO_NOTICE_SUBJECT,
                                                       env.day_start())
                decision = continue_case(msg, case, env, identity, screening, held,
                                         quoted=thread_tokens + address_tokens,
                                         noticed_today=noticed,
                                         proposals=self.store.proposals(case.number))
            return decision, [self.compose(m, env.now) for m in decision.mails], case

        # Decided and composed before the write transaction, which then holds SQLite's
        # write lock only for the inserts: the courier (another connection) marks each
        # mail sent in between. What the decision read is checked again inside; should
        # another process have opened a case or used the held commands meanwhile, it is
        # decided again there.
        decision, composed, seen = decide(None)
        with self.store.tx() as c:
            taken = self._claim(c, inbound_id, msg, body_sha)
            if taken is not None:
                return taken
            if not self._still_valid(c, decision, seen):
                decision, composed, _ = decide(c)
            self._commit(c, inbound_id, msg, decision, identity.address, env, composed)
        log.info("inbound %s %s: %s", inbound_id, msg.message_id or "(no Message-ID)",
                 decision.log)
        return decision.state

    def _claim(self, c: Any, inbound_id: int, msg: ParsedMessage, body_sha: str) -> str | None:
        """Inside the committing transaction: may this process record this message?

        Several processes may process mail at once (the daemon, `ingest` from an MTA,
        `run --once`, `quarantine release`), each deciding outside the write lock. Only
        the one whose transaction finds the row still pending, and no other copy of
        the message already processed, records its decision: None means go ahead;
        otherwise the state to report, and nothing of this decision is written.
        """
        state = self.store.inbound_state(c, inbound_id)
        if state != "pending":
            return state or "missing"
        earlier = self.store.seen_before(inbound_id, msg.message_id, body_sha, msg.raw_sha256)
        if earlier is None:
            return None
        self.store.mark_inbound(c, inbound_id, "duplicate", error=f"copy of #{earlier}",
                                drop_raw=True)
        log.info("inbound %s is a copy of %s (%s): skipped", inbound_id, earlier,
                 msg.message_id or "(no Message-ID)")
        return "duplicate"

    def _quarantine(self, inbound_id: int, reason: str) -> str:
        with self.store.tx() as c:
            claimed = self.store.quarantine_now(inbound_id, reason, c)
        if not claimed:
            return self.store.inbound_state(None, inbound_id) or "missing"
        self._notify_quarantine(inbound_id, reason)
        return "quarantined"

    def _still_valid(self, c: Any, decision: Decision, seen: Any) -> bool:
        if seen is not None and self.store.load_case(seen.number) != seen:
            return False  # another process changed the case since it was read
        if decision.created and decision.case is not None:
            if self.store.next_case_number(c) != decision.case.number:
                return False
        if decision.confirmed:
            row = c.execute("SELECT used FROM held WHERE nonce=?", (decision.confirmed,)
                            ).fetchone()
            if row is None or row[0] is not None:
                return False
        for nonce, _, _ in decision.decided:
            row = c.execute("SELECT state FROM proposals WHERE nonce=?", (nonce,)).fetchone()
            if row is None or row[0] != "waiting":
                return False  # another process approved or rejected it meanwhile
        return True

    def _held_entry(self, identity: Any, case_number: int) -> HeldEntry | None:
        if identity.staff is None:
            return None
        for token in identity.tokens:
            if token.staff_sid != identity.staff.sid or token.case != case_number:
                continue
            rows = self.store.query("SELECT * FROM held WHERE nonce=? AND case_number=? AND"
                                    " used IS NULL", (token.nonce, case_number))
            if rows:
                return HeldEntry(rows[0]["nonce"], rows[0]["commands"], rows[0]["body"] or "")
        return None

    def _commit(self, c: Any, inbound_id: int, msg: ParsedMessage, decision: Decision,
                sender: Address | None, env: Env, composed: list[Composed]) -> None:
        case = decision.case
        actor = decision.actor or (sender.email if sender else "unknown sender")
        number = case.number if case else None
        if case is not None:
            self.store.save_case(c, case)
            self.store.add_message(c, case.number, "in", sender=actor,
                                   recipients=[a.email for a in msg.to + msg.cc],
                                   subject=msg.subject, date=msg.date or env.now,
                                   message_id=msg.message_id, kind=decision.kind,
                                   body=decision.note if decision.kind == "staff" and
                                   decision.note is not None else msg.full_text,
                                   inbound_id=inbound_id)
        for entry in decision.audit:
            self.store.audit(c, number, actor, entry.action, entry.detail, msg.message_id,
                             at=env.now)
        if decision.note and case is not None:
            self.store.audit(c, number, actor, "note", decision.note[:NOTE_CHARS],
                             msg.message_id, at=env.now)
        if decision.held is not None and case is not None:
            h = decision.held
            c.execute("INSERT INTO held(nonce, case_number, staff_email, commands, body,"
                      " inbound_id, created) VALUES (?,?,?,?,?,?,?)",
                      (h.nonce, case.number, h.staff_email, h.commands, h.body, inbound_id,
                       iso(env.now)))
        if decision.confirmed:
            c.execute("UPDATE held SET used=? WHERE nonce=?", (iso(env.now), decision.confirmed))
        for p in decision.proposals:
            self.store.add_proposal(c, p, inbound_id)
        for nonce, state, reason in decision.decided:
            if not self.store.decide_proposal(c, nonce, state, actor, env.now, reason):
                raise RuntimeError(f"proposal {nonce} was decided twice")
        if decision.cancel_mail_to and case is not None:
            self.store.cancel_pending(c, case.number, decision.cancel_mail_to)
        for mail, done in zip(decision.mails, composed, strict=True):
            self.enqueue(c, mail, env, done)
        self.store.mark_inbound(c, inbound_id, decision.state, case_number=number,
                                subject=msg.subject, sender=actor)

    def compose(self, mail: OutMail, now: datetime) -> Composed:
        """The composed mail; a DSF report with the case's correspondence when configured."""
        attachments: tuple[Attachment, ...] = ()
        if mail.kind == "dsf_report" and mail.case is not None \
                and self.cfg.dsf.attach_correspondence:
            attachments = self.correspondence(mail.case)
        return self.composer.compose(mail, now, attachments)

    def correspondence(self, number: int) -> tuple[Attachment, ...]:
        """The case's mail with the reporter, the person affected and the reported person:
        what they wrote (their stored mail as it arrived) and what the team sent them.
        Never staff notes, relays or transcripts."""
        case = self.store.load_case(number)
        if case is None:
            return ()
        people = {p.email.lower() for p in case.people() if p.email and p.role != "witness"}
        out: list[Attachment] = []
        rows = self.store.query(
            "SELECT m.direction, m.sender, m.kind, m.body, m.date, m.recipients, i.raw"
            " FROM messages m LEFT JOIN inbound i ON i.id = m.inbound_id"
            " WHERE m.case_number=? ORDER BY m.id", (number,))
        for n, r in enumerate(rows, 1):
            if r["direction"] == "in":
                if r["kind"] not in ("report", "followup") \
                        or (r["sender"] or "").lower() not in people:
                    continue
                if r["raw"]:
                    out.append(Attachment(f"{n:02d}-from-{r['sender']}.eml", raw=r["raw"]))
                else:
                    out.append(Attachment(f"{n:02d}-from-{r['sender']}.txt", text=r["body"] or ""))
            elif r["kind"] in CORRESPONDENCE_OUT:
                to = ", ".join(json.loads(r["recipients"] or "[]"))
                out.append(Attachment(f"{n:02d}-to-{to}.txt",
                                      text=f"To: {to}\nDate: {r['date']}\n\n{r['body'] or ''}"))
        return tuple(out)

    def enqueue(self, c: Any, mail: OutMail, env: Env, composed: Composed | None = None) -> int:
        """Queue `mail` (composed now, unless it was already) inside transaction `c`."""
        composed = composed or self.compose(mail, env.now)
        oid = self.store.enqueue(c, case_number=mail.case, kind=mail.kind, role=mail.role,
                                 message_id=composed.message_id[1:-1], sender=composed.sender,
                                 recipients=composed.recipients, subject=composed.subject,
                                 raw=composed.raw, not_before=mail.not_before, now=env.now)
        if mail.case is not None:
            self.store.add_message(c, mail.case, "out", sender=composed.sender,
                                   recipients=composed.recipients, subject=composed.subject,
                                   date=env.now, message_id=composed.message_id[1:-1],
                                   kind=mail.kind, body=composed.body, outbox_id=oid)
        return oid

    # ------------------------------------------------------------ staff notices
    def staff_notice(self, kind: str, context: dict[str, Any], case: int | None) -> None:
        """Queue one notice per staff member (not recused from `case`)."""
        env = self.env()
        recused: tuple[str, ...] = ()
        if case is not None:
            loaded = self.store.load_case(case)
            recused = loaded.recused if loaded else ()
        with self.store.tx() as c:
            for address, role in env.staff_recipients(recused):
                self.enqueue(c, OutMail(kind, address, role, case, context), env)

    def _notify_quarantine(self, inbound_id: int, reason: str) -> None:
        row = self.store.inbound(inbound_id) or {}
        log.warning("inbound %s quarantined: %s", inbound_id, redact_addresses(reason))
        self.staff_notice("quarantined", {"item_id": inbound_id, "reason": reason,
                                          "subject": row.get("subject") or "(unknown)",
                                          "sender": row.get("sender") or "(unknown)"}, None)


ROLE_NAMES = {"r": "the reporter", "v": "the person affected", "a": "the reported person",
              "d": "the DSF",
              "w": "a witness", "x": "someone"}


def role_name(role: str | None) -> str:
    if role and role.startswith("s"):
        return "a staff member"
    return ROLE_NAMES.get(role or "", "someone")


def delivery_failed_notice(pipeline: Pipeline, c: Any, row: dict[str, Any], error: str) -> None:
    """Outbox.on_failed: tell staff (inside the failing transaction) that a mail bounced."""
    env = pipeline.env()
    case = pipeline.store.load_case(row["case_number"]) if row["case_number"] else None
    recused = case.recused if case else ()
    for address, role in env.staff_recipients(recused):
        pipeline.enqueue(c, OutMail("delivery_failed", address, role, row["case_number"],
                                    {"recipient_role": role_name(row["role"]),
                                     "subject": row["subject"] or "",
                                     "error": error}), env)
