"""Eligibility phases as an authority edits them: rules added, changed and scheduled at an
hour (Paris time), each change audited with its state before and after; the next opening
announced; bad input refused with its field and nothing changed."""

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.core.errors import InvalidInput, PastUnconfirmed
from creneau.eligibility.models import RULES_TIMEZONE, EligibilityRule
from creneau.eligibility.selectors import (
    Candidate,
    RuleDraft,
    eligibility_decide,
    opening_next,
    rules_overlapping,
    rules_proposed,
    rules_saved,
)
from creneau.eligibility.services import rule_create, rule_update, site_restriction_set
from creneau.sites.models import Site
from tests.eligibility import test_eligibility_rules
from tests.factories import STAFF, make_site, vaccine

# Pytest finds a module's fixtures by its names: no rule at all, then each test's own.
no_rules = test_eligibility_rules.no_rules


def paris(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=RULES_TIMEZONE)


def draft(**fields) -> RuleDraft:
    values = dict(
        name="Personnes de 75 ans et plus",
        explanation="Les personnes de 75 ans et plus",
        explanation_en="People aged 75 and over",
        min_age=75,
        max_age=None,
        categories=(),
        vaccine_ids=(),
        dose_numbers=(),
        effective_from=timezone.now() + timedelta(days=3),
        effective_until=None,
    )
    return RuleDraft(**{**values, **fields})


def decide(birth_date: date, at: datetime, *categories: str):
    return eligibility_decide(
        candidate=Candidate(birth_date=birth_date, categories=frozenset(categories)),
        vaccine=vaccine(),
        dose_number=1,
        site=None,
        on=at.astimezone(RULES_TIMEZONE).date(),
        at=at,
    )


def test_a_rule_created_is_audited_and_applies_at_once_in_this_process(no_rules):
    opens = timezone.now() + timedelta(hours=2)
    rule = rule_create(actor=STAFF, draft=draft(effective_from=opens))
    old = date(1940, 5, 1)
    assert not decide(old, opens - timedelta(minutes=1)).eligible
    assert decide(old, opens).rule == rule
    event = AuditEvent.objects.get(object_type="eligibility.eligibilityrule")
    assert event.action == "create" and event.object_id == str(rule.pk)
    assert event.details["before"] is None
    assert event.details["after"]["min_age"] == 75
    assert event.details["after"]["effective_from"] == opens.isoformat()


def test_a_rule_changed_keeps_its_state_before_and_after_in_the_event(no_rules):
    opens = timezone.now() + timedelta(days=3)
    rule = rule_create(actor=STAFF, draft=draft(effective_from=opens))
    comirnaty = vaccine().pk
    rule_update(
        actor=STAFF,
        rule_id=rule.pk,
        draft=draft(
            min_age=70, vaccine_ids=(comirnaty,), categories=("caregiver",), effective_from=opens
        ),
    )
    event = AuditEvent.objects.filter(action="change").get()
    assert event.details["before"]["min_age"] == 75
    assert event.details["after"]["min_age"] == 70
    assert event.details["after"]["categories"] == ["caregiver"]
    assert event.details["changed"] == ["categories", "min_age", "vaccines"]
    rule.refresh_from_db()
    assert rule.min_age == 70 and list(rule.vaccines.values_list("pk", flat=True)) == [comirnaty]


def test_a_rule_opens_and_closes_at_its_hours_in_paris_time(no_rules):
    rule_create(
        actor=STAFF,
        draft=draft(
            effective_from=paris(2031, 1, 18, 8),
            effective_until=paris(2031, 2, 1, 12, 30),
        ),
        past_confirmed=True,
    )
    old = date(1940, 5, 1)
    assert not decide(old, paris(2031, 1, 18, 7, 59)).eligible
    assert decide(old, paris(2031, 1, 18, 8)).eligible
    assert decide(old, paris(2031, 2, 1, 12, 29)).eligible
    assert not decide(old, paris(2031, 2, 1, 12, 30)).eligible


