"""`eligibility_decide` against a brute-force reference, over random rules and people.

The reference counts birthdays one by one instead of comparing dates, and filters the
rules with plain Python sets, in the order the brief gives: the product's age limits,
the site's restriction, then any rule in force at the appointment's time that admits.
Rules open and close at any hour (Paris time), and appointments fall on either side.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creneau.eligibility.models import RULES_TIMEZONE, EligibilityRule, paris_midnight
from creneau.eligibility.selectors import Candidate, eligibility_decide, rules_cache_clear
from creneau.vaccines.models import Vaccine
from tests.factories import make_site

START = date(2021, 1, 1)
CATEGORIES = ("caregiver", "firefighter", "high_risk", "care_home_resident", "home_aide")
VACCINES = ("comirnaty", "spikevax", "vaxzevria", "janssen")


@dataclass(frozen=True)
class RuleSpec:
    min_age: int
    max_age: int | None
    categories: frozenset[str]
    vaccines: frozenset[str]
    doses: frozenset[int]
    effective_from: datetime
    effective_until: datetime | None
    active: bool


def some_of(values) -> st.SearchStrategy[frozenset]:
    """Mostly none (the rule is for any), otherwise one or two values."""
    return st.integers(0, 2).flatmap(
        lambda draw: (
            st.frozensets(st.sampled_from(values), min_size=1, max_size=2)
            if draw == 0
            else st.just(frozenset())
        )
    )


@st.composite
def rule_specs(draw) -> RuleSpec:
    min_age = draw(st.sampled_from([0, 12, 18, 50, 55, 75]) | st.integers(0, 100))
    hour = draw(st.sampled_from([0, 8, 14]) | st.integers(0, 23))
    effective_from = paris_midnight(START + timedelta(days=draw(st.integers(0, 60)))) + timedelta(
        hours=hour
    )
    hours = st.integers(1, 60 * 24).map(lambda count: timedelta(hours=count))
    return RuleSpec(
        min_age=min_age,
        max_age=draw(st.none() | st.integers(min_age, min_age + 60)),
        categories=draw(some_of(CATEGORIES)),
        vaccines=draw(some_of(VACCINES)),
        doses=draw(some_of((1, 2, 3))),
        effective_from=effective_from,
        effective_until=draw(st.none() | hours.map(effective_from.__add__)),
        active=draw(st.booleans() | st.just(True)),
    )


def reference_age(birth_date: date, on: date) -> int:
    years = 0
    while True:
        year = birth_date.year + years + 1
        try:
            birthday = birth_date.replace(year=year)
        except ValueError:  # 29 February in a common year: the next day.
            birthday = date(year, 3, 1)
        if birthday > on:
            return years
        years += 1


def reference_decide(*, specs, candidate, vaccine, dose_number, restricted_to, on, at):
    """(code, indexes of the specs that admit)."""
    age = reference_age(candidate.birth_date, on)
    if age < vaccine.min_age or (vaccine.max_age is not None and age > vaccine.max_age):
        return "vaccine_age", set()
    if restricted_to and not set(restricted_to) & candidate.categories:
        return "site_restricted", set()
    admitting = {
        index
        for index, spec in enumerate(specs)
        if spec.active
        and spec.effective_from <= at
        and (spec.effective_until is None or at < spec.effective_until)
        and (not spec.vaccines or vaccine.code in spec.vaccines)
        and (not spec.doses or dose_number in spec.doses)
        and spec.min_age <= age
        and (spec.max_age is None or age <= spec.max_age)
        and (not spec.categories or spec.categories & candidate.categories)
    }
    return ("eligible" if admitting else "not_eligible"), admitting


def born(draw, *, age: int, on: date) -> date:
    """Born `age` years before `on`: on the birthday, the day around it, or any day."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([date(1944, 2, 29), date(1956, 2, 29), date(2004, 2, 29)]))
    birthday = on.replace(year=on.year - age, day=28 if (on.month, on.day) == (2, 29) else on.day)
    shift = draw(st.sampled_from([-1, 0, 1]) | st.integers(0, 365))
    return min(birthday - timedelta(days=shift), on)


def local_day(at: datetime) -> date:
    return at.astimezone(RULES_TIMEZONE).date()


