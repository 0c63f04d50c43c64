"""A right-to-left override typed in a name does not reverse what follows it on a staff
screen: names are isolated (<bdi>). The row is written as the former code stored it (the
booking service now removes such characters at the door)."""

import pytest
from playwright.sync_api import expect

from creneau.booking.models import Person
from creneau.booking.persons import person_name_index
from creneau.booking.services import booking_confirm, hold_create
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.browser.helpers import second_factor_type, staff_app
from tests.factories import person, two_dose_site, verified_contact

# The left edge of each character of `word` in the first text node under `selector`
# holding it: in reading order when nothing reversed it.
CHARACTER_LEFTS = """([selector, word]) => {
    const root = document.querySelector(selector);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const start = node.data.indexOf(word);
        if (start < 0) continue;
        return [...word].map((_, i) => {
            const range = document.createRange();
            range.setStart(node, start + i);
            range.setEnd(node, start + i + 1);
            return range.getBoundingClientRect().left;
        });
    }
    return null;
}"""


@pytest.fixture
def course(reference_committed):
    _site, session = two_dose_site()
    hold = hold_create(slot_id=session.slots.order_by("start").first().pk).hold
    series = booking_confirm(
        hold_id=hold.pk, contact=verified_contact(), person=person(given_name="Jeanne")
    ).series
    # Written as a raw update (no door would take it), its index with it: the call
    # centre finds names by their blind index, in which the override is left out.
    Person.objects.filter(pk=series.person_id).update(
        family_name="\u202eNITRAM",
        name_index=person_name_index(
            family_name="\u202eNITRAM", birth_date=series.person.birth_date
        ),
    )
    staff_account_create(
        username="appels", password=DEMO_PASSWORD, role=StaffProfile.Role.CALL_CENTRE
    )
    return series, staff_app("appels")


def _assert_in_reading_order(page, selector: str, word: str) -> None:
    lefts = page.evaluate(CHARACTER_LEFTS, [selector, word])
    assert lefts is not None, f"{word!r} not found in {selector}"
    assert lefts == sorted(lefts), f"{word!r} is reversed in {selector}: {lefts}"


def test_a_right_to_left_override_in_a_name_does_not_reverse_what_follows(
    page, live_server, course
):
    course, app = course
    page.goto(live_server.url + f"/callcenter/parcours/{course.pk}/")
    page.get_by_label("Identifiant").fill("appels")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    second_factor_type(page, app)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Jeanne")
    _assert_in_reading_order(page, "h1", "Jeanne")

    born = course.person.birth_date.strftime("%d/%m/%Y")
    page.goto(live_server.url + f"/callcenter/?q=nitram+{born}")
    expect(page.get_by_role("link", name="Jeanne")).to_be_visible()
    _assert_in_reading_order(page, "#contenu ul li", "Jeanne")
    _assert_in_reading_order(page, "#contenu ul li", "né(e) le")
