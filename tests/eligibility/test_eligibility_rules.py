from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from creneau.core.errors import InvalidInput, NotEligible, SiteRestricted
from creneau.eligibility import selectors
from creneau.eligibility.models import Category, EligibilityRule, paris_midnight
from creneau.eligibility.selectors import (
    RULES_CACHE_SECONDS,
    Candidate,
    categories_validate,
    category_list,
    eligibility_decide,
    eligibility_require,
    rules_cache_clear,
    rules_in_force,
)
from creneau.eligibility.services import eligibility_seed
from tests.factories import make_site, vaccine

ON = date(2021, 3, 12)
CATEGORY_CODES = {"caregiver", "firefighter", "high_risk", "care_home_resident", "home_aide"}


@pytest.fixture
def no_rules(reference):
    """Categories but no rule at all: each test writes the rules it needs."""
    EligibilityRule.objects.all().delete()
    rules_cache_clear()
    yield
    rules_cache_clear()


@pytest.fixture
def site(reference):
    return make_site()


def add_rule(
    *, categories=(), vaccines=(), effective_from=date(2021, 1, 1), effective_to=None, **fields
) -> EligibilityRule:
    """A rule from day `effective_from` at 0 h to day `effective_to` included (Paris)."""
    name = fields.pop("name", f"Règle {EligibilityRule.objects.count() + 1}")
    rule = EligibilityRule.objects.create(
        name=name,
        slug=fields.pop("slug", f"regle-{EligibilityRule.objects.count() + 1}"),
        explanation=fields.pop("explanation", name),
        explanation_en="",
        effective_from=paris_midnight(effective_from),
        effective_until=effective_to and paris_midnight(effective_to + timedelta(days=1)),
        **fields,
    )
    rule.categories.set(categories)
    rule.vaccines.set([vaccine(code) for code in vaccines])
    rules_cache_clear()
    return rule


def person(birth_date: date, *categories: str) -> Candidate:
    return Candidate(birth_date=birth_date, categories=frozenset(categories))


def decide(candidate, site, *, code="comirnaty", dose=1, on=ON):
    return eligibility_decide(
        candidate=candidate, vaccine=vaccine(code), dose_number=dose, site=site, on=on
    )


def born_aged(age: int, on: date = ON) -> date:
    """Born on the day, `age` years before: a birthday on the appointment date."""
    return on.replace(year=on.year - age)


# Seeded data


def test_the_2021_phases_are_seeded_once_and_an_authority_edit_survives_a_new_seed(reference):
    assert {category.code for category in category_list()} == CATEGORY_CODES
    assert EligibilityRule.objects.count() == 11
    aged_75 = EligibilityRule.objects.get(slug="2021-01-75-ans")
    aged_75.min_age, aged_75.active = 80, False
    aged_75.save()
    Category.objects.filter(code="firefighter").update(label="Pompier")

    assert eligibility_seed() == 11

    assert EligibilityRule.objects.count() == 11
    assert Category.objects.count() == 5
    aged_75.refresh_from_db()
    assert (aged_75.min_age, aged_75.active) == (80, False)
    # The vocabulary ships with the code: its labels come back.
    assert Category.objects.get(code="firefighter").label == "Sapeur-pompier"
    assert set(EligibilityRule.objects.get(slug="2021-01-soignants-50-ans").categories.all()) == {
        Category.objects.get(code="caregiver"),
        Category.objects.get(code="home_aide"),
    }


@pytest.mark.parametrize(
    ("on", "age", "categories", "eligible"),
    [
        (date(2021, 1, 4), 55, ("caregiver",), True),
        (date(2021, 1, 4), 49, ("home_aide",), False),
        (date(2021, 1, 17), 80, (), False),
        (date(2021, 1, 18), 80, (), True),
        (date(2021, 1, 18), 20, ("care_home_resident",), True),
        (date(2021, 2, 24), 60, ("high_risk",), True),
        (date(2021, 3, 26), 52, ("firefighter",), False),
        (date(2021, 3, 27), 52, ("firefighter",), True),
        (date(2021, 4, 15), 62, (), False),
        (date(2021, 4, 16), 62, (), True),
        (date(2021, 5, 12), 50, (), True),
        (date(2021, 5, 30), 30, (), False),
        (date(2021, 5, 31), 18, (), True),
        (date(2021, 6, 14), 15, (), False),
        (date(2021, 6, 15), 12, (), True),
        (date(2026, 3, 2), 12, (), True),
        (date(2026, 3, 2), 11, ("caregiver",), False),
    ],
)
def test_the_seeded_phases_follow_the_2021_calendar(site, on, age, categories, eligible):
    decision = decide(person(born_aged(age, on), *categories), site, on=on)
    assert decision.eligible is eligible, decision.reason


