"""The invitation's code on the portal: it opens booking with the names filled in, makes
the invitee eligible when no public rule would, books one course, and opens that course
when used again."""

import pytest

from creneau.booking.models import Series
from creneau.campaigns.models import Invitation
from tests.portal.test_pages import last_code


@pytest.fixture
def invitation(invited_now):
    """Luc Moreau's invitation (born 1945, e-mail only) and the Paris session."""
    _campaign, session = invited_now
    return Invitation.objects.get(channel="email"), session


def shown(code: str) -> str:
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def test_a_mistyped_code_is_refused_on_its_field_and_opens_nothing(client, invitation):
    found, _session = invitation
    wrong = found.code[:-1] + ("0" if found.code[-1] != "0" else "1")
    page = client.post("/invitation/", {"code": wrong})
    assert page.status_code == 400 and "pas valide" in page.content.decode()
    assert Invitation.objects.get(pk=found.pk).opened_at is None


def test_the_code_books_the_invitee_in_one_course_then_opens_it(client, invitation):
    found, session = invitation
    opened = client.post("/invitation/", {"code": shown(found.code).lower()})
    assert opened.status_code == 302 and opened["Location"] == "/?near=75017"
    assert Invitation.objects.get(pk=found.pk).opened_at is not None
    slot = session.slots.order_by("start").first()
    client.post("/reserver/", {"slot": slot.pk, "site": slot.site_id})
    form = client.get("/reserver/personne/").content.decode()
    assert 'value="Luc"' in form and 'value="Moreau"' in form and 'value="1945"' in form
    coded = client.post(
        "/reserver/personne/",
        {
            "given_name": "Luc",
            "family_name": "Moreau",
            "birth_date_day": "1",
            "birth_date_month": "1",
            "birth_date_year": "1945",
            "email": "luc@example.org",
        },
    )
    assert coded["Location"] == "/reserver/code/"
    booked = client.post("/reserver/code/", {"code": last_code("luc@example.org")})
    assert booked["Location"].startswith("/rendez-vous/")
    series = Series.objects.get()
    assert series.override_reason.startswith("Invitation de la campagne")
    assert Invitation.objects.get(pk=found.pk).series == series
    # Used again, in another browser: the booking it made, not a second one.
    client.logout()
    again = client.post("/invitation/", {"code": shown(found.code)})
    assert again["Location"] == f"/rendez-vous/{shown(series.reference)}/"
    assert client.get(again["Location"]).status_code == 200
    assert Series.objects.count() == 1


def test_the_invitation_does_not_stand_in_for_someone_else(client, invitation):
    found, session = invitation
    client.post("/invitation/", {"code": shown(found.code)})
    slot = session.slots.order_by("start").first()
    client.post("/reserver/", {"slot": slot.pk, "site": slot.site_id})
    page = client.post(
        "/reserver/personne/",
        {
            "given_name": "Autre",
            "family_name": "Personne",
            "birth_date_day": "1",
            "birth_date_month": "1",
            "birth_date_year": "1945",
            "email": "autre@example.org",
        },
    )
    assert page.status_code == 200
    assert not Series.objects.exists()


@pytest.fixture
def agent(client, reference):
    from creneau.demo.staff import DEMO_PASSWORD
    from creneau.staff.models import StaffProfile
    from creneau.staff.services import staff_account_create
    from tests.staff_door import staff_sign_in

    staff_account_create(
        username="agent", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )
    staff_sign_in(client, "agent")
    return client


def test_the_call_centre_books_from_a_code_read_out_then_opens_the_file(agent, invitation):
    found, session = invitation
    opened = agent.post("/callcenter/invitation/", {"code": shown(found.code)})
    assert opened["Location"] == "/callcenter/creneaux/?near=75017"
    slot = session.slots.order_by("start").first()
    agent.post("/callcenter/reserver/", {"slot": slot.pk})
    form = agent.get("/callcenter/reserver/personne/").content.decode()
    assert 'value="Luc"' in form and 'value="luc@example.org"' in form
    booked = agent.post(
        "/callcenter/reserver/personne/",
        {
            "given_name": "Luc",
            "family_name": "Moreau",
            "birth_date": "01011945",
            "email": "luc@example.org",
        },
    )
    series = Series.objects.get()
    assert booked["Location"] == f"/callcenter/parcours/{series.pk}/"
    assert series.override_reason.startswith("Invitation de la campagne")
    assert series.override_by is None
    again = agent.post("/callcenter/invitation/", {"code": shown(found.code)})
    assert again["Location"] == f"/callcenter/parcours/{series.pk}/"


def test_the_call_centre_is_told_a_mistyped_code(agent, invitation):
    page = agent.post("/callcenter/invitation/", {"code": "ABCD-EFGH-J"}, follow=True)
    assert "pas valide" in page.content.decode()


def test_the_next_caller_does_not_inherit_an_invitation(agent, invitation):
    found, session = invitation
    agent.post("/callcenter/invitation/", {"code": shown(found.code)})
    agent.get("/callcenter/")
    slot = session.slots.order_by("start").first()
    agent.post("/callcenter/reserver/", {"slot": slot.pk})
    form = agent.get("/callcenter/reserver/personne/").content.decode()
    assert "Luc" not in form and "luc@example.org" not in form
