"""Where messages go, typed on a phone: a mobile number in a field that opens the digits
keyboard, an e-mail address in one that opens the @ keyboard, one of the two required;
each refusal said on its own field and linked to it. On every form that asks for it:
booking and managing a booking here, the call centre's booking in
tests/callcenter/test_caller_contact_fields.py."""

import html
import re

from creneau.booking.models import Series
from creneau.outreach.models import Notification
from tests.portal.test_pages import details, hold_first_slot, last_code


def tag(page: str, name: str) -> str:
    """The <input> named `name` on the page."""
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', page)[0]


def assert_two_keyboards(page: str) -> None:
    phone, email = tag(page, "phone"), tag(page, "email")
    assert 'type="tel"' in phone and 'inputmode="tel"' in phone
    assert 'type="email"' in email
    assert 'inputmode="email"' not in page
    assert not re.search(r'name="contact"', page)


def assert_error_on(page: str, name: str, message: str) -> None:
    """The field is marked invalid, described by its error, and the summary links to it."""
    page = html.unescape(page)
    field = tag(page, name)
    assert 'aria-invalid="true"' in field
    described = re.search(r'aria-describedby="([^"]+)"', field)[1]
    error = re.search(rf'<div id="{described}">(.*?)</div>', page, re.S)[1]
    assert message in error
    assert re.search(rf'<a href="#id_{name}">[^<]*{re.escape(message)}', page)
    other = tag(page, {"phone": "email", "email": "phone"}[name])
    assert "aria-invalid" not in other


def test_the_booking_form_asks_for_a_mobile_or_an_email_in_two_fields(client, site_and_session):
    hold_first_slot(client, *site_and_session)
    page = client.get("/reserver/personne/").content.decode()
    assert_two_keyboards(page)
    assert 'autocomplete="tel"' in tag(page, "phone")
    assert 'autocomplete="email"' in tag(page, "email")
    assert "l'un des deux suffit" in page


def test_neither_is_refused_on_the_phone_field(client, site_and_session):
    hold_first_slot(client, *site_and_session)
    page = client.post("/reserver/personne/", details(phone="")).content.decode()
    assert_error_on(page, "phone", "Donnez un numéro de portable ou une adresse e-mail.")
    assert not Notification.objects.exists()


def test_both_are_refused_on_the_email_field(client, site_and_session):
    hold_first_slot(client, *site_and_session)
    page = client.post("/reserver/personne/", details(email="j@example.org")).content.decode()
    assert_error_on(page, "email", "Un seul des deux")


def test_a_landline_is_refused_on_the_phone_field(client, site_and_session):
    hold_first_slot(client, *site_and_session)
    page = client.post("/reserver/personne/", details(phone="01 42 76 40 40")).content.decode()
    assert_error_on(page, "phone", "pas un portable")


def test_a_mistyped_email_is_refused_on_the_email_field(client, site_and_session):
    hold_first_slot(client, *site_and_session)
    page = client.post(
        "/reserver/personne/", details(phone="", email="jeanne.example.org")
    ).content.decode()
    assert_error_on(page, "email", "adresse e-mail n'est pas complète")


def test_booking_with_an_email_address(client, site_and_session):
    hold_first_slot(client, *site_and_session)
    response = client.post("/reserver/personne/", details(phone="", email="Jeanne@Example.org"))
    assert response["Location"] == "/reserver/code/"
    response = client.post("/reserver/code/", {"code": last_code("jeanne@example.org")})
    assert response["Location"].startswith("/rendez-vous/")
    assert Series.objects.get().contact.address == "jeanne@example.org"


def test_managing_asks_for_the_two_fields_too(client, site_and_session):
    page = client.get("/gerer/").content.decode()
    assert_two_keyboards(page)
    page = client.post("/gerer/", {"reference": "K7QM-4TR2-X"}).content.decode()
    assert_error_on(page, "phone", "Donnez un numéro de portable ou une adresse e-mail.")