def test_with_the_seeded_phases_no_one_loses_eligibility_as_2021_goes_on(site):
    """A phase ends only when a broader one covers its people: dose 2 stays possible."""
    ages = (11, 12, 17, 18, 30, 49, 50, 59, 60, 74, 75, 90)
    declared = [(), *[(code,) for code in sorted(CATEGORY_CODES)]]
    comirnaty = vaccine()
    admitted_before: set = set()
    day = date(2021, 1, 1)
    while day <= date(2021, 12, 31):
        admitted = {
            (age, categories)
            for age in ages
            for categories in declared
            if eligibility_decide(
                candidate=person(born_aged(age, day), *categories),
                vaccine=comirnaty,
                dose_number=1,
                site=site,
                on=day,
            ).eligible
        }
        assert admitted_before <= admitted, f"{day}: {admitted_before - admitted}"
        admitted_before = admitted
        day += timedelta(days=1)
    assert (11, ()) not in admitted_before and (12, ()) in admitted_before


def test_in_the_demo_years_only_the_phase_from_12_is_in_force(site):
    assert [rule.slug for rule in rules_in_force(on=date(2026, 3, 2))] == ["2021-06-12-ans"]
    assert decide(person(date(2016, 1, 1)), site, on=date(2026, 3, 2)).code == "vaccine_age"
    on_the_eve = decide(person(date(2006, 1, 1)), site, on=date(2021, 6, 14))
    assert on_the_eve.reason == (
        "Le 14 juin 2021, la vaccination est ouverte à : les personnes de 18 ans et plus. "
        "Une personne de 15 ans sans catégorie déclarée n'y entre pas. "
        "À partir du mardi 15 juin 2021 à 0 h : les personnes de 12 ans et plus."
    )


# Age


def test_a_75th_birthday_on_the_appointment_date_counts(no_rules, site):
    add_rule(min_age=75)
    assert decide(person(date(1946, 3, 12)), site, on=date(2021, 3, 12)).eligible
    assert not decide(person(date(1946, 3, 12)), site, on=date(2021, 3, 11)).eligible
    assert not decide(person(date(1946, 3, 13)), site, on=date(2021, 3, 12)).eligible


def test_born_on_29_february_one_is_a_year_older_on_1_march(no_rules, site):
    rule = add_rule(min_age=18)
    leapling = person(date(2004, 2, 29))
    assert not decide(leapling, site, on=date(2022, 2, 28)).eligible
    assert decide(leapling, site, on=date(2022, 3, 1)).eligible
    # In a leap year the birthday itself is the day.
    EligibilityRule.objects.filter(pk=rule.pk).update(min_age=20)
    rules_cache_clear()
    assert not decide(leapling, site, on=date(2024, 2, 28)).eligible
    assert decide(leapling, site, on=date(2024, 2, 29)).eligible


def test_max_age_is_inclusive(no_rules, site):
    add_rule(min_age=50, max_age=74)
    assert decide(person(born_aged(74)), site).eligible
    assert decide(person(born_aged(50)), site).eligible
    assert not decide(person(born_aged(75)), site).eligible
    assert not decide(person(born_aged(50) + timedelta(days=1)), site).eligible


@pytest.mark.parametrize(
    ("birth_date", "message"),
    [
        (timezone.localdate() + timedelta(days=1), "dans le futur"),
        (ON + timedelta(days=1), "postérieure à la date du rendez-vous"),
        (date(1890, 3, 12), "plus de 130 ans"),
    ],
)
def test_impossible_birth_dates_are_invalid_input(reference, site, birth_date, message):
    with pytest.raises(InvalidInput) as caught:
        decide(person(birth_date), site)
    assert message in caught.value.message


def test_a_dose_number_out_of_range_is_invalid_input(reference, site):
    with pytest.raises(InvalidInput):
        decide(person(date(1950, 1, 1)), site, dose=0)


# Categories and sites


