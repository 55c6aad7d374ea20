# ShopSentinel: one image for every role (serve, worker, scheduler); compose.yaml runs them.
# Installs exactly uv.lock (the same pins as `make test`), with the extras a shared deployment needs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 PATH=/opt/venv/bin:$PATH
WORKDIR /app

RUN pip install 'uv==0.13.10'
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project --no-editable --extra postgres --extra workers
COPY shopsentinel ./shopsentinel
RUN uv sync --locked --no-editable --extra postgres --extra workers

# Never root: the service needs no privilege, and its state lives in PostgreSQL.
RUN useradd --create-home --uid 10001 shopsentinel
USER shopsentinel
ENV HOME=/home/shopsentinel SHOPSENTINEL_HOST=0.0.0.0 SHOPSENTINEL_PORT=8000
EXPOSE 8000

# Liveness of the API role (worker and scheduler disable it in compose.yaml).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status != 200)"]

ENTRYPOINT ["shopsentinel"]
CMD ["serve"]
