"""``shopsentinel serve``: the API, the scheduler and the evaluator in one process."""

from __future__ import annotations

from typing import Annotated

import typer

from shopsentinel.core.settings import Settings


def serve(
    host: Annotated[str | None, typer.Option(help="address to bind (default SHOPSENTINEL_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default SHOPSENTINEL_PORT or 8000)")] = None,
) -> None:
    """Run the service: ingest API, scheduled evaluation, alert manager. Docs at /docs."""
    import uvicorn

    from shopsentinel.app import create_app
    from shopsentinel.core.console import fail
    from shopsentinel.core.errors import InputError
    from shopsentinel.core.extras import MissingExtraError
    from shopsentinel.core.logs import configure_from_settings
    from shopsentinel.core.secrets import SecretKeyError

    settings = Settings()
    configure_from_settings(settings)  # before anything logs: one handler, redaction, request ids
    try:
        app = create_app(settings)
    except SecretKeyError as exc:  # the key cannot open the stored secrets: refuse to start, say why
        fail(exc, code=3)
    except ValueError as exc:  # e.g. a bootstrap token that is too short
        fail(exc, code=2)
    except InputError as exc:  # e.g. an invalid provisioning file: every problem, by file, line and field
        fail(exc, code=2)
    except MissingExtraError as exc:  # e.g. a PostgreSQL URL without shopsentinel[postgres]: name the extra
        fail(exc, code=2)
    # log_config=None: uvicorn's loggers propagate to our root handler; our access line (path without
    # the query string, where action links carry their token) replaces uvicorn's.
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_config=None,
                log_level=settings.log_level.lower(), access_log=False)


__all__ = ["serve"]
