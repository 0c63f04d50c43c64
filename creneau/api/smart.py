"""Serving the SMART Scheduling Links files that `interop.publish.smart_publish` wrote.

No database query: each request opens the file, and the open file's own size and
modification time make its ETag and Last-Modified, so a file replaced between the check
and the read cannot be served under the other one's tag. Conditional requests
(`If-None-Match`, `If-Modified-Since`) are answered 304 by Django's own rules.
"""

import os
import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.urls import path
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date
from django.views.decorators.http import require_safe

from creneau.interop.publish import MANIFEST

_NDJSON = re.compile(r"^(locations|schedules|slots-[0-9AB]{2,3})\.ndjson$")
# Files are regenerated every minute: a finder may keep one that long.
MAX_AGE = 60


def _serve(request: HttpRequest, name: str, content_type: str) -> HttpResponse:
    try:
        file = open(Path(settings.SMART_PUBLISH_DIR) / name, "rb")  # noqa: SIM115 (FileResponse closes it)
    except FileNotFoundError:
        raise Http404("not published") from None
    stat = os.fstat(file.fileno())
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    last_modified = int(stat.st_mtime)
    unchanged = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if unchanged is not None:
        file.close()
        response = unchanged
    else:
        response = FileResponse(file, content_type=content_type)
        response["Content-Length"] = str(stat.st_size)
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    patch_cache_control(response, public=True, max_age=MAX_AGE)
    return response


@require_safe
def manifest(request: HttpRequest) -> HttpResponse:
    return _serve(request, MANIFEST, "application/json")


@require_safe
def ndjson(request: HttpRequest, name: str) -> HttpResponse:
    if not _NDJSON.match(name):
        raise Http404("not published")
    return _serve(request, name, "application/fhir+ndjson")


urlpatterns = [
    path(MANIFEST, manifest, name="smart-manifest"),
    path("<str:name>", ndjson, name="smart-file"),
]
