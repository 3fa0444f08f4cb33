"""The web lab: a local page to watch gradient descent with any learning rate.

``create_app()`` builds the FastAPI application (a JSON API over the library, plus the page);
``serve()`` runs it with uvicorn on the loopback interface. Every script and style the page
uses is served by the application itself, so it works with no internet.

Modules: :mod:`~lrlab.web.schemas` (limits, request and response bodies),
:mod:`~lrlab.web.routes` (what each endpoint computes, through the library),
:mod:`~lrlab.web.scheduler` (light and heavy lanes, bounded queues, deadlines, batching),
:mod:`~lrlab.web.history` (the store the lab records into and the History view reads),
:mod:`~lrlab.web.app` (the application); ``static/`` holds the page, ES modules with no build.

Example:
    >>> from lrlab.web import create_app
    >>> app = create_app()
    >>> "/api/run" in app.openapi()["paths"]
    True
"""

from __future__ import annotations

from .app import Limits, create_app, serve

__all__ = ["Limits", "create_app", "serve"]
