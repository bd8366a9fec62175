"""The collector's HTTP face (aiohttp): routes, authentication, body limits, metrics.

Routes: ``POST /v1/events``, ``GET /v1/schemas``, ``GET /v1/schemas/{name}``,
``GET /healthz``, ``GET /readyz``, ``GET /metrics``. Status codes and error codes are
listed in ``docs/ingest.md``; every error answer is JSON ``{"error", "message"}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any

import orjson
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from shoppulse.ingest.collector import Collector
from shoppulse.ingest.cors import cors_middleware
from shoppulse.ingest.encoding import decode_body
from shoppulse.ingest.exceptions import RequestRefused
from shoppulse.ingest.metrics import CONTENT_TYPE
from shoppulse.ingest.results import response_body, status_code
from shoppulse.ingest.tokens import Tokens
from shoppulse.schemas.jsonschema import event_schemas

log = logging.getLogger(__name__)


def _json(
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=content_type, headers=headers)


def _refused(exc: RequestRefused, headers: dict[str, str] | None = None) -> web.Response:
    return _json(exc.as_dict(), exc.status, headers)


class _Routes:
    def __init__(self, collector: Collector, tokens: Tokens | None) -> None:
        self.collector = collector
        self.tokens = tokens
        self.schemas = event_schemas()

    async def post_events(self, request: web.Request) -> web.Response:
        try:
            writer_store = self._authenticate(request)
            _check_content_type(request)
            body = await self._read_body(request)
            results = await self.collector.ingest(body, writer_store)
        except RequestRefused as exc:
            headers = {hdrs.WWW_AUTHENTICATE: "Bearer"} if exc.status == 401 else None
            return _refused(exc, headers)
        return _json(response_body(results), status_code(results))

    def _authenticate(self, request: web.Request) -> str | None:
        if self.tokens is None:
            return None  # no tokens file: development mode, any configured store
        scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise RequestRefused(401, "missing_token", "send 'Authorization: Bearer <token>'")
        store = self.tokens.store_for(token.strip())
        if store is None:
            raise RequestRefused(401, "unknown_token", "the bearer token is not known")
        return store

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.collector.limits.max_body_bytes
        too_large = RequestRefused(413, "body_too_large", f"the body exceeds {limit} bytes")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        try:
            raw = await request.read()  # as sent: the server does not decode (encoding.SERVER_OPTIONS)
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        except web.RequestPayloadError as exc:  # e.g. a chunked body cut short
            cause = exc.__cause__ or exc
            detail = str(getattr(cause, "message", cause)).strip()
            raise RequestRefused(400, "invalid_json", f"the body could not be read: {detail}") from None
        return decode_body(raw, request.headers.get(hdrs.CONTENT_ENCODING, ""), limit)

    async def schemas_index(self, request: web.Request) -> web.Response:
        return _json(self.schemas)

    async def schema(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        schema = self.schemas.get(name) or self.schemas.get(f"{name}.json")
        if schema is None:
            return _json({"error": "not_found", "message": f"no schema {name!r}"}, 404)
        return _json(schema, content_type="application/schema+json")

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if await self.collector.writer.reachable():
            return _json({"status": "ready"})
        return _json({"status": "unready", "message": "the Kafka broker is unreachable"}, 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.collector.metrics.exposition(), headers={hdrs.CONTENT_TYPE: CONTENT_TYPE}
        )


def _check_content_type(request: web.Request) -> None:
    if hdrs.CONTENT_TYPE not in request.headers:
        raise RequestRefused(415, "unsupported_media_type", "send 'Content-Type: application/json'")
    try:
        content_type, charset = request.content_type, request.charset
    except Exception:  # the stdlib's header parser (aiohttp 3.14) raises IndexError on ";0*"
        content_type, charset = "", None
    if content_type != "application/json" or (charset and charset.lower() != "utf-8"):
        raise RequestRefused(
            415,
            "unsupported_media_type",
            f"{request.headers[hdrs.CONTENT_TYPE]!r}: send 'Content-Type: application/json' (UTF-8)",
        )


def _observe(collector: Collector) -> Any:
    """Outermost middleware: time and count every answer; turn any failure into JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404, 405 from the router
            allow = exc.headers.get(hdrs.ALLOW)  # a 405 must say which methods the route takes
            response = _json(
                {"error": exc.reason.lower().replace(" ", "_"), "message": exc.text or ""},
                exc.status,
                {hdrs.ALLOW: allow} if allow is not None else None,
            )
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.path)
            response = _json(
                {"error": "internal_error", "message": "unexpected error; see the collector log"}, 500
            )
        collector.metrics.observe(route, response.status, time.perf_counter() - started)
        return response

    return middleware


def create_app(
    collector: Collector, tokens: Tokens | None = None, cors_origins: Collection[str] = ()
) -> web.Application:
    """The collector's aiohttp application; closing it closes the Kafka producer."""
    routes = _Routes(collector, tokens)
    app = web.Application(
        client_max_size=collector.limits.max_body_bytes,
        middlewares=[cors_middleware(cors_origins), _observe(collector)],
    )
    app.router.add_post("/v1/events", routes.post_events)
    app.router.add_get("/v1/schemas", routes.schemas_index)
    app.router.add_get("/v1/schemas/{name}", routes.schema)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/metrics", routes.metrics)

    async def hide_server_version(_: web.Request, response: web.StreamResponse) -> None:
        response.headers[hdrs.SERVER] = "shoppulse-collector"  # not "Python/3.x aiohttp/3.y"

    app.on_response_prepare.append(hide_server_version)

    async def close_writer(_: web.Application) -> None:
        await collector.writer.close()

    app.on_cleanup.append(close_writer)
    return app
