"""What cocmail takes for a mail address: one pattern for every place that finds or checks one.

Finding: the addresses a report writes (conflicts of interest, repeat offenders), the
ones public text must not carry as links, the ones a log line must not show. Checking:
an address a staff command gives (`#add Name <addr>`) or the config sets. One pattern,
so that an address the team can add is one the conflict check finds in a report, and
one the logs hide.

The local part is word characters of any script and `. + ' -` (plus addressing,
o'brien@...): what people write. RFC 5322 allows rarer specials too (`! # $ % & * / = ?`
...), but in running text those are far more often the punctuation around an address
(`**ana@example.org**`, `|ana@example.org|`) than part of it. The domain is two or more
dot-separated labels, each beginning and ending with a letter or digit of any script
(internationalised domains), at most 63 characters long (RFC 1035).
"""

from __future__ import annotations

import re

_LOCAL = r"[\w.+'-]+"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
# For a larger pattern that must recognise an address among other things.
ADDRESS_PATTERN = rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+"
ADDRESS = re.compile(ADDRESS_PATTERN)


def is_address(text: str) -> bool:
    """`text` is one address and nothing else."""
    return ADDRESS.fullmatch(text) is not None
