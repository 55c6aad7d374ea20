"""The HTTP API (FastAPI): one router per resource under ``routes/``; schemas in ``schemas``."""
