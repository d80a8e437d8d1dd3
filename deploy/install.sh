#!/bin/sh
# deploy/install.sh: install or upgrade cocmail on a Debian server, as README.md's
# "Deployment" describes it. Run as root from a checkout (it reads deploy/ and
# config.example.toml), with the wheel built by `python3 -m pip wheel --no-deps -w dist .`:
#
#   deploy/install.sh dist/cocmail-<version>-py3-none-any.whl
#
# Safe to run again (an upgrade is the same command with the new wheel): it creates
# what is missing, sets owners and modes again, and never overwrites your
# cocmail.toml, secrets.env or Postfix alias file. It does not start or restart the
# service, and does not change Postfix's own configuration: the README says when.
#
# --root DIR installs under DIR instead of / (for tests; no systemctl then).
# PYTHON=/path/to/python3 makes the venv with that Python (default: Debian's
# /usr/bin/python3; it must be one the cocmail user may run).
set -eu

ROOT=
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=${2%/}; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        -*) echo "install.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [ $# -ne 1 ]; then
    echo "usage: deploy/install.sh [--root DIR] dist/cocmail-<version>-py3-none-any.whl" >&2
    exit 2
fi
WHEEL=$1
[ -f "$WHEEL" ] || { echo "install.sh: no wheel at $WHEEL" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run it as root" >&2; exit 1; }
CHECKOUT=$(cd "$(dirname "$0")/.." && pwd)
USER_NAME=cocmail
ETC=$ROOT/etc/cocmail
STATE=$ROOT/var/lib/cocmail
# The Postfix alias file (recipe 1): outside /etc/postfix, so `postfix check` has no
# owner to warn about, and owned by cocmail, because local(8) runs an alias's command
# as the owner of the alias database.
ALIASES_DIR=$ROOT/var/lib/cocmail-postfix
VENV=$ROOT/opt/cocmail/venv
UNIT=$ROOT/etc/systemd/system/cocmail.service
# The Python the venv is made with (PYTHON=... to choose another one every user may run).
PYTHON=${PYTHON:-/usr/bin/python3}

say() { echo "install.sh: $*"; }

# 1. The system user: made once; an existing one (e.g. from an earlier run) is kept.
if getent passwd "$USER_NAME" >/dev/null; then
    say "user $USER_NAME exists"
else
    useradd --system --home-dir /var/lib/cocmail --shell /usr/sbin/nologin "$USER_NAME"
    say "created the system user $USER_NAME"
fi

# 2. Directories, owners and modes (set again on every run).
install -d -m 0755 "$ROOT/etc" "$ROOT/var/lib" "$ROOT/opt/cocmail" "$(dirname "$UNIT")"
install -d -m 0750 -o root -g "$USER_NAME" "$ETC"
install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$STATE"
install -d -m 0755 -o "$USER_NAME" -g "$USER_NAME" "$ALIASES_DIR"

# 3. The venv and cocmail in it: a new version replaces the old, the same one stays.
# It is made with Debian's Python, not whatever `python3` root's PATH finds first: a
# Python under /root (pyenv, conda) is one the cocmail user may not run. A venv the
# service user cannot run (made that way by hand or by an earlier install.sh) is made
# again; it holds nothing but installed code.
runs_as_user() {
    runuser -u "$USER_NAME" -- "$VENV/bin/python" -c '' 2>/dev/null
}
if [ ! -x "$PYTHON" ]; then
    echo "install.sh: no Python at $PYTHON (apt-get install python3 python3-venv, or PYTHON=/path/to/python3)" >&2
    exit 1
fi
if [ -x "$VENV/bin/python" ] && ! runs_as_user; then
    say "the venv $VENV uses a Python the user $USER_NAME cannot run ($(readlink -f "$VENV/bin/python")): making it again with $PYTHON"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    say "created the venv $VENV"
fi
if ! runs_as_user; then
    echo "install.sh: the user $USER_NAME cannot run $VENV/bin/python ($(readlink -f "$VENV/bin/python")); run install.sh with PYTHON= naming a Python every user may run" >&2
    exit 1
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$WHEEL"
# A wheel built from a newer checkout between two releases has the same version, and
# pip would keep the old code ("Requirement already satisfied"): cocmail itself is
# always put in again (its dependencies stay as the line above left them).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall \
    --no-deps "$WHEEL"
say "installed $("$VENV/bin/cocmail" --version)"

# 4. Config and secrets: copied once, never overwritten; owner and mode set each time.
if [ ! -e "$ETC/cocmail.toml" ]; then
    sed 's|^dir = "cocmail-data" |dir = "/var/lib/cocmail"   |' \
        "$CHECKOUT/config.example.toml" > "$ETC/cocmail.toml"
    say "wrote $ETC/cocmail.toml from config.example.toml: edit it"
fi
if [ ! -e "$ETC/secrets.env" ]; then
    cp "$CHECKOUT/deploy/secrets.env.example" "$ETC/secrets.env"
    say "wrote $ETC/secrets.env: edit it"
fi
chown root:"$USER_NAME" "$ETC/cocmail.toml" "$ETC/secrets.env"
chmod 0640 "$ETC/cocmail.toml" "$ETC/secrets.env"

# 5. The alias file for Postfix recipe 1 (harmless when another recipe is used).
if [ ! -e "$ALIASES_DIR/aliases" ]; then
    printf '%s\n' '# cocmail: Postfix recipe 1 (README.md); the local part is your inbox address'"'"'s' \
        'conduct: "|/opt/cocmail/venv/bin/cocmail --config /etc/cocmail/cocmail.toml ingest -"' \
        > "$ALIASES_DIR/aliases"
    say "wrote $ALIASES_DIR/aliases"
fi
chown "$USER_NAME":"$USER_NAME" "$ALIASES_DIR/aliases"
chmod 0644 "$ALIASES_DIR/aliases"

# 6. The unit; systemd is told when it changed. Enabling and starting is yours to do,
# once the config passes `cocmail check`.
if ! cmp -s "$CHECKOUT/deploy/cocmail.service" "$UNIT"; then
    install -m 0644 "$CHECKOUT/deploy/cocmail.service" "$UNIT"
    say "installed $UNIT"
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
    fi
fi

say "done. Next: edit $ETC/cocmail.toml and $ETC/secrets.env, then"
say "  runuser -u cocmail -- $VENV/bin/cocmail --config $ETC/cocmail.toml check --env-file $ETC/secrets.env"
say "  systemctl enable --now cocmail   (after an upgrade: systemctl restart cocmail)"
