PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean browser

# uv installs the same releases as pip in a third of the time (parallel downloads); pip is the fallback.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	{ $(BIN)/pip install -q uv && $(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'; } \
		|| $(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shopsentinel demo

lint: $(STAMP)
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
