"""The mail commands, each declared once (registry.py collects them).

One module per family: people.py (who is on the case), facts.py (what happened and what
was decided), notifying.py (mail to the people concerned and the DSF), approval.py (the
second member's #approve / #reject), conversation.py (#note, #reply), case_state.py
(#urgent, #status, #close, #reopen), preview.py and meta.py (#help, #confirm, #end).
work.py holds what a handler works on; run.py runs a block (`apply_block`).
Adding a command is one `MailCommand(...)` in its family's `COMMANDS`, a README line and
its tests: the parser, `#help`, the staff cheat-sheet and the README check read the
registry. This package's __init__ imports nothing, so the parser can read the registry.
"""