def test_a_category_rule_needs_one_of_its_categories(no_rules, site):
    add_rule(min_age=50, categories=["caregiver", "home_aide"])
    assert decide(person(born_aged(50), "home_aide"), site).eligible
    assert decide(person(born_aged(60), "caregiver", "firefighter"), site).eligible
    assert not decide(person(born_aged(60), "firefighter"), site).eligible
    assert not decide(person(born_aged(60)), site).eligible
    assert not decide(person(born_aged(49), "caregiver"), site).eligible


def test_a_restricted_site_takes_only_its_categories(no_rules, reference):
    add_rule(min_age=18)
    firefighters_only = make_site(restricted_to=["firefighter"])

    refused = decide(person(born_aged(40), "caregiver"), firefighters_only)
    assert (refused.eligible, refused.code) == (False, "site_restricted")
    assert refused.reason == "Ce lieu est réservé aux : Sapeur-pompier."
    with pytest.raises(SiteRestricted) as caught:
        eligibility_require(
            candidate=person(born_aged(40)),
            vaccine=vaccine(),
            dose_number=1,
            site=firefighters_only,
            on=ON,
        )
    assert caught.value.details["rule"] is None

    assert decide(person(born_aged(40), "firefighter"), firefighters_only).eligible
    # The site's restriction narrows the rules; it never admits on its own.
    too_young = decide(person(born_aged(16), "firefighter"), firefighters_only)
    assert too_young.code == "not_eligible"


def test_a_site_restricted_to_several_categories_names_them_all(no_rules, reference):
    add_rule(min_age=18)
    site = make_site(restricted_to=["home_aide", "caregiver"])
    refused = decide(person(born_aged(40), "firefighter"), site)
    assert refused.reason == (
        "Ce lieu est réservé aux : Professionnel·le de santé ou du médico-social, Aide à domicile."
    )


def test_categories_validate_accepts_known_codes_and_lists_them_otherwise(reference):
    assert categories_validate(codes=[" Caregiver", "firefighter", "caregiver"]) == {
        "caregiver",
        "firefighter",
    }
    assert categories_validate(codes=[]) == frozenset()
    with pytest.raises(InvalidInput) as caught:
        categories_validate(codes=["caregiver", "astronaut"])
    assert "« astronaut »" in caught.value.message
    assert "caregiver, home_aide, high_risk, care_home_resident, firefighter" in (
        caught.value.message
    )
    assert caught.value.details["unknown"] == ["astronaut"]
    assert set(caught.value.details["known"]) == CATEGORY_CODES
    with pytest.raises(InvalidInput):
        categories_validate(codes=[3])
    with pytest.raises(InvalidInput) as caught:
        categories_validate(codes=["x" * 10_000])
    assert len(caught.value.message) < 300


# Vaccine, dose, dates


def test_the_vaccine_age_limits_come_first(no_rules, reference):
    add_rule(min_age=18)
    firefighters_only = make_site(restricted_to=["firefighter"])

    refused = decide(person(born_aged(40)), firefighters_only, code="vaxzevria")
    assert (refused.eligible, refused.code) == (False, "vaccine_age")
    assert refused.reason == (
        "Le vaccin Vaxzevria est réservé aux personnes de 55 ans et plus ; "
        "le 12 mars 2021, cette personne a 40 ans."
    )
    with pytest.raises(NotEligible) as caught:
        eligibility_require(
            candidate=person(born_aged(54)),
            vaccine=vaccine("vaxzevria"),
            dose_number=1,
            site=make_site(),
            on=ON,
        )
    assert "Vaxzevria" in caught.value.message
    assert caught.value.details == {"rule": None, "refusal": "vaccine_age"}
    assert decide(
        person(born_aged(55), "firefighter"), firefighters_only, code="vaxzevria"
    ).eligible


def test_a_product_with_an_upper_age_limit_names_its_range(no_rules, site):
    add_rule(min_age=0)
    limited = vaccine("comirnaty")
    limited.min_age, limited.max_age = 18, 64
    asked = dict(vaccine=limited, dose_number=1, site=site, on=ON)
    assert eligibility_decide(candidate=person(born_aged(64)), **asked).eligible
    refused = eligibility_decide(candidate=person(born_aged(65)), **asked)
    assert refused.reason == (
        "Le vaccin Comirnaty est réservé aux personnes de 18 à 64 ans ; "
        "le 12 mars 2021, cette personne a 65 ans."
    )


