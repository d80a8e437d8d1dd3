"""Mail sources: the IMAP IDLE watcher and the embedded SMTP listener."""
