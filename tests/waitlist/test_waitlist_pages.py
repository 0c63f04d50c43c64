"""The waiting list's public pages: joining with a code, an offer's link accepted once,
an entry's link to leave; bad input answered with its message and nothing changed."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from creneau.booking.models import Series
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.vaccines.models import Vaccine
from creneau.waitlist import tokens
from creneau.waitlist.models import Offer, WaitlistEntry
from tests.factories import open_session
from tests.waitlist.helpers import NOW, declare, join, leftover_site

pytestmark = pytest.mark.django_db


def _form(**changes) -> dict:
    data = {
        "given_name": "Jeanne",
        "family_name": "Martin",
        "birth_date_day": "3",
        "birth_date_month": "2",
        "birth_date_year": "1940",
        "near": "75017",
        "radius_km": "10",
        "notice_minutes": "30",
        "days": ["0", "1", "2", "3", "4", "5", "6"],
        "start": "09:00",
        "end": "20:00",
        "vaccines": [str(Vaccine.objects.get(code="janssen").pk)],
        "phone": "06 12 34 56 78",
    }
    return {**data, **changes}


def _last_message(kind: str) -> str:
    return notification_render(notification=Notification.objects.filter(kind=kind).last()).body


def _key(kind: str) -> str:
    """The key of the last such message's link: in its fragment, which no server logs."""
    link = re.search(r"(\S+/ouvrir/#cle=\S+)", _last_message(kind))[1]
    return link.split("#cle=")[1]


def _opened(client, kind: str, key: str) -> str:
    """What the `ouvrir/` page's script does with the fragment (or a person pasting the
    link without JavaScript): post the key; the page it opens, by id."""
    response = client.post(f"/liste-attente/{kind}/ouvrir/", {"cle": key})
    assert response.status_code == 302, response.content.decode()
    return response["Location"]


def test_joining_with_a_code_then_leaving_from_the_link(client, reference):
    assert client.get("/liste-attente/").status_code == 200
    response = client.post("/liste-attente/", _form())
    assert response.status_code == 302 and response["Location"] == "/liste-attente/code/"
    code = re.search(r"\b(\d{6})\b", _last_message("verification_code"))[1]
    response = client.post("/liste-attente/code/", {"code": code})
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get()
    assert (entry.given_name, entry.radius_km, entry.notice_minutes) == ("Jeanne", 10, 30)
    page = client.get(response["Location"])
    assert "est sur la liste" in page.content.decode()
    # The link in the message opens the same page; leaving takes the person off.
    link = _opened(client, "inscription", _key("waitlist_joined"))
    assert link == response["Location"] == f"/liste-attente/inscription/{entry.pk}/"
    assert client.post(link, {"action": "leave"}).status_code == 302
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.LEFT


def test_a_contact_verified_in_this_session_joins_without_a_second_code(client, reference):
    client.post("/liste-attente/", _form())
    code = re.search(r"\b(\d{6})\b", _last_message("verification_code"))[1]
    client.post("/liste-attente/code/", {"code": code})
    form = _form(given_name="Paul")
    del form["phone"]
    assert client.post("/liste-attente/", form).status_code == 302
    assert WaitlistEntry.objects.count() == 2
    assert Notification.objects.filter(kind="verification_code").count() == 1
    # The same person again: refused with its message, nothing added.
    response = client.post("/liste-attente/", form)
    assert response.status_code == 409
    assert "déjà sur la liste" in response.content.decode()
    assert WaitlistEntry.objects.count() == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"radius_km": "0"}, "La distance va de 1 à 30 km."),
        ({"radius_km": "500"}, "La distance va de 1 à 30 km."),
        ({"radius_km": "dix"}, "Saisissez un nombre entier."),
        ({"days": []}, "Choisissez au moins un jour de la semaine."),
        ({"start": "21:00"}, "Une plage horaire doit finir après son début."),
        ({"vaccines": []}, "Choisissez au moins un vaccin parmi ceux proposés."),
        ({"near": "Nullepart-sur-Rien"}, ""),
    ],
)
def test_bad_input_is_answered_on_its_field_and_sends_nothing(client, reference, changes, message):
    response = client.post("/liste-attente/", _form(**changes))
    assert response.status_code == 400
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not Notification.objects.exists()
    assert not WaitlistEntry.objects.exists()