def test_a_rule_applies_from_its_first_day_to_its_last(no_rules, site):
    add_rule(min_age=50, effective_from=date(2021, 5, 12), effective_to=date(2021, 5, 30))
    fifty_five = person(date(1960, 1, 1))
    assert not decide(fifty_five, site, on=date(2021, 5, 11)).eligible
    assert decide(fifty_five, site, on=date(2021, 5, 12)).eligible
    assert decide(fifty_five, site, on=date(2021, 5, 30)).eligible
    ended = decide(fifty_five, site, on=date(2021, 5, 31))
    assert ended.reason == (
        "Le 31 mai 2021, la vaccination n'est ouverte à personne "
        "pour la dose 1 du vaccin Comirnaty."
    )


def test_a_rule_may_be_for_some_vaccines_and_doses(no_rules, site):
    rule = add_rule(min_age=18, vaccines=["spikevax"], dose_numbers=[2])
    adult = person(born_aged(30))
    assert decide(adult, site, code="spikevax", dose=2).rule == rule
    assert not decide(adult, site, code="spikevax", dose=1).eligible
    assert not decide(adult, site, code="comirnaty", dose=2).eligible


def test_an_inactive_rule_admits_no_one(no_rules, site):
    rule = add_rule(min_age=18, active=False)
    assert not decide(person(born_aged(30)), site).eligible
    assert rule not in rules_in_force(on=ON)
    rule.active = True
    rule.save()
    rules_cache_clear()
    assert decide(person(born_aged(30)), site).rule == rule


def test_rules_in_force_on_a_date(no_rules):
    early = add_rule(effective_from=date(2021, 1, 4), effective_to=date(2021, 3, 12))
    later = add_rule(effective_from=date(2021, 1, 18))
    add_rule(effective_from=date(2021, 3, 13))
    add_rule(effective_from=date(2021, 1, 1), effective_to=date(2021, 3, 11))
    assert rules_in_force(on=ON) == [early, later]


# What people are told


def test_a_refusal_says_who_may_be_vaccinated_that_day_and_why_not_this_person(no_rules, site):
    add_rule(
        min_age=75, explanation="Les personnes de 75 ans et plus", effective_from=date(2021, 1, 18)
    )
    add_rule(
        min_age=50,
        categories=["caregiver", "home_aide"],
        explanation="Les soignants de 50 ans et plus.",
        effective_from=date(2021, 1, 4),
    )
    add_rule(
        min_age=60,
        explanation="Les personnes de 60 ans et plus",
        effective_from=date(2021, 4, 16),
    )
    add_rule(min_age=18, explanation="Autre vaccin", vaccines=["spikevax"])
    add_rule(min_age=18, explanation="Autre dose", dose_numbers=[2])

    refused = decide(person(born_aged(62) + timedelta(days=1)), site)
    assert (refused.eligible, refused.rule, refused.code) == (False, None, "not_eligible")
    assert refused.reason == (
        "Le 12 mars 2021, la vaccination est ouverte à : les soignants de 50 ans et plus ; "
        "les personnes de 75 ans et plus. "
        "Une personne de 61 ans sans catégorie déclarée n'y entre pas. "
        # The next opening that will admit them.
        "À partir du vendredi 16 avril 2021 à 0 h : les personnes de 60 ans et plus."
    )
    assert refused.opening.at == paris_midnight(date(2021, 4, 16))
    declared = decide(person(born_aged(45), "firefighter", "high_risk"), site)
    assert declared.reason.endswith(
        "Une personne de 45 ans déclarée « Personne à haut risque (pathologie à risque de forme "
        "grave) » et « Sapeur-pompier » n'y entre pas."
    )
    with pytest.raises(NotEligible) as caught:
        eligibility_require(
            candidate=person(born_aged(62)), vaccine=vaccine(), dose_number=1, site=site, on=ON
        )
    assert caught.value.message == decide(person(born_aged(62)), site).reason
    assert caught.value.details == {"rule": None, "refusal": "not_eligible"}


def test_an_admission_names_the_rule_that_admits(no_rules, site):
    rule = add_rule(
        name="Personnes de 75 ans et plus",
        min_age=75,
        explanation="Les personnes de 75 ans et plus",
    )
    decision = decide(person(date(1940, 1, 1)), site)
    assert (decision.eligible, decision.rule, decision.code) == (True, rule, "eligible")
    assert decision.reason == (
        "Le 12 mars 2021, la vaccination est ouverte à cette personne : "
        "les personnes de 75 ans et plus (règle « Personnes de 75 ans et plus »)."
    )
    assert (
        eligibility_require(
            candidate=person(date(1940, 1, 1)), vaccine=vaccine(), dose_number=1, site=site, on=ON
        )
        == rule
    )


