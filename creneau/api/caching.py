"""Answers of public reads kept a second or two, for launch morning.

Search and a site's calendar read the availability read model, which is already a view
of a moment ago; a hold decides, with a conditional update, whether a place is still
free. (A day's slot list is not cached: people pick a slot from it, and a stale list
sends them to full slots, each refusal costing a request.)
So the same question asked by thousands of people in the same second can get the same
answer, computed once per process (or once in all, with Redis) instead of thousands
of times.

What is kept is the answer's bytes, written once: a hit costs a dictionary lookup in this
process (a shared cache read at most once a `API_CACHE_SECONDS` per process and URL), not
a validation and a serialisation each time (issue 15: these were a tenth of a search's
time). A miss serialises the view's dict as it is: the endpoint builds exactly its
schema's fields, and tests/api prove the bytes equal those of the schema's validated
answer (the validation alone cost five times the serialisation: 2.1 ms a search).
"""

import functools
import hashlib
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from .rendering import JSON_CONTENT_TYPE, json_bytes

# {key: (monotonic time it goes stale, bytes)}: this process's copy of recent answers.
_LOCAL: dict[str, tuple[float, bytes]] = {}
_LOCAL_MAX = 2048  # URLs kept at most (a search's URL names a place: a few thousand)


def _local_get(key: str, now: float) -> bytes | None:
    kept = _LOCAL.get(key)
    return kept[1] if kept is not None and kept[0] > now else None


def _local_put(key: str, content: bytes, until: float) -> None:
    if len(_LOCAL) >= _LOCAL_MAX:
        _LOCAL.clear()  # cheaper than an LRU, and every entry lives a second or two anyway
    _LOCAL[key] = (until, content)


def answer_cached(view: Callable) -> Callable:
    """Keep the endpoint's answer, its JSON bytes, `API_CACHE_SECONDS` per full URL and
    language. The endpoint's errors (domain errors, 4xx) are never kept."""

    @functools.wraps(view)
    def answer(request: HttpRequest, *args, **kwargs):
        seconds = settings.API_CACHE_SECONDS
        if not seconds:
            return view(request, *args, **kwargs)
        url = f"{request.get_full_path()}|{request.LANGUAGE_CODE}"
        key = "api-answer:" + hashlib.sha256(url.encode()).hexdigest()
        now = time.monotonic()
        content = _local_get(key, now)
        if content is None:
            content = cache.get(key)
            if content is None:
                result = view(request, *args, **kwargs)
                if isinstance(result, HttpResponse):
                    return result
                content = json_bytes(result)
                cache.set(key, content, seconds)
            _local_put(key, content, now + seconds)
        return HttpResponse(content, content_type=JSON_CONTENT_TYPE)

    return answer
