"""create_app: wiring only. Nothing connects or reads a file at import time."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from service import ops
from service.api import API_MODULES
from service.api.auth import begin_request
from service.api.errors import register_error_handlers
from service.api.request import MAX_INT_ID
from service.bootstrap import build_deps, check_migrated
from service.config import Settings
from service.deps import Deps
from service.vault.validation import load_reference_tables


def create_app(settings: Settings | None = None, deps: Deps | None = None) -> Flask:
    settings = settings or Settings.from_env()
    deps = deps or build_deps(settings, publish=_publisher(settings))
    check_migrated(deps.db)
    load_reference_tables()
    app = Flask(__name__, static_folder=None)
    # Before any route is added: a number the column cannot hold matches no route (a 404).
    app.url_map.converters.update(int=IntegerIdConverter, bigint=BigIntegerIdConverter)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["datasteward"] = deps
    app.before_request(begin_request)
    for module in API_MODULES:
        app.register_blueprint(importlib.import_module(module).blueprint)
    app.register_blueprint(importlib.import_module("service.web").blueprint)
    importlib.import_module("service.api.hardening").register_http_hardening(app)
    register_error_handlers(app)
    ops.init_app(app)
    return app


class IntegerIdConverter(IntegerConverter):
    """``<int:...>`` as an INTEGER column holds it: a larger number is no such URL, not a 500.

    The database refuses a number past its column's range with an error, which
    would otherwise surface as an internal error for something a user can type.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_INT_ID)
        super().__init__(map, *args, **kwargs)


class BigIntegerIdConverter(IntegerIdConverter):
    """``<bigint:...>`` for BIGINT columns (audit sequence numbers, checkpoints)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _publisher(settings: Settings):
    from service.jobs import celery_publisher

    return celery_publisher(settings.broker_url)
