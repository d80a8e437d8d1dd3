"""Ordinary words that are also names ("will", "mark", "may", "grace", "park").

The conflict check (core/conflicts.py) counts one of these as a member's name only where
the text writes it as a name, with a capital ("Will", "WILL"), or where the text is
written without capitals (then it cannot tell a name from a word, and errs on the side
of exclusion). "I will come" does not exclude Will; "Will kept following me" does. A name
part not in this list ("ben", "okafor") counts however it is written.

Folded as the check folds (lower case, no accents). Adding a word here makes the check
less strict, for that word written in lower case only.
"""

from __future__ import annotations

ORDINARY = frozenset("""
al amber april art august autumn baker bank banks bay bell best bill bird black bob
branch bright brook brooks brown buck bud buddy bush cash chance chase cherry chip
chuck cliff cook cross crystal dale dash dawn day dean del dell den der di don dot
drew du duke early earl east eve faith fair field fields flower ford forest fox frank
frost gay gene glen gold golden good grace grant gray green grey guy hall hart hawk
heath heather hill holly honey hope hunter iris ivy jack jade jay jewel joy june
just king knight lake lamb lane law le lee light lily long love lucky mark marsh
mason may melody mercy miles mill miller moss nick noble north olive page park
pat patience pearl penny pier pierce pine pope post power price prince reed rich
river rivers rob rock rocky rose ruby rush rusty sage sandy scott shore short sky
small snow sol south spring star sterling stone storm strong sue summer sunny swan
tan ten ter van von ward wells west white will win winter wolf wood woods young
""".split())
# Months that are names: next to a number ("3 May", "April 2027") they are a date.
MONTHS = frozenset({"april", "may", "june", "august"})
