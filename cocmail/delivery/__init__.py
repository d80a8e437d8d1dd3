"""Delivering the outbox: what leaves cocmail, when, and how.

* `outbox` - the delivery loop: claims due rows, sends them, records the outcome;
* `retry` - claims (which process sends a row) and backoff (when a retry is due);
* `transports` - SMTP and the spool directory, and the errors that say whose fault a
  failed send is (the mail's, the server's, or cocmail's own set-up);
* `courier` - the forked process that runs the loop beside the worker.

Mail is queued by the pipeline (the store's outbox table); nothing here composes mail.
"""
