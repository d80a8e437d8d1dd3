"""Commands added through the registry (core/mail_commands/), through the real daemon:
what staff and `cocmail` show once a command has run."""

from __future__ import annotations

import json
from pathlib import Path

from testsupport.apps import Desk
from testsupport.helpers import body_of

WARNING = "WARNING: named in earlier cases"


def test_a_removed_reported_person_leaves_the_earlier_case_warning_and_the_attendee_check(
        desk: Desk, tmp_path: Path) -> None:
    first = desk.report("Eve <eve@a.example>", "He shouted at me at the party.\n")
    assert desk.staff("ana@example.org", first,
                      "#accused Dan Doe <dan@speaker.example>\n#accused Max Mistake\n"
                      "#action Warned\n#outcome warning\n#close\n") == "done"
    attendees = tmp_path / "attendees.csv"
    attendees.write_text("name,email\nDan Doe,dan@speaker.example\nMax Mistake,\n",
                         encoding="utf-8")
    before = desk.cli("check-attendees", str(attendees))
    assert "Dan Doe" in before and "Max Mistake" in before
    desk.new()

    # Max was named by mistake: the team takes him off the case.
    assert desk.staff("ben@example.org", first,
                      "#reopen\n#remove accused max mistake\n#close\n") == "done"
    transcript = next(m for m in desk.new() if "ben@" in str(m["To"]))
    assert "accused removed: Max Mistake" in body_of(transcript)

    after = desk.cli("check-attendees", str(attendees))
    assert "Dan Doe" in after and "Max Mistake" not in after
    second = desk.report("Zoe <zoe@a.example>", "Someone was rude at lunch.\n")
    desk.new()
    desk.staff("ana@example.org", second, "#accused Max Mistake\n#accused Dan Doe\n")
    text = body_of(next(m for m in desk.new() if "ana@" in str(m["To"])))
    assert f"{WARNING} #{first}" in text  # Dan is still remembered
    lines = [line for line in text.splitlines() if "accused added: Max Mistake" in line]
    assert lines and all(WARNING not in line for line in lines)

    shown = json.loads(desk.cli("cases", "show", str(first), "--json"))
    assert [p["name"] for p in shown["accused"]] == ["Dan Doe"]
    assert any(a["action"] == "remove" and a["detail"] == "accused max mistake"
               for a in shown["audit"])
