"""Two authorities saving the same rule at once, on SQLite and PostgreSQL: both changes
are recorded, each against the state it replaced (the row is locked first)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.eligibility.models import EligibilityRule
from creneau.eligibility.selectors import RuleDraft
from creneau.eligibility.services import rule_create, rule_update
from tests.concurrency.racers import race_threads
from tests.factories import STAFF

pytestmark = pytest.mark.concurrency


def draft(min_age: int, opens) -> RuleDraft:
    return RuleDraft(
        name="Phase",
        explanation="Les personnes âgées",
        explanation_en="",
        min_age=min_age,
        max_age=None,
        categories=(),
        vaccine_ids=(),
        dose_numbers=(),
        effective_from=opens,
        effective_until=None,
    )


def test_two_authorities_changing_a_rule_at_once_each_record_what_they_replaced(
    reference_committed,
):
    opens = timezone.now() + timedelta(days=3)
    rule = rule_create(actor=STAFF, draft=draft(75, opens))
    ages = (70, 65)
    results = race_threads(
        2, lambda index: rule_update(actor=STAFF, rule_id=rule.pk, draft=draft(ages[index], opens))
    )
    assert not [result for result in results if isinstance(result, Exception)], results
    changes = list(AuditEvent.objects.filter(action="change").order_by("pk"))
    assert len(changes) == 2
    first, second = (
        (event.details["before"]["min_age"], event.details["after"]["min_age"]) for event in changes
    )
    # A chain, not two changes of the same state: 75 → a, then a → b.
    assert first[0] == 75 and second[0] == first[1]
    assert EligibilityRule.objects.get(pk=rule.pk).min_age == second[1]
