PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean browser

UV_VERSION := 0.13.10
LOCK_TXT := requirements/lock.txt

.PHONY: lock

# The environment is uv.lock, exactly (docs/OPERATIONS.md): uv $(UV_VERSION) syncs .venv to it with every
# extra the tests need, the project editable. If uv cannot run, pip installs the same pins from
# $(LOCK_TXT) (uv export of the lock) as constraints.
$(STAMP): pyproject.toml uv.lock $(LOCK_TXT)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	{ { $(BIN)/uv --version 2>/dev/null | grep -qx 'uv $(UV_VERSION)' || $(BIN)/python -m pip install -q 'uv==$(UV_VERSION)'; } \
		&& UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync -q --locked --extra dev --python $(BIN)/python; } \
		|| { echo 'uv sync failed: installing with pip from $(LOCK_TXT)' >&2; \
		     { $(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip -q; } \
		     && $(BIN)/python -m pip install -q -c $(LOCK_TXT) -e '.[dev]'; }
	touch $(STAMP)

# After editing dependencies in pyproject.toml: re-resolve uv.lock and re-export the pip constraints.
lock:
	$(BIN)/uv lock
	$(BIN)/uv export -q --frozen --all-extras --no-hashes --no-emit-project -o $(LOCK_TXT)

demo: $(STAMP)
	$(BIN)/shopsentinel demo

lint: $(STAMP)
	$(BIN)/uv lock --check
	$(BIN)/ruff check shopsentinel tests bench
	$(BIN)/mypy shopsentinel
	$(BIN)/lint-imports

# The browser tests drive Debian's chromium (never a downloaded browser); CJK fonts for readable screenshots.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; }

test: $(STAMP) lint browser
	$(BIN)/pytest -n 2 -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
