#!/usr/bin/env bash
# Sets up everything cocmail needs on a fresh Debian machine: a venv with cocmail
# installed (editable), and with --test the test tools and Debian's dovecot-imapd and
# postfix (the Postfix tests start private instances; the system's Postfix is left unset).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "cocmail needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    apt_install python3-venv
    "$PYTHON" -m venv "$VENV"
  fi
fi
stamp="$VENV/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-$want_test"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  if [ $want_test = 1 ]; then
    "$VENV/bin/python" -m pip install -q -e '.[test]'
  else
    "$VENV/bin/python" -m pip install -q -e .
  fi
  touch "$stamp"
fi
if [ $want_test = 1 ] && [ ! -x /usr/sbin/dovecot ]; then
  echo "installing Debian's dovecot-imapd for the IMAP tests" >&2
  apt_install dovecot-imapd
fi
if [ $want_test = 1 ] && [ ! -x /usr/sbin/postfix ]; then
  echo "installing Debian's postfix for the Postfix recipe tests" >&2
  # Answer postinst's question: no configuration, so no system Postfix gets set up or started.
  echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
  apt_install postfix
fi
if [ $want_test = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the transparency report's browser test" >&2
  apt_install chromium
fi