def test_an_offer_link_accepts_once_and_a_forged_one_is_not_found(client, reference):
    site = leftover_site()
    join(1)
    join(2)
    leftover = declare(site, doses=1)
    first, second = leftover.offers.all()
    key = _key("waitlist_offer")
    offer = Offer.objects.get(pk=tokens.offer_id_read(token=key))
    # The page the link opens carries no key (it is in the fragment) and asks for nothing.
    opener = client.get("/liste-attente/offre/ouvrir/")
    assert opener.status_code == 200 and "collez-le ici" in opener.content.decode()
    link = _opened(client, "offre", key)
    assert link == f"/liste-attente/offre/{offer.pk}/"
    assert "J'accepte, je viens" in client.get(link).content.decode()
    response = client.post(link)
    assert response.status_code == 302 and response["Location"].startswith("/rendez-vous/")
    assert Series.objects.count() == 1
    offer.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED
    again = client.post(link)
    assert again.status_code == 409 and "ne sert qu&#x27;une fois" in again.content.decode()
    other = second if offer == first else first
    # Without JavaScript the whole link is pasted: it opens as well.
    pasted = f"https://example.org/liste-attente/offre/ouvrir/#cle={tokens.offer_token(offer_id=other.pk)}"
    gone = client.post(_opened(client, "offre", f"  {pasted} "))
    assert gone.status_code == 409 and "Trop tard" in gone.content.decode()
    forged = client.post("/liste-attente/offre/ouvrir/", {"cle": key[:-2] + "xx"})
    assert forged.status_code == 404 and "n&#x27;est pas valable" in forged.content.decode()
    assert "collez-le ici" in forged.content.decode()
    assert Series.objects.count() == 1


def test_an_offer_page_opens_only_in_the_browser_that_opened_its_link(client, reference):
    site = leftover_site()
    join(1)
    offer = declare(site, doses=1).offers.get()
    assert client.get(f"/liste-attente/offre/{offer.pk}/").status_code == 404
    assert client.post(f"/liste-attente/offre/{offer.pk}/").status_code == 404
    assert client.get(f"/liste-attente/inscription/{offer.entry_id}/").status_code == 404
    offer.refresh_from_db()
    assert (offer.status, offer.answered_at) == (Offer.Status.OFFERED, None)


def test_an_entry_link_sent_before_keys_moved_to_the_fragment_still_opens(client, reference):
    entry = join(1)
    response = client.get(f"/liste-attente/inscription/{tokens.entry_token(entry_id=entry.pk)}/")
    assert response.status_code == 302
    assert response["Location"] == f"/liste-attente/inscription/{entry.pk}/"
    assert "est sur la liste" in client.get(response["Location"]).content.decode()
    assert client.get("/liste-attente/inscription/v1-forged:xx/").status_code == 404


def test_the_answer_shows_the_dose_2_and_offers_to_move_it(client, reference):
    site = leftover_site(code="comirnaty")
    open_session(site, day=NOW.date() + timedelta(days=35), dose_number=2)
    join(1)
    offer = declare(site, doses=1, code="comirnaty").offers.get()
    link = _opened(client, "offre", tokens.offer_token(offer_id=offer.pk))
    # (The page's clock is now, the declaration's tomorrow 17:00: the offer still runs.)
    page = client.post(link, follow=True)
    text = page.content.decode()
    series = Series.objects.get()
    dose2 = series.appointments.get(dose_number=2).slot
    assert "Votre seconde dose est réservée le" in text and site.name in text
    assert date_format(timezone.localtime(dose2.start), "j F Y") in text
    assert "/deplacer/2/" in text


def test_an_expired_offer_link_says_so_and_books_nothing(client, reference):
    site = leftover_site()
    join(1)
    offer = declare(site, doses=1).offers.get()
    # Its 20 minutes over (the declaration's clock is tomorrow's; the page's is now).
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    link = _opened(client, "offre", tokens.offer_token(offer_id=offer.pk))
    response = client.post(link)
    assert response.status_code == 410
    assert "a expiré" in response.content.decode()
    assert not Series.objects.exists()
    offer.refresh_from_db()
    assert (offer.status, offer.answered_at) == (Offer.Status.OFFERED, None)
