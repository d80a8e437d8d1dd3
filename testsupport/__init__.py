"""What the tests and the bench scripts share, so that neither imports the other.

- `servers`: a throw-away Dovecot, a scriptable aiosmtpd sink, an OAuth2 token authority.
- `postfix`: a private Postfix, and cocmail installed the way the README deploys it.
- `helpers`: a config in a temp dir, raw mail builders, reading the spool.
- `apps`: an App opened on such a config (`opened_app`), a frozen `Clock`, and `Desk`, an
  installation driven only through mail.
- `process`: the real `cocmail` command run as a subprocess.
- `faults`: the SIGKILL/SMTP/IMAP fault scenario of bench/faults.py and tests/test_crash.py.

No pytest here: tests/conftest.py wraps these in fixtures. Not part of the wheel
(pyproject.toml lists the packages it ships, and this is not one of them).
"""
