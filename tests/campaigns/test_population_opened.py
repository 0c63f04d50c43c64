"""The preview of an eligibility change over the invitees: who it opens to, per
department. Counted by birth year where the year decides, person by person (sealed dates
and categories unsealed) where it does not: both ways must give the exact count."""

import random
from datetime import datetime, timedelta

from creneau.campaigns.models import Invitee
from creneau.campaigns.selectors import population_opened
from creneau.campaigns.services import population_import
from creneau.eligibility.models import RULES_TIMEZONE, EligibilityRule
from creneau.eligibility.selectors import rules_proposed, rules_saved
from tests.campaigns.conftest import csv_file, line

AT = datetime(2031, 1, 18, 8, tzinfo=RULES_TIMEZONE)
CATEGORIES = ("", "caregiver", "firefighter", "caregiver|high_risk")


def exact(before, after) -> dict[str, int]:
    """Every invitee decided from their exact age and categories."""
    counts: dict[str, int] = {}
    day = AT.date()
    for invitee in Invitee.objects.all():
        born = invitee.birth_date
        age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        categories = frozenset(invitee.categories)
        if after.open_to(age=age, categories=categories, at=AT) and not before.open_to(
            age=age, categories=categories, at=AT
        ):
            counts[invitee.department_id] = counts.get(invitee.department_id, 0) + 1
    return dict(sorted(counts.items()))


def test_without_an_extract_there_is_nothing_to_count(reference):
    rules = rules_saved()
    assert population_opened(before=rules, after=rules, at=AT) is None


def test_the_count_per_department_equals_a_person_by_person_count(reference):
    rng = random.Random(18)
    rows = []
    for number in range(300):
        # Around the ages the rules below turn on (50, 65, 75), birthdays on either side.
        age = rng.choice([49, 50, 64, 65, 74, 75, 76, 90])
        born = AT.date().replace(year=AT.year - age) + timedelta(days=rng.randint(-200, 200))
        postcode, town = rng.choice([("75017", "Paris"), ("13001", "Marseille")])
        rows.append(
            line(
                f"I{number}",
                date_naissance=born.isoformat(),
                code_postal=postcode,
                commune=town,
                categories=rng.choice(CATEGORIES),
            )
        )
    report = population_import(stream=csv_file(*rows), file_name="extrait.csv")
    assert report.rejected == 0, report.rejections[:3]
    # Before: the over-75s, and caregivers over 50. After: the over-65s, firefighters
    # over 50, and the caregivers' rule ended.
    EligibilityRule.objects.all().delete()
    for name, min_age, categories in (("75", 75, ()), ("soignants", 50, ("caregiver",))):
        rule = EligibilityRule.objects.create(
            name=name,
            slug=name,
            explanation=name,
            min_age=min_age,
            effective_from=datetime(2030, 1, 1, tzinfo=RULES_TIMEZONE),
        )
        rule.categories.set(categories)
    before = rules_saved()
    after = before
    for name, min_age, categories in (("65", 65, ()), ("pompiers", 50, ("firefighter",))):
        after = rules_proposed(
            rule=EligibilityRule(
                name=name,
                min_age=min_age,
                effective_from=AT - timedelta(hours=1),
                active=True,
            ),
            categories=categories,
            vaccine_ids=(),
            base=after,
        )
    ended = EligibilityRule.objects.get(slug="soignants")
    ended.effective_until = AT
    after = rules_proposed(rule=ended, categories=("caregiver",), vaccine_ids=(), base=after)

    opened = population_opened(before=before, after=after, at=AT)
    assert opened == exact(before, after)
    assert opened["75"] > 0 and opened["13"] > 0
    # Nothing opens to anyone when nothing changes.
    assert population_opened(before=before, after=before, at=AT) == {}
