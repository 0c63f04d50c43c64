"""Sentry, when SENTRY_DSN is set: errors only, and nothing personal in them.

send_default_pii=False leaves out cookies, users and addresses, but Sentry would still
send a request's URL (token paths, postcodes and phone numbers in query strings), its
body, and the local variables of each frame (names, birth dates): those are turned off
or removed here. Its Django integration names a transaction by its URL pattern, as our logs do."""

import os

import sentry_sdk


def _scrub(event: dict, hint: dict) -> dict:
    request = event.get("request") or {}
    for key in ("url", "query_string", "data", "cookies", "headers", "env"):
        request.pop(key, None)
    return event


def sentry_start(*, dsn: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=_scrub,
        traces_sample_rate=0,
    )
