"""The API's JSON, written by orjson in one pass (issue 15: ninja's json.dumps with its
encoder took a tenth of a search's time).

Dates, times and decimals go through ninja's own encoder, so that every value reads as
it did before (`2021-06-12T08:00:00Z`, milliseconds at most); everything else orjson
writes natively, the same way (UUIDs as their hyphenated text)."""

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder

_ENCODER = NinjaJSONEncoder()
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def json_bytes(data: Any) -> bytes:
    return orjson.dumps(data, default=_ENCODER.default, option=_OPTIONS)


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> bytes:
        return json_bytes(data)


JSON_CONTENT_TYPE = f"{OrjsonRenderer.media_type}; charset=utf-8"


def json_answer(data: Any, *, status: int = 200) -> HttpResponse:
    """The endpoint's dict written once, as it is, without ninja's validation against the
    response schema (a hold's or a booking's answer: a quarter of its time in the API
    layer, issue 15). The endpoint builds exactly its schema's fields, in its types and
    order: tests/api/test_lean_path.py proves the bytes equal the validated ones."""
    return HttpResponse(json_bytes(data), status=status, content_type=JSON_CONTENT_TYPE)
