"""Answers of public reads kept a second or two, for launch morning.

Search and a site's calendar read the availability read model, which is already a view
of a moment ago; a hold decides, with a conditional update, whether a place is still
free. (A day's slot list is not cached: people pick a slot from it, and a stale list
sends them to full slots, each refusal costing a request.)
So the same question asked by thousands of people in the same second can get the same
answer, computed once per process (or once in all, with Redis) instead of thousands
of times.
"""

import functools
import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def answer_cached(view: Callable) -> Callable:
    """Keep the endpoint's answer `API_CACHE_SECONDS` per full URL and language."""

    @functools.wraps(view)
    def answer(request: HttpRequest, *args, **kwargs):
        seconds = settings.API_CACHE_SECONDS
        if not seconds:
            return view(request, *args, **kwargs)
        url = f"{request.get_full_path()}|{request.LANGUAGE_CODE}"
        key = "api-answer:" + hashlib.sha256(url.encode()).hexdigest()
        cached = cache.get(key)
        if cached is None:
            cached = view(request, *args, **kwargs)
            cache.set(key, cached, seconds)
        return cached

    return answer
