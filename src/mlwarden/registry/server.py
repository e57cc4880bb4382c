"""``mlwarden registry serve``: the API on uvicorn, with JSON logs on stderr.

The registry is opened (migrated, staging swept, first-start token minted) before the socket is
bound, so ``/readyz`` answering means the schema is current.
"""

from __future__ import annotations

import logging
import sys

from mlwarden.registry.settings import RegistrySettings


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the registry's own logs; uvicorn's access log is replaced by ours."""
    from mlwarden.registry.api import JsonFormatter  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("mlwarden", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


def serve(settings: RegistrySettings) -> None:
    """Run until interrupted."""
    import uvicorn  # noqa: PLC0415

    from mlwarden.registry.api import create_app  # noqa: PLC0415

    configure_logging()
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def main() -> None:
    """``python -m mlwarden.registry.server``: serve with settings from the config file and environment."""
    from mlwarden.registry.settings import load_registry_settings  # noqa: PLC0415

    serve(load_registry_settings())


if __name__ == "__main__":
    main()
