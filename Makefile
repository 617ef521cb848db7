# `make lab` opens the lessons, `make test` runs every test.
# The steps live in ./dev (usable without make); this file only calls it.
# PYTHON chooses the interpreter that creates .venv: make test PYTHON=python3.12
# ARGS passes extra arguments on: make lab ARGS=--no-browser, make test ARGS='-k trace'

PYTHON ?= python3
export PYTHON

.PHONY: lab test tidy venv clean

lab test tidy clean:
	sh ./dev $@ $(ARGS)

venv: .venv/.installed

# The stamp target: make rebuilds it when pyproject.toml is newer; ./dev
# itself compares the checksum, so both ways in agree.
.venv/.installed: pyproject.toml
	sh ./dev venv
	touch $@
