"""The booking flow's endpoints answer through a lean middleware chain (creneau.api.lean,
issue 15 item 3) with the same statuses, headers and bodies as through the whole chain.
Every test's `client` already dispatches as production does (tests/lean_client.py): the
waiting room's, the limits' and the security headers' tests run on the lean chain too."""

import json
import uuid

import pytest
from django.test import Client

from creneau.api.lean import LEAN_PATHS, lean_dispatch, lean_middleware
from tests.api.test_booking_api import ADULT, contact_token


@pytest.mark.parametrize(
    "path",
    ["/api/v1/sites", "/api/v1/sites/12/slots", "/api/v1/holds", "/api/v1/bookings"],
)
def test_the_booking_flows_paths_are_lean(path):
    assert LEAN_PATHS.fullmatch(path)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sites/12",
        "/api/v1/holds/5",
        "/api/v1/bookings/ABCD-EFGH-J",
        "/api/v1/contacts/verifications",
        "/api/v1/sites/",
        "/api/v1/sitesx",
        "/",
        "/centres/12/",
    ],
)
def test_other_paths_take_the_whole_chain(path):
    assert not LEAN_PATHS.fullmatch(path)


def test_the_application_sends_each_path_to_its_handler():
    served = []
    application = lean_dispatch(
        lambda environ, start: served.append("full"), lambda environ, start: served.append("lean")
    )
    for path in ("/api/v1/holds", "/api/v1/holds/5", "/api/v1/sites", "/"):
        application({"PATH_INFO": path}, None)
    assert served == ["lean", "full", "lean", "full"]


def test_the_lean_chain_keeps_what_these_answers_need_in_order(settings):
    kept = [
        "csp.middleware.CSPMiddleware" if path == "creneau.api.lean.JsonCSP" else path
        for path in lean_middleware()
    ]
    assert kept == [path for path in settings.MIDDLEWARE if path in kept]
    for needed in (
        "creneau.core.middleware.RequestLog",
        "creneau.core.middleware.DatabaseUnavailable",
        "django.middleware.security.SecurityMiddleware",
        "csp.middleware.CSPMiddleware",
        "creneau.core.middleware.PrivacyHeaders",
        "creneau.admission.middleware.GateAnswer",
        "creneau.core.middleware.LanguageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ):
        assert needed in kept


def _same(lean, full) -> None:
    assert lean.status_code == full.status_code, lean.content
    assert sorted(lean.headers) == sorted(full.headers)
    for name, value in full.headers.items():
        if name == "Vary":
            # The whole chain's "Cookie" came from the staff's idle timeout looking at the
            # session; these answers depend on no session, and nginx's shared cache of
            # search (deploy/nginx) keeps one copy per Cookie header while it is there.
            assert lean.headers[name] == "Accept-Language"
            assert value in ("Accept-Language", "Accept-Language, Cookie")
        elif name not in ("X-Request-ID", "Content-Length", "X-Queue-Pass"):
            assert lean.headers[name] == value, name


def test_each_step_answers_as_through_the_whole_chain(client, reference, settings):
    from tests.factories import two_dose_site

    settings.DEMO = True
    site, session = two_dose_site()
    whole = Client()
    slots = list(session.slots.order_by("start"))
    for path, query in (
        ("/api/v1/sites", {"near": "75017", "vaccine": "comirnaty", "dose": 1}),
        ("/api/v1/sites", {"near": "nowhere-at-all"}),
        (f"/api/v1/sites/{site.pk}/slots", {"dose": 1}),
        ("/api/v1/sites/999999/slots", {}),
    ):
        lean, full = client.get(path, query), whole.get(path, query)
        _same(lean, full)
        assert lean.json() == full.json()
    _same(
        client.post("/api/v1/holds", {"slot_id": "x"}, "application/json"),
        whole.post("/api/v1/holds", {"slot_id": "x"}, "application/json"),
    )
    _same(
        client.post("/api/v1/holds", {}, "application/json", HTTP_ACCEPT_LANGUAGE="en"),
        whole.post("/api/v1/holds", {}, "application/json", HTTP_ACCEPT_LANGUAGE="en"),
    )
    answers = []
    for n, (used, slot) in enumerate(((client, slots[0]), (whole, slots[1]))):
        hold = used.post("/api/v1/holds", {"slot_id": slot.pk}, "application/json")
        booked = used.post(
            "/api/v1/bookings",
            {
                "hold_id": hold.json()["id"],
                "contact_token": contact_token(whole, f"+3361234567{n}"),
                "person": {**ADULT, "given_name": f"Jeanne{'x' * n}"},
            },
            "application/json",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        answers.append((hold, booked))
    (lean_hold, lean_booked), (full_hold, full_booked) = answers
    assert lean_hold.status_code == 201 and lean_booked.status_code == 201
    _same(lean_hold, full_hold)
    _same(lean_booked, full_booked)


def test_the_policy_kept_follows_the_settings(client, reference, settings):
    before = client.get("/api/v1/sites", {"near": "75017"})["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    after = client.get("/api/v1/sites", {"near": "75017"})["Content-Security-Policy"]
    assert "default-src 'self'" in before and after == "default-src 'none'"


def _validated(schema, content: bytes) -> bytes:
    """What ninja writes for a dict through `schema` (validated, then dumped, then
    rendered), from the answer's own JSON."""
    from creneau.api.rendering import json_bytes

    return json_bytes(schema.model_validate(json.loads(content)).model_dump())


def test_a_hold_and_a_booking_are_written_as_their_schemas_validate_them(
    client, reference, settings
):
    from creneau.api.schemas import BookingOut, HoldOut
    from tests.factories import two_dose_site

    settings.DEMO = True
    _, session = two_dose_site()
    slot = session.slots.order_by("start").first()
    hold = client.post("/api/v1/holds", {"slot_id": slot.pk}, "application/json")
    assert hold.status_code == 201 and hold.json()["dose2_options"] and hold.json()["dose2_days"]
    assert hold.content == _validated(HoldOut, hold.content)
    assert hold["Content-Type"] == "application/json; charset=utf-8"
    body = {"hold_id": hold.json()["id"], "contact_token": contact_token(client), "person": ADULT}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    booked = client.post("/api/v1/bookings", body, "application/json", headers=key)
    assert booked.status_code == 201
    assert booked.content == _validated(BookingOut, booked.content)
    replayed = client.post("/api/v1/bookings", body, "application/json", headers=key)
    assert replayed.status_code == 201 and replayed.content == booked.content
