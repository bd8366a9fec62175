"""CORS for browser storefronts: only the configured origins may call the collector.

``origins`` lists exact origins (``https://shop.example``) or ``*`` for any. A preflight
(``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin gets 204
and the allowed methods and headers; from any other origin, 403. Actual responses to
an allowed origin carry ``Access-Control-Allow-Origin`` with that origin. Requests
without an ``Origin`` header (servers, curl) are not affected.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
MAX_AGE_SECONDS = "600"


def cors_middleware(origins: Collection[str]) -> Middleware:
    allowed = frozenset(origins)

    def is_allowed(origin: str | None) -> bool:
        return origin is not None and ("*" in allowed or origin in allowed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        is_preflight = (
            request.method == hdrs.METH_OPTIONS and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        )
        if is_preflight:
            if not is_allowed(origin):
                return web.json_response(
                    {"error": "cors_origin_not_allowed", "message": f"origin {origin!r} is not allowed"},
                    status=403,
                )
            response: web.StreamResponse = web.Response(status=204)
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOWED_METHODS
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOWED_HEADERS
            response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = MAX_AGE_SECONDS
        else:
            response = await handler(request)
        if is_allowed(origin):
            assert origin is not None
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers.add(hdrs.VARY, "Origin")
        return response

    return middleware
