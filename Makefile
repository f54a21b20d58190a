# The compendium's commands. Each target sets the environment up first (uv + the committed lock file).
#   make reproduce   regenerate figures/ and tables/ (default `synthetic` profile)
#   make test        unit tests + notebook checks (nbval)
#   make lab         JupyterLab on the compendium
#   make bench       speed and memory benchmarks
#   make site        static HTML of the executed notebooks with an index of every artefact (site/index.html)
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
# Real datasets: a mirror folder beside the clone is used when present (tests skip their real-data part otherwise).
MIRROR ?= $(abspath $(wildcard ../shared/data))
export LEUKUTILS_DATA_MIRROR ?= $(MIRROR)
PROFILE ?= synthetic
NOTEBOOKS := $(wildcard notebooks/[0-9][0-9]_*.ipynb)
ARGS ?=

.PHONY: setup reproduce test unit notebooks lab bench site clean

.tools/bin/uv:
	@echo "uv not found: installing it into .tools/ (a private virtual environment)"
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet uv

$(VENV)/.ready: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	$(PY) -m ipykernel install --sys-prefix --name leukemia-xai --display-name "Python (leukemia-xai)" >/dev/null
	touch $@

setup: $(VENV)/.ready

reproduce: setup
	$(PY) -m leukutils reproduce --profile $(PROFILE) $(ARGS)

# Unit tests and notebook checks in one pytest run. Re-executed notebooks write to a scratch folder,
# never over the committed outputs. pytest's exit code 5 (nothing collected) is a failure.
test: setup
	@scratch=$$(mktemp -d); \
	LEUKUTILS_OUTPUT_DIR=$$scratch $(PY) -m pytest tests $(NOTEBOOKS) --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with nbval_sanitize.cfg -p no:cacheprovider $(ARGS); rc=$$?; rm -rf $$scratch; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

unit: setup
	$(PY) -m pytest tests $(ARGS)

notebooks: setup
	@scratch=$$(mktemp -d); LEUKUTILS_OUTPUT_DIR=$$scratch $(PY) -m pytest $(NOTEBOOKS) --nbval-lax \
	  --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg $(ARGS); rc=$$?; rm -rf $$scratch; exit $$rc

# JupyterLab refuses to start as root (as in most containers) unless told --allow-root.
lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=. $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

# Renders the committed notebooks (default run and results/<profile>/); executes nothing.
site: setup
	$(PY) -m leukutils.site

bench: setup
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf runs data/cache .pytest_cache
