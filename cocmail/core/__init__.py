"""The pure core: everything that decides what happens to a message.

Nothing in this package does IO: no sqlite, no sockets, no files, no config loading and
no clock. The shell (store, inbox, outbox, daemon, cli, app) gathers the facts, passes
them in (the time arrives in `Env.now`), and commits what the core returns.
tests/test_layout.py fails when a module here imports the shell or an IO module.
"""
