"""The call centre's booking form takes a mobile or an e-mail address in two fields, as
the portal's does (tests/portal/test_contact_fields.py)."""

from django.urls import reverse

from creneau.booking.models import Series
from tests.callcenter.test_callcenter import DETAILS, choose_first_slot
from tests.portal.test_contact_fields import assert_error_on, assert_two_keyboards, tag


def test_the_call_centre_form_has_the_two_fields(agent, centre):
    choose_first_slot(agent)
    page = agent.get(reverse("callcenter:person")).content.decode()
    assert_two_keyboards(page)
    # The agent types the caller's number: the browser offers nothing of its own.
    assert 'autocomplete="off"' in tag(page, "phone")
    response = agent.post(
        reverse("callcenter:person"), {**DETAILS, "phone": "01 42 76 40 40"}
    ).content.decode()
    assert_error_on(response, "phone", "pas un portable")
    response = agent.post(
        reverse("callcenter:person"), {**DETAILS, "email": "jeanne@example.org"}
    ).content.decode()
    assert_error_on(response, "email", "Un seul des deux")


def test_the_call_centre_books_with_an_email(agent, centre):
    choose_first_slot(agent)
    response = agent.post(
        reverse("callcenter:person"), {**DETAILS, "phone": "", "email": "paul@example.org"}
    )
    assert response.status_code == 302
    assert Series.objects.get().contact.address == "paul@example.org"


def test_an_email_carried_from_the_callers_search_fills_the_email_field(agent, centre):
    choose_first_slot(agent, contact="paul@example.org")
    page = agent.get(reverse("callcenter:person")).content.decode()
    assert 'value="paul@example.org"' in tag(page, "email")
    assert "value=" not in tag(page, "phone")
