"""No secret and no personal data in the logs: a whole booking journey, every log record
written the way production writes it (the console handler of settings.LOGGING, its
filter and its JSON format, every logger at DEBUG), and gunicorn's access log when an
operator turns it on."""

import io
import logging
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from gunicorn.config import Config

from creneau.booking.models import Cancellation, Series
from creneau.booking.services import cancellation_create
from creneau.booking.tokens import management_token, reference_display
from creneau.core.access_log import AccessLog
from creneau.core.logs import RedactRequests
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.outreach.services import outbox_send
from tests.factories import STAFF, two_dose_site
from tests.staff_door import staff_sign_in

GIVEN, FAMILY = "Zéphirine", "Quintal-Brassac"
PHONES = ("06 12 34 56 78", "0612345678", "+33612345678", "612345678")


@pytest.fixture
def logs():
    """What the configured console handler writes, every logger at DEBUG."""
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactRequests) for f in handler.filters)
    ]
    buffer = io.StringIO()
    stream = handler.setStream(buffer)
    loggers = [logging.getLogger(name) for name in ("", "django", "django.request", "creneau")]
    levels = [logger.level for logger in loggers]
    server = logging.getLogger("django.server")
    server.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield buffer
    server.removeHandler(handler)
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
    handler.setStream(stream)


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    folded = text.casefold()
    return [secret for secret in secrets if secret.casefold() in folded]


def test_a_whole_booking_journey_logs_no_phone_code_key_or_name(
    client, reference, settings, logs, django_user_model
):
    settings.SMS_BACKEND = "creneau.outreach.sms.MemoryBackend"
    site, session = two_dose_site(name="Centre Wagram")
    # Search, a slot, the person, a code by SMS.
    assert client.get("/", {"near": "75017"}).status_code == 200
    slot = session.slots.order_by("start").first()
    client.post("/reserver/", {"slot": slot.pk, "site": site.pk})
    person = {
        "given_name": GIVEN,
        "family_name": FAMILY,
        "birth_date_day": "2",
        "birth_date_month": "3",
        "birth_date_year": "1940",
        "phone": PHONES[0],
    }
    assert client.post("/reserver/personne/", person)["Location"] == "/reserver/code/"
    assert outbox_send().sent == 1  # the worker, as it runs in production
    (verification,) = Notification.objects.filter(kind="verification_code")
    code = re.search(r"\b(\d{6})\b", notification_render(notification=verification).body)[1]
    client.post("/reserver/code/", {"code": "111111" if code == "000000" else "000000"})
    booked = client.post("/reserver/code/", {"code": code})
    assert booked.status_code == 302
    series = Series.objects.get()
    key = management_token(reference=series.reference, salt=series.token_salt)
    display = reference_display(series.reference)

    # The link in the confirmation, in another browser; a link sent before, with `?cle=`.
    confirmation = notification_render(
        notification=Notification.objects.get(kind="booking_confirmed")
    ).body
    assert f"#cle={key}" in confirmation
    stranger = client.__class__()
    assert stranger.get(f"/rendez-vous/{display}/ouvrir/").status_code == 200
    assert stranger.post(f"/rendez-vous/{display}/ouvrir/", {"cle": key}).status_code == 302
    assert client.__class__().get(f"/rendez-vous/{display}/", {"cle": key}).status_code == 302
    assert client.__class__().get(f"/rendez-vous/{display}/", {"cle": key + "0"}).status_code == (
        404
    )
    # Managing with a code, from a third browser.
    third = client.__class__()
    third.post("/gerer/", {"reference": display, "phone": PHONES[2]})
    manage_code = notification_render(
        notification=Notification.objects.filter(kind="verification_code").last()
    ).body
    third.post("/gerer/code/", {"code": re.search(r"\b(\d{6})\b", manage_code)[1]})
    # Cancelled by the person, then a cancelled session's rebooking link (new and old).
    assert stranger.post(f"/rendez-vous/{display}/annuler/").status_code == 302

    # The call centre: an agent signs in, finds the caller by phone, by name and birth
    # date, by reference; a search that finds nothing, one that is refused.
    staff_account_create_agent(django_user_model)
    agent = client.__class__()
    staff_sign_in(agent, "agent")
    home = reverse("callcenter:home")
    for query in (*PHONES, f"{FAMILY} 02/03/1940", display, "06 99 99 99 99", "Quintal"):
        assert agent.get(home, {"q": query}).status_code in (200, 400)
    page = agent.get(reverse("callcenter:slots"), {"near": "75017", "contact": PHONES[0]})
    chosen = re.search(r'name="slot" value="(\d+)"', page.content.decode())[1]
    agent.post(reverse("callcenter:hold"), {"slot": chosen, "contact": PHONES[0]})
    agent.post(
        reverse("callcenter:person"),
        {"given_name": GIVEN, "family_name": FAMILY, "birth_date": "02031940"}
        | {"phone": PHONES[0]},
    )
    cancellation_create(
        actor=STAFF,
        site_id=site.pk,
        scope=Cancellation.Scope.SITE,
        reason="Livraison retardée.",
    )
    message = notification_render(
        notification=Notification.objects.filter(kind="booking_cancelled").last()
    ).body
    rebook_key = re.search(r"#cle=(\S+)", message)[1]
    assert client.__class__().post("/reprendre/ouvrir/", {"cle": rebook_key}).status_code == 302
    assert client.__class__().get(f"/reprendre/{rebook_key}/").status_code == 302
    assert client.__class__().get(f"/reprendre/{rebook_key}x/", {"tel": PHONES[1]}).status_code == (
        404
    )
    assert outbox_send().sent >= 3

    written = logs.getvalue()
    assert '"route": "/rendez-vous/<str:reference>/ouvrir/"' in written  # it did log
    assert "Not Found" in written  # Django's own lines too, with the route
    personal = [*PHONES, GIVEN, FAMILY, "02/03/1940", "1940-03-02", series.reference, display]
    assert secrets_in(written, [code, key, rebook_key, *personal]) == []


