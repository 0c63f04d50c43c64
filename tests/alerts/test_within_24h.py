"""Issue 20, item 4: "dans les 24 heures". A rule with an effective date, like any other,
that opens places starting within 24 hours to anyone; the search (portal and API) that
shows only those places and says whether such a rule is in force."""

from datetime import date, datetime, time, timedelta

import pytest

from creneau.booking.models import Series
from creneau.booking.services import booking_confirm, hold_create
from creneau.core.errors import NotEligible
from creneau.eligibility.models import EligibilityRule, paris_midnight
from creneau.eligibility.selectors import (
    Candidate,
    eligibility_decide,
    open_to_all_within,
    rules_cache_clear,
    rules_proposed,
    rules_saved,
)
from creneau.geography.selectors import place_resolve
from creneau.scheduling.models import Slot
from creneau.scheduling.selectors import availability_filter_build, availability_search
from creneau.scheduling.services import session_open
from creneau.vaccines.models import Vaccine
from tests.alerts.helpers import janssen_site
from tests.factories import at, person, tomorrow, verified_contact

pytestmark = pytest.mark.django_db

# Tomorrow at 6:00: the next 24 hours run to the day after at 6:00.
NOW = at(tomorrow(), 6, 0)


@pytest.fixture
def phases(reference):
    """Only people of 75 and over in the usual phase; places starting within 24 hours
    open to every adult since yesterday."""
    EligibilityRule.objects.update(active=False)
    EligibilityRule.objects.create(
        slug="75-ans",
        name="75 ans et plus",
        explanation="Les personnes de 75 ans et plus",
        explanation_en="People aged 75 and over",
        min_age=75,
        effective_from=paris_midnight(date(2021, 1, 1)),
    )
    rule = EligibilityRule.objects.create(
        slug="24-heures",
        name="Créneaux des prochaines 24 heures",
        explanation="Les personnes de 18 ans et plus, pour un créneau dans les 24 heures",
        explanation_en="People aged 18 and over, for a place within 24 hours",
        min_age=18,
        within_hours=24,
        effective_from=paris_midnight(NOW.date() - timedelta(days=1)),
    )
    rules_cache_clear()
    yield rule
    rules_cache_clear()


def _session(site, day: date, start: time, end: time, lines: int = 1):
    return session_open(
        site=site,
        vaccine=Vaccine.objects.get(code="janssen"),
        day=day,
        start_time=start,
        end_time=end,
        lines=lines,
    )


def _decide(age: int, at: datetime | None, code: str = "janssen"):
    """Janssen is for people of 55 and over: a person of 60 is in no usual phase here."""
    return eligibility_decide(
        candidate=Candidate(birth_date=person(age=age).birth_date, categories=frozenset()),
        vaccine=Vaccine.objects.get(code=code),
        dose_number=1,
        site=None,
        on=NOW.date(),
        at=at,
        now=NOW,
    )


def test_the_rule_opens_only_places_starting_within_its_hours_to_anyone(phases):
    soon = _decide(60, NOW + timedelta(hours=5))
    assert soon.eligible and soon.rule == phases
    later = _decide(60, NOW + timedelta(hours=30))
    assert not later.eligible
    # Its reason names the usual phase only, not the rule that does not apply.
    assert "75 ans" in later.reason and "24 heures" not in later.reason
    assert not _decide(60, None).eligible  # a question, not a place
    # The rule's own age (Comirnaty is for 12 and over).
    assert not _decide(15, NOW + timedelta(hours=5), code="comirnaty").eligible
    assert _decide(18, NOW + timedelta(hours=5), code="comirnaty").eligible
    assert _decide(80, NOW + timedelta(hours=30)).eligible
    assert open_to_all_within(now=NOW) == phases


def test_the_rule_has_an_effective_date_like_any_other(phases):
    EligibilityRule.objects.filter(pk=phases.pk).update(
        effective_from=paris_midnight(NOW.date() + timedelta(1))
    )
    rules_cache_clear()
    assert not _decide(60, NOW + timedelta(hours=5)).eligible
    assert open_to_all_within(now=NOW) is None


