"""Structured logs: one JSON object a line, each with the request id it belongs to.

Nothing personal goes in: a request is logged by its route pattern
("/reprendre/<str:token>/"), never its path or query string, which carry tokens, names,
phone numbers and postcodes. Django's own request logs ("Not Found: /path", the
development server's request lines) get the route in place of the path for the same
reason (`RedactRequests`, on the console handler whatever the format), and gunicorn's
access log, when it is turned on, too (creneau/core/access_log.py)."""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from django.conf import settings
from django.urls import Resolver404, resolve

# The request being answered in this thread (or task); "-" outside any request.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# What a proxy's X-Request-ID may be for us to keep it: short, and nothing to inject.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Fields a log call may add with extra={…}; anything else is left out.
FIELDS = ("method", "route", "status", "duration_ms", "event", "error", "seal", "purge")


def route_of(request) -> str:
    """The URL pattern that answered ("/api/v1/sites/<int:site_id>/slots"), never the
    path: paths carry tokens and references. One word for what matched nothing."""
    match = getattr(request, "resolver_match", None)
    return f"/{match.route}" if match is not None else "unmatched"


# A query string's parameter names are kept, when they look like ours; never a value.
QUERY_NAME = re.compile(r"[a-z_]{1,30}")


def address_logged(path: str, query: str = "") -> str:
    """What a log may say of an address that no view has answered yet (an access log):
    its route pattern ("/rendez-vous/<str:reference>/ouvrir/") and its query's names
    ("?near=…"). A static file keeps its path; what matches no route is "unmatched"."""
    try:
        logged = "/" + resolve(path).route
    except Resolver404:
        logged = path if path.startswith(settings.STATIC_URL) else "unmatched"
    names = sorted(
        {name if QUERY_NAME.fullmatch(name) else "…" for name, _ in parse_qsl(query, True)}
    )
    return logged + ("?" + "&".join(f"{name}=…" for name in names) if names else "")


def _request_line_logged(line: str) -> str:
    """`GET /reprendre/<key>/?x=1 HTTP/1.1` with the address as address_logged says."""
    method, _, rest = line.partition(" ")
    target, _, protocol = rest.rpartition(" ")
    path, _, query = target.partition("?")
    return f"{method} {address_logged(path, query)} {protocol}"


class RedactRequests(logging.Filter):
    """Django's own request lines name the route, not the path: "Not Found: /reprendre/
    <token>/" (django.request, django.security) and the development server's
    `"GET /path?query HTTP/1.1" 200` (django.server)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.args:
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        request = getattr(record, "request", None)
        if record.name == "django.server" and isinstance(args[0], str):
            record.args = (_request_line_logged(args[0]), *args[1:])
        elif hasattr(request, "path"):
            path = request.path.encode("unicode_escape").decode("ascii")
            record.args = tuple(
                route_of(request) if arg in (path, request.path) else arg for arg in args
            )
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request = getattr(record, "request", None)  # Django's request logs carry it
        RedactRequests().filter(record)  # also when a handler was set up without it
        message = record.getMessage()
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None)
            or getattr(request, "id", None)
            or request_id_var.get(),
            "message": message,
        }
        line |= {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