def staff_account_create_agent(django_user_model) -> None:
    from creneau.demo.staff import DEMO_PASSWORD
    from creneau.staff.models import StaffProfile
    from creneau.staff.services import staff_account_create

    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )


KEY = "3f1c0a9e5b7d2c4e6f8091a2b3c4d5e6"


@pytest.mark.parametrize(
    ("method", "target", "route"),
    [
        ("GET", f"/rendez-vous/ABCD-EFGH-K/?cle={KEY}", "/rendez-vous/<str:reference>/?cle=…"),
        ("GET", f"/reprendre/1:{KEY}/", "/reprendre/<str:token>/"),
        ("GET", "/callcenter/?q=06+12+34+56+78", "/callcenter/?q=…"),
        ("GET", "/callcenter/?0612345678=1", "/callcenter/?…=…"),
        (
            "POST",
            "/api/v1/contacts/verifications/3f1c0a9e-5b7d-2c4e-6f80-91a2b3c4d5e6/confirm",
            "/api/v1/contacts/verifications/<uuidstr:verification_id>/confirm",
        ),
        ("GET", "/api/v1/bookings/ABCD-EFGH-K", "/api/v1/bookings/<reference>"),
        ("GET", "/static/portal/portal.js", "/static/portal/portal.js"),
        ("GET", f"/nowhere/{KEY}", "unmatched"),
    ],
)
def test_gunicorn_s_access_log_names_the_route_never_the_key_or_the_query(
    tmp_path, method, target, route
):
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set(
        "access_log_format",
        '%(h)s "%(r)s" %(U)s %(q)s %(s)s "%(f)s" "%({referer}i)s" "%({authorization}i)s" '
        '"%({cookie}i)s" "%({location}o)s"',
    )
    log = AccessLog(config)
    path, _, query = target.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "RAW_URI": target,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": f"https://creneau.example.fr/reprendre/1:{KEY}/",
    }
    headers = [
        ("REFERER", environ["HTTP_REFERER"]),
        ("AUTHORIZATION", f"Bearer {KEY}"),
        ("COOKIE", f"sessionid={KEY}"),
    ]
    response = SimpleNamespace(
        status="302 Found", sent=0, headers=[("Location", f"/reprendre/1:{KEY}/")]
    )
    log.access(response, SimpleNamespace(headers=headers), environ, timedelta(milliseconds=3))
    for handler in log.access_log.handlers:
        handler.flush()

    line = (tmp_path / "access.log").read_text()
    assert route in line and "203.0.113.9" in line
    assert secrets_in(line, [KEY, "3f1c0a9e", "0612345678", "06+12", "ABCD"]) == []
