"""The web lab's application: the API's routes, the page, one error shape, security headers.

The pieces live in their own modules: :mod:`~lrlab.web.schemas` (limits, request and response
bodies), :mod:`~lrlab.web.routes` (what each endpoint computes, through the library) and
:mod:`~lrlab.web.scheduler` (where and for how long it computes). This module puts them
together.

Safety: text becomes a function only through :func:`lrlab.objective` (the expression parser,
the catalogue, the dataset problems), never through Python. Every request body is validated;
a bad one gets a 4xx with a message (and, for an expression, the position), never a 500. Work
per request is capped (:class:`~lrlab.web.schemas.Limits`) and computed off the event loop
under a deadline; a computation that overruns stops itself and the request gets a 503 that
says so; a full queue gets a 503 with ``Retry-After``. Only loopback host names are accepted
unless the server is told to listen elsewhere.
"""

from __future__ import annotations

import gc
import importlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import expr
from .history import History
from .routes import Lab, LabError, router
from .scheduler import Busy, TimeUp
from .schemas import Limits

__all__ = ["Limits", "create_app", "serve"]

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


# ---------------------------------------------------------------------------------------------
# Errors: one JSON shape, {"detail": message, ...}, for every refusal.


def _error(status: int, detail: str, headers: dict | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:2000] or type(err).__name__


def _describe_validation(errors: list[dict]) -> tuple[str, list[dict]]:
    items = []
    for e in errors:
        ctx = e.get("ctx") or {}
        if e.get("type") == "json_invalid":  # its location is a character, not a field
            at = e.get("loc", ("body", "?"))[-1]
            items.append(
                {"field": "body", "message": f"not JSON at character {at}: {ctx.get('error')}"}
            )
            continue
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        message = str(e.get("msg", "invalid"))
        # The limits in the words of the other refusals: "at most N".
        if e.get("type") in ("less_than_equal", "too_long") and ctx:
            most = ctx.get("le", ctx.get("max_length"))
            noun = " items" if e["type"] == "too_long" and isinstance(e.get("input"), list) else ""
            message = f"{message} (at most {most}{noun})"
        items.append({"field": field, "message": message})
    text = "; ".join(f"{i['field']}: {i['message']}" for i in items[:5])
    return text or "invalid request", items[:20]


def _add_error_handlers(app: FastAPI, limits: Limits) -> None:
    @app.exception_handler(LabError)
    async def _lab_error(_request: Request, err: LabError):
        return _error(err.status, err.detail, **err.extra)

    @app.exception_handler(Busy)
    async def _busy(_request: Request, err: Busy):
        return _error(503, str(err), headers={"Retry-After": str(err.retry_after)})

    @app.exception_handler(TimeUp)
    async def _time_up(_request: Request, _err: TimeUp):
        return _error(
            503,
            f"the computation took longer than {limits.seconds:g} s, the limit per request; "
            "ask for fewer steps or learning rates",
        )

    @app.exception_handler(expr.ExpressionError)
    async def _expression_error(_request: Request, err: expr.ExpressionError):
        return _error(400, f"expression: {err}", position=err.position, reason=err.reason)

    @app.exception_handler(ValueError)
    @app.exception_handler(TypeError)
    async def _library_error(_request: Request, err: Exception):
        return _error(400, _one_line(err))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError):
        whole_body = any(tuple(e.get("loc", ())) == ("body",) for e in err.errors())
        kind = request.headers.get("content-type", "")
        # FastAPI reads a body as JSON only when its type says so; any other is refused here
        # for its type, not for the fields it then seems to lack.
        if whole_body and not _is_json(kind) and await request.body():
            came = f"as {kind!r}" if kind else "without a Content-Type"
            return _error(
                415,
                f"the body must be JSON, sent with Content-Type: application/json (it came {came})",
            )
        detail, items = _describe_validation(err.errors())
        return _error(422, detail, errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, err: StarletteHTTPException):
        extra = {"limit_bytes": err.limit} if isinstance(err, _TooLarge) else {}
        # Keep the exception's headers: a 405 says which methods are allowed (``Allow``).
        return _error(err.status_code, str(err.detail), headers=err.headers, **extra)


# ---------------------------------------------------------------------------------------------
# HEAD, and the request body's size.


class _Head:
    """Answers ``HEAD`` as ``GET`` without the body: what HTTP asks of a server that answers
    ``GET`` (link checkers and monitors use it); the routes need not say so one by one."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class _TooLarge(StarletteHTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit:,} bytes, the limit")
        self.limit = limit


class _BodyLimit:
    """Refuses a request body over ``limit`` bytes with the JSON 413 of every other refusal: at
    once when its ``Content-Length`` says so, otherwise when the bytes read pass the limit.

    (Starlette's own limit answers a declared size in plain text, outside the headers' middleware.)
    """

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            err = _TooLarge(self.limit)
            response = _error(
                413, err.detail, limit_bytes=self.limit, headers={"connection": "close"}
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


# ---------------------------------------------------------------------------------------------
# Headers on every response.

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _Headers:
    """Adds ``Server-Timing`` (time in the app until the response starts) and security headers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1e3
                headers = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={ms:.2f}".encode()),
                    (b"content-security-policy", _CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)