def test_booking_a_place_within_24_hours_is_open_to_anyone_and_a_later_one_is_not(phases):
    site = janssen_site()
    _session(site, NOW.date(), time(9, 0), time(9, 10))
    _session(site, NOW.date() + timedelta(days=2), time(9, 0), time(9, 10))
    soon, later = Slot.objects.order_by("start")
    held = hold_create(slot_id=soon.pk, now=NOW)
    booked = booking_confirm(
        hold_id=str(held.hold.pk), contact=verified_contact(), person=person(age=60), now=NOW
    )
    assert booked.series.eligibility_rule == phases
    held = hold_create(slot_id=later.pk, now=NOW)
    with pytest.raises(NotEligible):
        booking_confirm(
            hold_id=str(held.hold.pk),
            contact=verified_contact("+33611111111"),
            person=person(given_name="Paul", age=60),
            now=NOW,
        )
    assert Series.objects.count() == 1


def test_the_search_counts_only_places_starting_within_24_hours(phases):
    soon = janssen_site(name="Demain matin")
    _session(soon, NOW.date(), time(9, 0), time(10, 0), lines=2)  # 12 places
    later = janssen_site(name="Dans trois jours", north_km=1)
    _session(later, NOW.date() + timedelta(days=3), time(9, 0), time(10, 0))
    # The day after: two places before 6:00 (in the window), six after.
    both = janssen_site(name="Après-demain", north_km=2)
    _session(both, NOW.date() + timedelta(days=1), time(5, 0), time(5, 20))
    _session(both, NOW.date() + timedelta(days=1), time(9, 0), time(10, 0))
    origin = place_resolve(query="75017").position

    wanted = availability_filter_build(within_24h=True, now=NOW)
    assert wanted.starts_before == NOW + timedelta(hours=24)
    found = {
        r.site.name: r.available_slots
        for r in availability_search(origin=origin, wanted=wanted, now=NOW)
    }
    assert found == {"Demain matin": 12, "Après-demain": 2, "Dans trois jours": 0}
    everything = availability_search(origin=origin, wanted=availability_filter_build(), now=NOW)
    assert {r.site.name: r.available_slots for r in everything}["Après-demain"] == 8


def test_the_api_takes_within_24h_and_says_the_places_are_open_to_all(client, phases):
    site = janssen_site()
    _session(site, date.today() + timedelta(days=5), time(9, 0), time(10, 0))
    answer = client.get("/api/v1/sites", {"near": "75017", "within_24h": "true"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["starts_before"] is not None
    assert body["open_to_all"]["rule"] == "Créneaux des prochaines 24 heures"
    assert body["open_to_all"]["within_hours"] == 24
    assert [r["available_slots"] for r in body["results"]] == [0]
    plain = client.get("/api/v1/sites", {"near": "75017"}).json()
    assert plain["starts_before"] is None and plain["open_to_all"] is None
    assert [r["available_slots"] for r in plain["results"]] == [6]
    assert (
        client.get("/api/v1/sites", {"near": "75017", "within_24h": "bientot"}).status_code == 422
    )
    schema = client.get("/api/v1/openapi.json").json()
    parameters = schema["paths"]["/api/v1/sites"]["get"]["parameters"]
    assert "within_24h" in {parameter["name"] for parameter in parameters}


def test_the_portal_filter_says_whether_the_places_are_open_to_all(client, phases):
    janssen_site()
    page = client.get("/", {"near": "75017", "within_24h": "on"}).content.decode()
    assert "Créneaux des prochaines 24 heures" in page
    assert "ouverts à tous" in page
    EligibilityRule.objects.filter(pk=phases.pk).update(active=False)
    rules_cache_clear()
    page = client.get("/", {"near": "75017", "within_24h": "on"}).content.decode()
    assert "les règles habituelles d'éligibilité s'appliquent" in page


def test_the_authoritys_preview_decides_a_rule_for_places_soon_as_booking_will(phases):
    """`rules_proposed` carries the hours typed: the preview and booking ask one method."""
    saved = rules_saved()
    shorter = EligibilityRule.objects.get(pk=phases.pk)
    shorter.within_hours = 2
    proposed = rules_proposed(rule=shorter, categories=(), vaccine_ids=(), base=saved)
    facts = dict(
        candidate=Candidate(birth_date=person(age=60).birth_date, categories=frozenset()),
        vaccine=Vaccine.objects.get(code="janssen"),
        dose_number=1,
        site=None,
        on=NOW.date(),
        now=NOW,
    )
    assert saved.decide(**facts, at=NOW + timedelta(hours=5)).eligible
    assert not proposed.decide(**facts, at=NOW + timedelta(hours=5)).eligible
    assert proposed.decide(**facts, at=NOW + timedelta(hours=1)).eligible
    # Without the decision's time, no rule for places soon answers (a question).
    assert not saved.decide(**{**facts, "now": None}, at=NOW + timedelta(hours=5)).eligible
