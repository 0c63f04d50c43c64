"""Rules written with dates become rules with hours (Paris time) that decide the same, and
go back to the same dates."""

from datetime import date, datetime

from creneau.eligibility.models import RULES_TIMEZONE, EligibilityRule
from tests.outreach.test_outbox_migration import migrate, migrate_to_latest

DATES = [("eligibility", "0001_initial")]


def test_dates_become_hours_in_paris_and_back(transactional_db):
    executor = migrate(DATES)
    Old = executor.loader.project_state(DATES).apps.get_model("eligibility", "EligibilityRule")
    Old.objects.all().delete()
    common = {"explanation": "x", "explanation_en": "x"}
    Old.objects.create(
        slug="bornee",
        name="Bornée",
        effective_from=date(2021, 1, 18),
        effective_to=date(2021, 4, 15),
        **common,
    )
    Old.objects.create(slug="ouverte", name="Ouverte", effective_from=date(2021, 6, 15), **common)

    migrate_to_latest()

    bounded, open_ended = EligibilityRule.objects.order_by("slug")
    assert bounded.effective_from == datetime(2021, 1, 18, tzinfo=RULES_TIMEZONE)
    # The last day included: until the next day at 0 h, excluded.
    assert bounded.effective_until == datetime(2021, 4, 16, tzinfo=RULES_TIMEZONE)
    assert open_ended.effective_from == datetime(2021, 6, 15, tzinfo=RULES_TIMEZONE)
    assert open_ended.effective_until is None

    executor = migrate(DATES)
    Old = executor.loader.project_state(DATES).apps.get_model("eligibility", "EligibilityRule")
    assert list(Old.objects.order_by("slug").values_list("effective_from", "effective_to")) == [
        (date(2021, 1, 18), date(2021, 4, 15)),
        (date(2021, 6, 15), None),
    ]
    migrate_to_latest()