# ---------------------------------------------------------------------------------------------
# The application.


def create_app(
    *,
    limits: Limits | None = None,
    workers: int = 1,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK,
    store: str | None = None,
) -> FastAPI:
    """Build the web lab: the JSON API under ``/api`` and the page at ``/``.

    Args:
        limits: the work one request may ask for (see :class:`~lrlab.web.schemas.Limits`).
        workers: threads for heavy work (dataset problems, sweeps, suggestions, uploads);
            light work has a thread of its own.
        allowed_hosts: host names the server answers to (protection against DNS rebinding);
            None answers to any.
        store: the store's URL (see :func:`lrlab.store.open`): sweeps made here are recorded
            and the History view reads it. None (the default): no records. A store that
            cannot be opened leaves the lab working, and the History view says why.

    Returns:
        A FastAPI application; run it with uvicorn, or use :func:`serve`.

    Example:
        >>> from fastapi.testclient import TestClient
        >>> client = TestClient(create_app(), base_url="http://127.0.0.1")
        >>> client.post("/api/run", json={"objective": "x**2", "lr": 0.25, "steps": 2,
        ...                               "start": [1.0]}).json()["losses"]
        [1.0, 0.25, 0.0625]
    """
    limits = limits or Limits()
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        raise ValueError(f"workers={workers!r} is invalid: expected an integer from 1 to 64")
    lab = Lab(limits, workers, History(store))
    app = FastAPI(
        title="lrlab web lab",
        version=importlib.import_module("lrlab").__version__,
        description="Watch, compare, sweep, suggest and diagnose the learning rate of gradient "
        "descent. Every computation is a call into the lrlab library.",
        docs_url=None,
        redoc_url=None,  # their pages load scripts from a CDN
    )
    app.state.lab = lab
    app.add_middleware(_Head)
    app.add_middleware(_BodyLimit, limit=limits.body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(_Headers)
    _add_error_handlers(app, limits)

    # -- the page ------------------------------------------------------------------------------

    plotly_dir = Path(importlib.import_module("plotly").__file__).parent
    plotly_js = plotly_dir / "package_data" / "plotly.min.js"

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    async def plotly():
        return FileResponse(
            plotly_js,
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- the API ---------------------------------------------------------------------------------

    app.include_router(router(lab))

    @app.get("/api/health", include_in_schema=False)
    async def health() -> dict:
        return {"ok": True}

    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    access_log: bool = False,
    limits: Limits | None = None,
    store: str | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run the web lab with uvicorn until interrupted.

    Args:
        host: the address to listen on; the loopback interface by default. Any other
            address lets every machine that can reach it use the lab.
        port: the TCP port, 1 to 65535.
        log_level: uvicorn's log level.
        access_log: log one line per request.
        limits: the work one request may ask for (see :class:`~lrlab.web.schemas.Limits`).
        store: the store to record into and show in the History view (None: no records).
        ready: called with the lab's URL once the address is taken, before it serves.

    Raises:
        OSError: the address cannot be listened on (a port in use, an unknown host), said in
            one line before anything starts.
    """
    import uvicorn

    if not isinstance(host, str) or not host:
        raise TypeError(f"host={host!r} is invalid: expected an address such as '127.0.0.1'")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port={port!r} is invalid: expected an integer from 1 to 65535")
    # The address first: a port in use or an unknown host is refused before this process
    # changes anything (its threads, its garbage collector).
    sock = _listening_socket(host, port)
    hosts = None if host in ("0.0.0.0", "::", "") else tuple(dict.fromkeys((*LOOPBACK, host)))
    try:
        app = create_app(limits=limits, allowed_hosts=hosts, store=store)
    except BaseException:
        sock.close()
        raise
    # Heavy work's matrix products would take every core, and light requests (and the event
    # loop) would wait for them: one core is left to the light lane.
    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))
    # What is loaded by now (torch, numpy, the app) lives as long as the server: frozen, it is
    # left out of the garbage collector's full passes, each of which would otherwise hold up
    # every request for a tenth of a second.
    gc.freeze()
    if ready is not None:
        ready(f"http://{host}:{port}/")
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log)
    uvicorn.Server(config).run(sockets=[sock])


def _listening_socket(host: str, port: int) -> socket.socket:
    """The bound socket the server will listen on: taken here, so that a port in use or an
    unknown host is one line, not uvicorn's log and exit status."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
    except OSError as e:
        raise OSError(f"cannot listen on {host} port {port}: {e.strerror or e}") from None
    return sock
