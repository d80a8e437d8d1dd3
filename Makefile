# The two set-up commands of the README. Both work on a fresh Debian machine.
VENV ?= .venv
export VENV

.PHONY: demo test test-slow lint bench clean

demo:            ## build the venv, install cocmail, run the walkthrough
	@scripts/bootstrap.sh
	$(VENV)/bin/cocmail demo

test:            ## install test deps (dovecot-imapd, postfix, chromium via apt), run lint and the suite
	@scripts/bootstrap.sh --test
	$(VENV)/bin/ruff check cocmail tests bench testsupport
	$(VENV)/bin/pytest -q

test-slow:       ## the fault-injection and backlog scenarios (marked slow)
	@scripts/bootstrap.sh --test
	$(VENV)/bin/pytest -q -m slow

bench:           ## every bench/ script, printing its figures
	@scripts/bootstrap.sh --test
	for b in bench/*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) cocmail-data .pytest_cache