@dataclass(frozen=True)
class Scenario:
    specs: list[RuleSpec]
    birth_date: date
    at: datetime
    categories: frozenset[str]
    vaccine_code: str
    dose_number: int
    restricted_to: list[str]


@st.composite
def scenarios(draw) -> Scenario:
    """Rules and a person; half the time a person cut to fit one rule, or nearly."""
    specs = draw(st.lists(rule_specs(), min_size=1, max_size=6))
    restricted_to = sorted(draw(some_of(CATEGORIES)))
    if draw(st.booleans()):
        at = paris_midnight(START + timedelta(days=draw(st.integers(0, 120)))) + timedelta(
            minutes=draw(st.integers(0, 24 * 60 - 1))
        )
        return Scenario(
            specs=specs,
            birth_date=born(draw, age=draw(st.integers(0, 110)), on=local_day(at)),
            at=at,
            categories=draw(some_of(CATEGORIES)),
            vaccine_code=draw(st.sampled_from(VACCINES)),
            dose_number=draw(st.integers(1, 3)),
            restricted_to=restricted_to,
        )
    spec = draw(st.sampled_from(specs))
    # Each bound, the minute either side of it, or anywhere between.
    first = spec.effective_from
    last = spec.effective_until or spec.effective_from + timedelta(days=30)
    minute = timedelta(minutes=1)
    at = draw(
        st.sampled_from([first - minute, first, last - minute, last])
        | st.integers(0, int((last - first) / minute)).map(lambda count: first + count * minute)
    )
    on = local_day(at)
    youngest, oldest = spec.min_age, min(spec.max_age or 110, 110)
    age = draw(
        st.sampled_from([max(youngest - 1, 0), youngest, oldest, oldest + 1])
        | st.integers(youngest, oldest)
    )
    return Scenario(
        specs=specs,
        birth_date=born(draw, age=age, on=on),
        at=at,
        categories=draw(
            st.just(spec.categories)
            | st.sampled_from(sorted(spec.categories or CATEGORIES)).map(lambda code: {code})
            | some_of(CATEGORIES)
        ),
        vaccine_code=draw(st.sampled_from(sorted(spec.vaccines or VACCINES))),
        dose_number=draw(st.sampled_from(sorted(spec.doses or {1, 2, 3}))),
        restricted_to=restricted_to,
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_decisions_agree_with_a_brute_force_reading_of_the_rules(reference, scenario):
    EligibilityRule.objects.all().delete()
    rules = []
    for index, spec in enumerate(scenario.specs):
        rule = EligibilityRule.objects.create(
            name=f"Règle {index}",
            slug=f"regle-{index}",
            explanation=f"Règle {index}",
            explanation_en="",
            min_age=spec.min_age,
            max_age=spec.max_age,
            dose_numbers=sorted(spec.doses),
            effective_from=spec.effective_from,
            effective_until=spec.effective_until,
            active=spec.active,
        )
        rule.categories.set(spec.categories)
        rule.vaccines.set(Vaccine.objects.filter(code__in=spec.vaccines))
        rules.append(rule)
    rules_cache_clear()
    vaccine = Vaccine.objects.get(code=scenario.vaccine_code)
    site = make_site(restricted_to=scenario.restricted_to)
    candidate = Candidate(birth_date=scenario.birth_date, categories=scenario.categories)

    decision = eligibility_decide(
        candidate=candidate,
        vaccine=vaccine,
        dose_number=scenario.dose_number,
        site=site,
        on=local_day(scenario.at),
        at=scenario.at,
    )

    code, admitting = reference_decide(
        specs=scenario.specs,
        candidate=candidate,
        vaccine=vaccine,
        dose_number=scenario.dose_number,
        restricted_to=scenario.restricted_to,
        on=local_day(scenario.at),
        at=scenario.at,
    )
    assert decision.code == code, decision.reason
    assert decision.eligible is (code == "eligible")
    if admitting:
        # The earliest rule in force among those that admit.
        first = min(admitting, key=lambda index: (scenario.specs[index].effective_from, index))
        assert decision.rule == rules[first]
    else:
        assert decision.rule is None
    assert decision.reason
