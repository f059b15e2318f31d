# Punctual. Quick start: `make run` (the whole system) and `make test` (the whole suite).
# Both create .venv and install on first use; with DATABASE_URL/REDIS_URL unset they start
# embedded PostgreSQL and Redis under .data/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test test-rabbitmq lint fuzz soak bench stop clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/punctual dev

# The whole suite on Redis, then the broker-dependent slice (beat firing, outage and shutdown, worker
# destinations, the e2e trigger, metrics) on RabbitMQ, each session in its own vhost. That second
# run skips, saying why, when nothing listens on 127.0.0.1:5672.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	PUNCTUAL_TEST_BROKER=rabbitmq $(BIN)/python -m pytest -m broker $(PYTEST_ARGS)

# Every test on RabbitMQ instead of Redis.
test-rabbitmq: install
	PUNCTUAL_TEST_BROKER=rabbitmq $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check api beat workers shared tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Long property runs: the cron engine against its oracle, and the OpenAPI fuzz with 1,000 cases per
# operation and 1,000 stateful sequences (about half an hour; -s prints the counts).
fuzz: install
	HYPOTHESIS_PROFILE=fuzz PUNCTUAL_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest -s -o timeout=7200 \
		tests/unit/test_cron_property.py tests/integration/api/test_openapi_fuzz.py $(PYTEST_ARGS)

# Minutes of real beats being killed and restarted (PUNCTUAL_SOAK_MINUTES, default 10).
soak: install
	$(BIN)/python -m pytest -m soak -s tests/e2e/test_soak.py $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/cron_bench.py
	$(BIN)/python bench/beat_bench.py --quick
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/delivery_bench.py

stop:
	$(BIN)/python -c 'from pathlib import Path; from api.embedded import stop_postgres; stop_postgres(Path(".data/pg"))'

clean: stop
	rm -rf $(VENV) .data
