# The README's two commands:  `make lab` (open the lessons)  and  `make test` (the whole test suite).
# Both create .venv if needed and install exactly the locked set: requirements/lock.txt (every package, pinned,
# sha256-checked, for Linux x86_64 / CPU / Python 3.11, torch the CPU wheel) and requirements/no-deps.txt (test
# peers without their dependencies), then teachkit itself (editable). `make lock` regenerates both locks from
# pyproject.toml's ranges; LOCKED=0 installs from those ranges instead (other platforms and Pythons).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.teachkit-installed
PIP    := $(BIN)/python -m pip
LOCKED ?= 1
LOCKS  := requirements/lock.txt requirements/no-deps.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install lab test test-fast notebooks assign grade bench browser-deps lock site clean

$(STAMP): pyproject.toml constraints.txt $(LOCKS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(LOCKED),1)
	$(PIP) install -q --require-hashes --no-deps $(addprefix -r ,$(LOCKS))
	$(PIP) install -q --no-deps --no-build-isolation -e .
else
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[test]"
	$(PIP) install -q --no-deps -c constraints.txt -r requirements/no-deps.in
endif
	@touch $(STAMP)

## Regenerate the locks from pyproject.toml, requirements/lock.in, requirements/no-deps.in and constraints.txt with uv
## (pinned below, installed into .lock-tools/), and requirements/colab.txt (the lock's torch-free versions, for
## the lessons' Colab cell). Existing pins are kept where the ranges allow (uv reads the old lock).
## LOCK_TORCH: where the CPU torch wheel is found (here a local folder; elsewhere e.g.
##   LOCK_TORCH="--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match")
UV_VERSION ?= 0.13.8
LOCK_TORCH ?= --find-links /opt/wheels
UV         := .lock-tools/bin/uv
UV_TARGET  := --python-version 3.11 --python-platform x86_64-manylinux_2_28
LOCK_CMD   := uv pip compile pyproject.toml requirements/lock.in --extra test -c constraints.txt --generate-hashes $(UV_TARGET) $(LOCK_TORCH) --no-header -o requirements/lock.txt
NODEPS_CMD := uv pip compile requirements/no-deps.in --no-deps --generate-hashes $(UV_TARGET) --no-header -o requirements/no-deps.txt
COLAB_CMD  := uv pip compile pyproject.toml --extra coursework -c requirements/lock.txt --override requirements/colab-overrides.txt --python-version 3.12 --python-platform x86_64-manylinux_2_28 --no-annotate --no-header -o requirements/colab.txt
lock:
	@test -x $(UV) || { $(PYTHON) -m venv .lock-tools && .lock-tools/bin/python -m pip install -q uv==$(UV_VERSION); }
	.lock-tools/bin/$(LOCK_CMD) -q
	.lock-tools/bin/$(NODEPS_CMD) -q
	.lock-tools/bin/$(COLAB_CMD) -q
	.lock-tools/bin/python requirements/lockfile.py header requirements/lock.txt --which lock --tool "uv $(UV_VERSION)" --command "$(LOCK_CMD)"
	.lock-tools/bin/python requirements/lockfile.py header requirements/no-deps.txt --which no-deps --tool "uv $(UV_VERSION)" --command "$(NODEPS_CMD)"
	.lock-tools/bin/python requirements/lockfile.py header requirements/colab.txt --which colab --tool "uv $(UV_VERSION)" --command "$(COLAB_CMD)"

install: $(STAMP)

## Open the lessons in JupyterLab (add ARGS="--allow-root --no-browser" where needed, e.g. as root in a container)
lab: install
	$(BIN)/jupyter lab notebooks/ $(ARGS)

## Debian's chromium for the real-browser widget tests (installed when missing and apt-get is usable)
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium missing and apt-get not usable as this user: browser tests will skip"; fi; \
	fi

## Unit, property, widget, browser tests, then every notebook under nbval, one at a time.
## TEACHKIT_THREADS=1: the stored outputs were made with one torch thread (teachkit.setup reads it).
test: install browser-deps
	TEACHKIT_LOCKED=$(LOCKED) $(BIN)/python -m pytest tests
	TEACHKIT_THREADS=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

test-fast: install
	$(BIN)/python -m pytest tests -m "not browser and not slow"

## Re-execute every notebook in place from a clean kernel (what CI then reproduces)
notebooks: install
	TEACHKIT_THREADS=1 $(BIN)/python -m teachkit notebooks --execute

## Coursework: handouts and autograder zips in coursework/ (otter assign), then grade SUBMISSIONS=folder
assign: install
	$(BIN)/python -m teachkit assign --out coursework

SUBMISSIONS ?= submissions
grade: install
	$(BIN)/python -m teachkit grade $(SUBMISSIONS) --autograder coursework/autograder --out grades.csv

## The lessons as a static website in build/site (open build/site/index.html); the lessons with explorers run
## once for the explorers' players, kept in build/site-players until their code or teachkit changes
site: install
	TEACHKIT_THREADS=1 $(BIN)/python -m teachkit.website --out build/site --cache build/site-players

bench: install
	$(BIN)/python -m teachkit bench

clean:
	rm -rf $(VENV) .lock-tools .pytest_cache .hypothesis build *.egg-info