# Cache


def test_a_warm_decision_makes_no_query(reference, site, django_assert_max_num_queries):
    rules_cache_clear()
    asked = dict(
        candidate=person(date(1980, 1, 1)),
        vaccine=vaccine(),
        dose_number=1,
        site=site,
        on=date(2026, 3, 2),
    )
    # The categories, the active rules, and their categories and vaccines.
    with django_assert_max_num_queries(4):
        assert eligibility_decide(**asked).eligible
    with django_assert_max_num_queries(0):
        assert eligibility_decide(**asked).eligible
        assert eligibility_require(**asked).slug == "2021-06-12-ans"
        categories_validate(codes=["caregiver"])
        rules_in_force(on=ON)


def test_a_rule_change_reaches_a_process_within_the_cache_lifetime(no_rules, site, monkeypatch):
    add_rule(min_age=75)
    adult = person(born_aged(30))
    assert not decide(adult, site).eligible
    EligibilityRule.objects.update(min_age=18)
    assert not decide(adult, site).eligible, "served from the cache"

    later = selectors.monotonic() + RULES_CACHE_SECONDS
    monkeypatch.setattr(selectors, "monotonic", lambda: later)
    assert decide(adult, site).eligible


def test_a_rule_saved_in_the_admin_applies_at_once_in_that_process(
    no_rules, site, admin_client, django_capture_on_commit_callbacks
):
    adult = person(born_aged(30))
    assert not decide(adult, site).eligible
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client.post(
            "/admin/eligibility/eligibilityrule/add/",
            {
                "name": "Adultes soignants",
                "slug": "adultes-soignants",
                "active": "on",
                "explanation": "Les soignants majeurs",
                "explanation_en": "Adult caregivers",
                "min_age": "18",
                "max_age": "",
                "categories": ["caregiver"],
                "vaccines": [],
                "dose_numbers": "[1, 2]",
                "effective_from_0": "2021-01-04",
                "effective_from_1": "00:00:00",
                "effective_until_0": "",
                "effective_until_1": "",
            },
        )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert decide(person(born_aged(30), "caregiver"), site).rule.slug == "adultes-soignants"


def test_the_admin_refuses_dose_numbers_that_are_not_a_list_of_doses(no_rules, admin_client):
    answer = admin_client.post(
        "/admin/eligibility/eligibilityrule/add/",
        {
            "name": "Mauvaises doses",
            "slug": "mauvaises-doses",
            "explanation": "x",
            "explanation_en": "x",
            "min_age": "0",
            "dose_numbers": '["1"]',
            "effective_from_0": "2021-01-04",
            "effective_from_1": "00:00:00",
        },
    )
    assert answer.status_code == 200
    assert not EligibilityRule.objects.exists()


def test_the_admin_pages_open(reference, admin_client):
    for path in (
        "/admin/eligibility/eligibilityrule/",
        "/admin/eligibility/eligibilityrule/add/",
        f"/admin/eligibility/eligibilityrule/{EligibilityRule.objects.first().pk}/change/",
        "/admin/eligibility/category/",
        "/admin/eligibility/category/caregiver/change/",
    ):
        assert admin_client.get(path).status_code == 200, path


# Database constraints


@pytest.mark.parametrize(
    "fields",
    [
        dict(min_age=50, max_age=49),
        dict(
            effective_from=paris_midnight(date(2021, 5, 12)),
            effective_until=paris_midnight(date(2021, 5, 11)),
        ),
        # An empty period: the end is excluded.
        dict(effective_until=paris_midnight(date(2021, 1, 1))),
    ],
)
def test_the_database_refuses_inverted_ranges(no_rules, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        EligibilityRule.objects.create(
            name="x",
            slug="x",
            explanation="x",
            explanation_en="x",
            **{"effective_from": paris_midnight(date(2021, 1, 1)), **fields},
        )


@pytest.mark.parametrize("doses", [["1"], [0], [4], 1, [True]])
def test_dose_numbers_must_be_a_list_of_dose_numbers(doses):
    rule = EligibilityRule(dose_numbers=doses)
    with pytest.raises(ValidationError) as caught:
        rule.clean()
    assert "dose_numbers" in caught.value.message_dict
