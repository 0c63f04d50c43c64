"""The preview of an eligibility change over the bookings to come: how many the new rules
would no longer allow. Read only: every booking stays as it was."""

from datetime import timedelta

from django.utils import timezone

from creneau.booking.models import Appointment, Series
from creneau.booking.selectors import bookings_refused_by
from creneau.booking.services import Override, booking_confirm, hold_create
from creneau.eligibility.models import EligibilityRule
from creneau.eligibility.selectors import rules_cache_clear, rules_proposed, rules_saved
from tests.factories import person, two_dose_site, verified_contact

OPEN_RULE = "2021-06-12-ans"


def book(session, name: str, age: int, phone: str, *, categories=(), override=None):
    slot = session.slots.filter(booked__lt=3).order_by("start").first()
    hold = hold_create(slot_id=slot.pk).hold
    return booking_confirm(
        hold_id=hold.pk,
        contact=verified_contact(phone),
        person=person(given_name=name, age=age, categories=categories),
        override=override,
    )


def open_rule_from(age: int) -> None:
    EligibilityRule.objects.filter(slug=OPEN_RULE).update(min_age=age)
    rules_cache_clear()


def test_a_narrower_rule_counts_the_first_doses_it_would_refuse_and_cancels_none(reference):
    _site, session = two_dose_site(lines=3)
    # Booked while only the over-50s could: under an override, which no rule decides.
    open_rule_from(50)
    book(session, "Dérogée", 40, "+33633333333", override=Override(by=None, reason="Médecin"))
    open_rule_from(12)
    book(session, "Aînée", 80, "+33611111111")
    book(session, "Cadette", 40, "+33622222222")
    states = list(Appointment.objects.order_by("pk").values_list("pk", "status"))
    before = rules_saved()
    rule = EligibilityRule.objects.get(slug=OPEN_RULE)
    rule.min_age = 75
    after = rules_proposed(rule=rule, categories=(), vaccine_ids=(), base=before)

    # The 40-year-old's first dose only: not her dose 2 (booking checked dose 1), not the
    # 80-year-old, not the course booked under an override.
    assert bookings_refused_by(before=before, after=after, now=timezone.now()) == 1
    # Nothing yet to come after the slots: nothing counted.
    later = timezone.now() + timedelta(days=400)
    assert bookings_refused_by(before=before, after=after, now=later) == 0
    assert list(Appointment.objects.order_by("pk").values_list("pk", "status")) == states
    assert Series.objects.filter(status="active").count() == 3


def test_a_sites_new_restriction_counts_its_bookings_outside_it(reference):
    site, session = two_dose_site(lines=3)
    book(session, "Soignante", 50, "+33611111111", categories=("caregiver",))
    book(session, "Voisin", 50, "+33622222222")
    rules = rules_saved()
    now = timezone.now()
    for restriction, refused in ((["caregiver"], 1), (["firefighter"], 2), ([], 0)):
        assert (
            bookings_refused_by(
                before=rules, after=rules, now=now, restrictions={site.pk: restriction}
            )
            == refused
        )
