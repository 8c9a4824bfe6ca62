# The README's two commands:  `make lab` (open the lessons)  and  `make test` (the whole test suite).
# Both create .venv if needed and install teachkit with the CPU torch wheel pinned in constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.teachkit-installed
PIP    := $(BIN)/python -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install lab test test-fast notebooks assign grade bench browser-deps clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[test]"
	@# k-diffusion, the Heun peer in tests/test_ode_samplers.py: without its dependencies, whose torchvision does
	@# not load beside the CPU torch wheel (the test needs only its sampling.py, torchdiffeq and torchsde)
	$(PIP) install -q --no-deps -c constraints.txt k-diffusion==0.1.1.post1 torchdiffeq==0.2.5 torchsde==0.2.6 trampoline==0.1.2
	@touch $(STAMP)

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
	$(BIN)/python -m pytest tests
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

bench: install
	$(BIN)/python -m teachkit bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
