"""A calendar invitation (text/calendar) as a few lines staff can read.

Calendar programs send an invitation as a text/calendar part, often with no other text:
the event's title, time, place and description are all the words there are. They are
shown under a marker line among the attached text (read by staff, never run as
commands), not as the raw iCalendar source. Pure; never raises.
"""

from __future__ import annotations

import re

CALENDAR_MARKER = "---------- Calendar invitation (as sent) ----------"
# The properties shown, in this order, with the label staff read.
_SHOWN = (("SUMMARY", "Title"), ("DTSTART", "Starts"), ("DTEND", "Ends"),
          ("LOCATION", "Where"), ("ORGANIZER", "Organizer"), ("DESCRIPTION", "Description"))
_MAX_EVENTS = 5
_MAX_VALUE = 4000
_UNFOLD = re.compile(r"\r?\n[ \t]")
_ESCAPED = re.compile(r"\\([nN,;\\])")


def calendar_text(ics: str) -> str:
    """The invitation's events as labelled lines; "" when it holds none."""
    text = _UNFOLD.sub("", ics[:200_000])
    events: list[list[str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        upper = line.upper()
        if upper.startswith("BEGIN:VEVENT"):
            current = {}
        elif upper.startswith("END:VEVENT") and current is not None:
            events.append([f"{label}: {current[key]}" for key, label in _SHOWN
                           if current.get(key)])
            current = None
            if len(events) >= _MAX_EVENTS:
                break
        elif current is not None and ":" in line:
            name, _, value = line.partition(":")
            key = name.split(";", 1)[0].strip().upper()
            if key in dict(_SHOWN) and key not in current:
                current[key] = _value(key, value)
    shown = ["\n".join(e) for e in events if e]
    return "\n\n".join(f"{CALENDAR_MARKER}\n{e}" for e in shown)


def _value(key: str, value: str) -> str:
    value = _ESCAPED.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)
    if key == "ORGANIZER" and value.lower().startswith("mailto:"):
        value = value[7:]
    return value.strip()[:_MAX_VALUE]