def test_a_date_already_past_asks_to_confirm_and_nothing_is_saved_until_then(no_rules):
    yesterday = timezone.now() - timedelta(days=1)
    with pytest.raises(PastUnconfirmed) as caught:
        rule_create(actor=STAFF, draft=draft(effective_from=yesterday))
    assert caught.value.details["field"] == "effective_from"
    assert not EligibilityRule.objects.exists() and not AuditEvent.objects.exists()
    rule = rule_create(actor=STAFF, draft=draft(effective_from=yesterday), past_confirmed=True)
    # Changing something else later does not ask again for the same past date.
    rule_update(actor=STAFF, rule_id=rule.pk, draft=draft(effective_from=yesterday, min_age=70))
    with pytest.raises(PastUnconfirmed) as caught:
        rule_update(
            actor=STAFF,
            rule_id=rule.pk,
            draft=draft(effective_from=yesterday, effective_until=yesterday + timedelta(hours=1)),
        )
    assert caught.value.details["field"] == "effective_until"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (dict(name="  "), "name"),
        (dict(explanation=""), "explanation"),
        (dict(min_age=131), "min_age"),
        (dict(min_age=75, max_age=74), "max_age"),
        (dict(categories=("astronaut",)), "categories"),
        (dict(vaccine_ids=(999_999,)), "vaccines"),
        (dict(dose_numbers=(4,)), "dose_numbers"),
        (
            dict(
                effective_from=paris(2031, 3, 1),
                effective_until=paris(2031, 3, 1),
            ),
            "effective_until",
        ),
    ],
)
def test_bad_input_is_refused_on_its_field_and_changes_nothing(no_rules, fields, field):
    with pytest.raises(InvalidInput) as caught:
        rule_create(actor=STAFF, draft=draft(**fields))
    assert caught.value.details["field"] == field
    assert not EligibilityRule.objects.exists() and not AuditEvent.objects.exists()


def test_overlapping_ages_are_allowed_and_named(no_rules):
    broad = rule_create(actor=STAFF, draft=draft(name="50 ans et plus", min_age=50))
    narrow = rule_create(actor=STAFF, draft=draft(name="75-80 ans", min_age=75, max_age=80))
    elsewhere = rule_create(
        actor=STAFF,
        draft=draft(name="Plus tard", effective_from=timezone.now() + timedelta(days=400)),
    )
    before = rules_saved()
    new = EligibilityRule(
        name="60-79 ans",
        min_age=60,
        max_age=79,
        effective_from=timezone.now() + timedelta(days=3),
        effective_until=timezone.now() + timedelta(days=30),
        active=True,
    )
    after = rules_proposed(rule=new, categories=(), vaccine_ids=(), base=before)
    assert set(rules_overlapping(rule=new, rules=after)) == {broad, narrow}
    assert elsewhere not in rules_overlapping(rule=new, rules=after)


def test_the_next_opening_is_said_in_words(no_rules):
    opens = paris(timezone.localdate().year + 1, 1, 18)
    rule_create(actor=STAFF, draft=draft(effective_from=opens))
    rule_create(
        actor=STAFF,
        draft=draft(
            name="Résidents",
            explanation="Les résidents d'un établissement pour personnes âgées",
            min_age=18,
            categories=("care_home_resident",),
            effective_from=opens,
        ),
    )
    rule_create(actor=STAFF, draft=draft(name="Après", effective_from=opens + timedelta(days=30)))
    opening = opening_next()
    assert opening.at == opens
    weekday = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
    assert opening.text() == (
        f"À partir du {weekday[opens.weekday()]} 18 janvier {opens.year} à 0 h : "
        "les personnes de 75 ans et plus ; "
        "les résidents d'un établissement pour personnes âgées"
    )
    assert opening_next(now=opens + timedelta(days=40)) is None


def test_a_refusal_names_the_next_opening_that_admits_the_person(no_rules):
    rule_create(
        actor=STAFF,
        draft=draft(min_age=80, effective_from=paris(2030, 1, 4)),
        past_confirmed=True,
    )
    rule_create(
        actor=STAFF,
        draft=draft(effective_from=paris(2031, 1, 18, 8, 30)),
    )
    # 74 on the day of the question, 75 by the opening: named.
    born = date(1956, 1, 10)
    refused = decide(born, paris(2031, 1, 2, 10))
    assert refused.code == "not_eligible"
    assert refused.reason.endswith(
        "À partir du samedi 18 janvier 2031 à 8 h 30 : les personnes de 75 ans et plus."
    )
    # 60: no opening ahead admits them, none is named.
    assert decide(date(1971, 1, 1), paris(2031, 1, 2, 10)).opening is None


def test_a_sites_restriction_is_audited_with_before_and_after(reference):
    site = make_site()
    site_restriction_set(actor=STAFF, site_id=site.pk, categories=["caregiver", "firefighter"])
    assert Site.objects.get(pk=site.pk).restricted_to == ["caregiver", "firefighter"]
    event = AuditEvent.objects.get()
    assert event.site == site and event.details == {
        "before": [],
        "after": ["caregiver", "firefighter"],
    }
    with pytest.raises(InvalidInput):
        site_restriction_set(actor=STAFF, site_id=site.pk, categories=["astronaut"])
    assert Site.objects.get(pk=site.pk).restricted_to == ["caregiver", "firefighter"]
    assert AuditEvent.objects.count() == 1
