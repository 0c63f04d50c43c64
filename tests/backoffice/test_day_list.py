"""The list of the day at the desk: after an action, back to the same filtered list at the
person's row, and every button named after one person and one time, homonyms included."""

from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import at, person, tomorrow, two_dose_site, verified_contact
from tests.staff_door import staff_sign_in

DAY = tomorrow()


class Controls(HTMLParser):
    """The text of every button and label (screen-reader text included), and the ids of
    the table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.buttons: list[str] = []
        self.labels: list[str] = []
        self.row_ids: list[str] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and dict(attrs).get("id"):
            self.row_ids.append(dict(attrs)["id"])
        if tag in ("button", "label"):
            self._open.append((tag, []))

    def handle_endtag(self, tag):
        if self._open and tag == self._open[-1][0]:
            kind, parts = self._open.pop()
            text = " ".join("".join(parts).split())
            (self.buttons if kind == "button" else self.labels).append(text)

    def handle_data(self, data):
        for _tag, parts in self._open:
            parts.append(data)


def controls(page: str) -> Controls:
    parser = Controls()
    parser.feed(page)
    return parser


@pytest.fixture
def homonyms(reference, client, monkeypatch):
    """Three Marcel Durand, born on different days, at 9:00, 9:40 and 9:40 again, a
    Jeanne Martin at 9:00, the site's nurse signed in at 9:30 on the day."""
    site, session = two_dose_site(dose1_day=DAY)
    slots = {slot.start: slot for slot in session.slots.all()}
    booked = {}
    for number, (key, hour, minute, who) in enumerate(
        (
            ("marcel 9:00", 9, 0, person(given_name="Marcel", family_name="Durand", age=81)),
            ("marcel 9:40", 9, 40, person(given_name="Marcel", family_name="Durand", age=79)),
            ("jeanne", 9, 0, person()),
            ("marcel 9:40 too", 9, 40, person(given_name="Marcel", family_name="Durand", age=90)),
        )
    ):
        hold = hold_create(slot_id=slots[at(DAY, hour, minute)].pk, now=at(DAY, 8)).hold
        result = booking_confirm(
            hold_id=hold.pk,
            contact=verified_contact(f"+3361234500{number}"),
            person=who,
            now=at(DAY, 8),
        )
        booked[key] = min(result.appointments, key=lambda a: a.dose_number)
    monkeypatch.setattr(timezone, "now", lambda: at(DAY, 9, 30))
    staff_account_create(
        username="desk", password=DEMO_PASSWORD, role=StaffProfile.Role.SITE_STAFF, sites=[site]
    )
    signed_in = staff_sign_in(client, "desk")
    assert signed_in.status_code == 302
    return site, booked


def day_url(site, **query) -> str:
    return f"{reverse('backoffice:site_day', args=[site.pk])}?{urlencode(query)}"


def test_a_check_in_goes_back_to_the_filtered_list_at_the_persons_row(client, homonyms):
    site, booked = homonyms
    marcel = booked["marcel 9:40"]
    url = reverse("backoffice:check_in", args=[site.pk, marcel.pk])
    response = client.post(url, {"jour": DAY.isoformat(), "q": "marcel durand"})
    assert response.status_code == 302
    assert response["Location"] == (
        day_url(site, jour=DAY.isoformat(), q="marcel durand") + f"#rdv-{marcel.pk}"
    )
    page = client.get(response["Location"]).content.decode()
    assert f"rdv-{marcel.pk}" in controls(page).row_ids


def test_a_refusal_also_goes_back_to_the_row_with_the_filter(client, homonyms):
    site, booked = homonyms
    marcel = booked["marcel 9:00"]
    url = reverse("backoffice:dose_given", args=[site.pk, marcel.pk])
    response = client.post(url, {"jour": DAY.isoformat(), "q": "durand", "lot": ""})
    assert response["Location"] == day_url(site, jour=DAY.isoformat(), q="durand") + (
        f"#rdv-{marcel.pk}"
    )


def test_without_a_filter_the_list_comes_back_whole_at_the_row(client, homonyms):
    site, booked = homonyms
    jeanne = booked["jeanne"]
    url = reverse("backoffice:check_in", args=[site.pk, jeanne.pk])
    response = client.post(url, {"jour": DAY.isoformat()})
    assert response["Location"] == day_url(site, jour=DAY.isoformat()) + f"#rdv-{jeanne.pk}"


def test_every_button_and_field_names_one_person_in_full_and_the_time(client, homonyms):
    site, booked = homonyms
    page = client.get(day_url(site, jour=DAY.isoformat())).content.decode()
    found = controls(page)
    born = {
        key: booked[key].person.birth_date.strftime("%d/%m/%Y")
        for key in ("marcel 9:40", "marcel 9:40 too")
    }
    assert sorted(b for b in found.buttons if b.startswith("Arrivée")) == sorted(
        [
            "Arrivée de Jeanne Martin, 9 h 00",
            "Arrivée de Marcel Durand, 9 h 00",
            # Same name, same time: the birth date tells them apart.
            f"Arrivée de Marcel Durand, 9 h 40, né(e) le {born['marcel 9:40']}",
            f"Arrivée de Marcel Durand, 9 h 40, né(e) le {born['marcel 9:40 too']}",
        ]
    )
    doses = [b for b in found.buttons if b.startswith("Dose administrée")]
    assert "Dose administrée à Marcel Durand, 9 h 00" in doses
    per_row = [b for b in found.buttons if b.startswith(("Arrivée", "Dose"))]
    assert len(per_row) == len(set(per_row)) == 8
    fields = [label for label in found.labels if label.startswith(("Lot", "Heure"))]
    assert len(fields) == len(set(fields)) == 8
    assert "Lot pour Marcel Durand, 9 h 00" in fields


def test_the_forms_carry_the_filter_back(client, homonyms):
    site, _booked = homonyms
    page = client.get(day_url(site, jour=DAY.isoformat(), q="durand")).content.decode()
    assert page.count('<input type="hidden" name="q" value="durand">') == 6  # 3 rows x 2 forms
