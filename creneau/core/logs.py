"""Structured logs: one JSON object a line, each with the request id it belongs to.

Nothing personal goes in: a request is logged by its route pattern
("/reprendre/<str:token>/"), never its path or query string, which carry tokens, names,
phone numbers and postcodes. Django's own request logs ("Not Found: /path") get the
route in place of the path for the same reason."""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request = getattr(record, "request", None)  # Django's request logs carry it
        message = record.getMessage()
        if request is not None and record.args:
            # "Not Found: /reprendre/<token>/": the path argument becomes the route.
            path = request.path.encode("unicode_escape").decode("ascii")
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            message = str(record.msg) % tuple(
                route_of(request) if arg in (path, request.path) else arg for arg in args
            )
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
