# Two commands do everything: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: live-assets bench-live run test lint typecheck package dist gallery card-images bench bench-timers bench-purge migrate key rotate-keys subject-export subject-erase data-map infra-check clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The Teams JavaScript library for the session tab, copied from npm into the app's static
# files at build time (the tab never loads it from a CDN; the copy is not committed).
TEAMS_JS := bot/sessions/static/teams-js.min.js
$(TEAMS_JS): $(NODE_STAMP)
	cp node_modules/@microsoft/teams-js/dist/umd/MicrosoftTeams.min.js $(TEAMS_JS)

live-assets: $(TEAMS_JS)

# A local .env with a fresh encryption key, so data survives restarts of `make run`.
.env: | $(STAMP)
	cp .env.example .env
	sed -i "s|^ENCRYPTION_KEYS=$$|ENCRYPTION_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')|" .env

migrate: $(STAMP) .env
	$(PY) -m bot.core.migrate

# Starts the bot on :3978 (SQLite by default) and the Microsoft 365 Agents Playground on :56150.
run: $(STAMP) $(NODE_STAMP) live-assets .env migrate
	$(PY) -m bot.run_with_playground

# The tests run on every core (pytest-xdist); PYTEST_ARGS="-n 0" runs them in one process.
test: $(STAMP) $(NODE_STAMP) live-assets lint typecheck infra-check
	$(PY) -m pytest -q -n auto $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# checkov pins dependencies that clash with the app's, so it has a virtual environment of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $(CHECKOV_STAMP)

# Scans infra/ (Bicep) offline; a failed check or a file it cannot parse fails the target.
# Skipped checks carry their reason in the Bicep (// checkov:skip=...).
infra-check: $(CHECKOV_STAMP)
	CKV_PARSE_ERROR_FAIL=true CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE \
		$(CHECKOV_VENV)/bin/checkov -d infra --framework bicep --quiet --compact --skip-download

package: $(STAMP)
	$(PY) -m manifest.pack build/appPackage.zip

# The deployable unit for App Service (README, "Deploying to Azure"): build/deploy.zip holds
# the wheel and a requirements.txt pinned to constraints.txt; the startup command is `python -m app`.
dist: $(STAMP) live-assets
	$(PY) infra/deploy_package.py build/deploy.zip

gallery: $(STAMP)
	$(PY) -m tests.support.gallery build/cards

# Every gallery card as a PNG in Teams' light, dark and high-contrast themes, in
# $(CARD_OUT)/<theme>/<card>.png (needs Chromium: docs/render_cards.py says what else).
# For the README: make card-images CARD_OUT=docs/images CARD_THEMES=light,dark
CARD_THEMES ?= all
CARD_OUT ?= build/card-images
card-images: $(STAMP) $(NODE_STAMP)
	$(PY) docs/render_cards.py --themes $(CARD_THEMES) --out $(CARD_OUT)

bench: $(STAMP)
	$(PY) bench/turns.py

# 1,000 sessions' stage timers on one instance: how late prompts fire, missed, doubled, memory.
bench-timers: $(STAMP)
	$(PY) bench/timers.py

# Pages following a session on one instance: how many get an update within a second.
bench-live: $(STAMP)
	$(PY) bench/live_pages.py

bench-purge: $(STAMP)
	$(PY) bench/purge.py

# The README's data map, printed afresh from bot/privacy/data_map.py.
data-map: $(STAMP)
	$(PY) -m bot.privacy.data_map README.md

# Prints a new encryption key for ENCRYPTION_KEYS.
key: $(STAMP)
	@$(PY) -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

# Re-encrypts everything with the newest key in ENCRYPTION_KEYS, so older keys can be removed
# (README, "Rotating the encryption key"). ROTATE_ARGS="--dry-run" only counts.
rotate-keys: $(STAMP)
	$(PY) -m bot.privacy.rotate $(ROTATE_ARGS)

# Everything stored about a person, as JSON: SUBJECT_ARGS="--person ID --email ADDRESS --out FILE".
subject-export: $(STAMP)
	@$(PY) -m bot.privacy.subjects export $(SUBJECT_ARGS)

# Erases or pseudonymises it (README, "Subject access and erasure requests"); --dry-run first.
subject-erase: $(STAMP)
	@$(PY) -m bot.privacy.subjects erase $(SUBJECT_ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules build .pytest_cache .mypy_cache .ruff_cache
