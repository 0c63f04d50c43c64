"""Who may be vaccinated, with which dose, where and when: the one decision every door asks.

The booking API, the public pages and the call centre all call `eligibility_decide` (or
`eligibility_require`), so that a person is told the same thing whichever door they use
(invariant 6).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from time import monotonic
from typing import Literal

from django.utils import formats, timezone, translation
from django.utils.translation import gettext, ngettext, pgettext

from creneau.core.errors import InvalidInput, NotEligible, SiteRestricted
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

from .models import MAX_DOSE_NUMBER, Category, EligibilityRule

MAX_AGE = 130
# Booking asks for a decision hundreds of times a second; the rules change weekly at most.
# Each process keeps the active rules this long: a rule edited in the admin reaches every
# process within RULES_CACHE_SECONDS (the process that saved it sees it at once, and so
# does a process that runs `eligibility_seed`).
RULES_CACHE_SECONDS = 30

DecisionCode = Literal["eligible", "not_eligible", "vaccine_age", "site_restricted"]


@dataclass(frozen=True)
class Candidate:
    birth_date: date
    categories: frozenset[str]


@dataclass(frozen=True)
class Decision:
    eligible: bool
    # The rule that admits the person; None when refused.
    rule: EligibilityRule | None
    code: DecisionCode
    reason: str


@dataclass(frozen=True)
class _Rule:
    """An active rule with its many-to-many fields as sets, ready to be matched."""

    rule: EligibilityRule
    categories: frozenset[str]
    vaccine_ids: frozenset[int]
    dose_numbers: frozenset[int]

    def in_force(self, on: date) -> bool:
        rule = self.rule
        return rule.effective_from <= on and (rule.effective_to is None or on <= rule.effective_to)

    def covers(self, *, vaccine_id: int, dose_number: int, hours_ahead: float | None) -> bool:
        """`hours_ahead`: how soon the place starts (None: not a place, a question)."""
        within = self.rule.within_hours
        return (
            (not self.vaccine_ids or vaccine_id in self.vaccine_ids)
            and (not self.dose_numbers or dose_number in self.dose_numbers)
            and (within is None or (hours_ahead is not None and 0 <= hours_ahead <= within))
        )

    def admits(self, *, age: int, categories: frozenset[str]) -> bool:
        rule = self.rule
        return (
            rule.min_age <= age
            and (rule.max_age is None or age <= rule.max_age)
            and (not self.categories or not self.categories.isdisjoint(categories))
        )


@dataclass(frozen=True)
class _Snapshot:
    categories: tuple[Category, ...]
    labels: dict[str, str]
    rules: tuple[_Rule, ...]


def _snapshot_load() -> _Snapshot:
    """The category vocabulary and every active rule: four queries."""
    categories = tuple(Category.objects.all())
    rules = tuple(
        _Rule(
            rule=rule,
            categories=frozenset(category.code for category in rule.categories.all()),
            vaccine_ids=frozenset(vaccine.pk for vaccine in rule.vaccines.all()),
            dose_numbers=frozenset(rule.dose_numbers),
        )
        for rule in EligibilityRule.objects.filter(active=True)
        .order_by("effective_from", "pk")
        .prefetch_related("categories", "vaccines")
    )
    return _Snapshot(
        categories=categories,
        labels={category.code: category.label for category in categories},
        rules=rules,
    )


class _SnapshotCache:
    """One snapshot per process, replaced whole: readers never see half of a reload.

    Two threads that find it expired at once both reload; the last one wins, harmlessly.
    """

    def __init__(self) -> None:
        self._entry: tuple[float, _Snapshot] | None = None

    def get(self) -> _Snapshot:
        entry = self._entry
        now = monotonic()
        if entry is not None and now < entry[0]:
            return entry[1]
        snapshot = _snapshot_load()
        self._entry = (now + RULES_CACHE_SECONDS, snapshot)
        return snapshot

    def clear(self) -> None:
        self._entry = None


_cache = _SnapshotCache()


def rules_cache_clear() -> None:
    """Forget this process's rules, so that the next decision reads the database."""
    _cache.clear()


def category_list() -> list[Category]:
    return list(_cache.get().categories)


def category_labels(*, codes: Iterable[str]) -> list[str]:
    """What a site's restriction says in words: its categories' labels in the active
    language, in the vocabulary's order."""
    return _labels(_cache.get(), frozenset(codes))


def rules_in_force(*, on: date) -> list[EligibilityRule]:
    """Active rules in force on a date, for every vaccine and dose, earliest first."""
    return [rule.rule for rule in _cache.get().rules if rule.in_force(on)]


def open_to_all_within(
    *, now: datetime | None = None, vaccine: Vaccine | None = None
) -> EligibilityRule | None:
    """The rule in force today that opens places starting soon to anyone (no category, a
    `within_hours`), widest first: what a "dans les 24 heures" search says. None when the
    places near that start follow the usual rules."""
    today = timezone.localdate(now or timezone.now())
    rules = [
        rule
        for rule in _cache.get().rules
        if rule.in_force(today)
        and rule.rule.within_hours is not None
        and not rule.categories
        and (vaccine is None or not rule.vaccine_ids or vaccine.pk in rule.vaccine_ids)
        and (not rule.dose_numbers or 1 in rule.dose_numbers)
    ]
    rules.sort(key=lambda rule: -rule.rule.within_hours)
    return rules[0].rule if rules else None


def categories_validate(*, codes: Iterable[str]) -> frozenset[str]:
    """Declared category codes, checked against the vocabulary."""
    known = _cache.get().labels
    given = set()
    for code in codes:
        if not isinstance(code, str):
            raise InvalidInput(
                gettext("Une catégorie est un code en lettres, par exemple « caregiver ».")
            )
        given.add(code.strip().lower())
    unknown = sorted(given - known.keys())
    if unknown:
        shown = ", ".join(
            pgettext("quoted", "« %(text)s »") % {"text": code[:40]} for code in unknown[:5]
        )
        raise InvalidInput(
            ngettext(
                "Catégorie inconnue : %(unknown)s. Catégories possibles : %(known)s.",
                "Catégories inconnues : %(unknown)s. Catégories possibles : %(known)s.",
                len(unknown),
            )
            % {"unknown": shown, "known": ", ".join(known)},
            unknown=[code[:40] for code in unknown[:5]],
            known=list(known),
        )
    return frozenset(given)


def eligibility_decide(
    *,
    candidate: Candidate,
    vaccine: Vaccine,
    dose_number: int,
    site: Site | None,
    on: date,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> Decision:
    """May this person have this dose of this vaccine at this site on this date, and why.

    In order: the product's own age limits, the site's restriction to some categories,
    then the rules in force on the appointment date. Usually no query at all.
    `starts_at`: the place's start, for rules that open only places starting soon
    (`within_hours`, counted from `now`); without it, such rules admit nobody.
    """
    hours_ahead = (
        (starts_at - (now or timezone.now())).total_seconds() / 3600 if starts_at else None
    )
    age = _age_checked(birth_date=candidate.birth_date, on=on)
    if not 1 <= dose_number <= MAX_DOSE_NUMBER:
        raise InvalidInput(gettext("La dose va de 1 à %(max)d.") % {"max": MAX_DOSE_NUMBER})
    day = _spoken_date(on)
    # Rules and categories carry their English wording beside the French one.
    english = (translation.get_language() or "").startswith("en")

    if age < vaccine.min_age or (vaccine.max_age is not None and age > vaccine.max_age):
        return Decision(
            eligible=False,
            rule=None,
            code="vaccine_age",
            reason=gettext(
                "Le vaccin %(vaccine)s est réservé aux personnes %(ages)s ; "
                "le %(day)s, cette personne a %(age)s."
            )
            % {
                "vaccine": vaccine.name,
                "ages": _age_range(vaccine.min_age, vaccine.max_age),
                "day": day,
                "age": _years(age),
            },
        )

    snapshot = _cache.get()
    # Without a site (the public questionnaire), no site restriction applies.
    restricted = frozenset(site.restricted_to or ()) if site is not None else frozenset()
    if restricted and restricted.isdisjoint(candidate.categories):
        return Decision(
            eligible=False,
            rule=None,
            code="site_restricted",
            reason=gettext("Ce lieu est réservé aux : %(categories)s.")
            % {"categories": ", ".join(_labels(snapshot, restricted))},
        )

    in_force = [
        rule
        for rule in snapshot.rules
        if rule.in_force(on)
        and rule.covers(vaccine_id=vaccine.pk, dose_number=dose_number, hours_ahead=hours_ahead)
    ]
    for rule in in_force:
        if rule.admits(age=age, categories=candidate.categories):
            return Decision(
                eligible=True,
                rule=rule.rule,
                code="eligible",
                reason=gettext(
                    "Le %(day)s, la vaccination est ouverte à cette personne : "
                    "%(open_to)s (règle « %(rule)s »)."
                )
                % {
                    "day": day,
                    "open_to": _phrase(
                        (english and rule.rule.explanation_en) or rule.rule.explanation
                    ),
                    "rule": rule.rule.name,
                },
            )

    if not in_force:
        reason = gettext(
            "Le %(day)s, la vaccination n'est ouverte à personne "
            "pour la dose %(dose)d du vaccin %(vaccine)s."
        ) % {"day": day, "dose": dose_number, "vaccine": vaccine.name}
    else:
        # Several rules may share an explanation: say each once, in order.
        open_to = pgettext("between groups of people", " ; ").join(
            dict.fromkeys(
                _phrase((english and rule.rule.explanation_en) or rule.rule.explanation)
                for rule in in_force
            )
        )
        reason = gettext(
            "Le %(day)s, la vaccination est ouverte à : %(open_to)s. %(person)s n'y entre pas."
        ) % {
            "day": day,
            "open_to": open_to,
            "person": _person(snapshot, age=age, categories=candidate.categories),
        }
    return Decision(eligible=False, rule=None, code="not_eligible", reason=reason)


def eligibility_require(
    *,
    candidate: Candidate,
    vaccine: Vaccine,
    dose_number: int,
    site: Site,
    on: date,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> EligibilityRule:
    """The rule that admits this person, or the refusal as a domain error."""
    decision = eligibility_decide(
        candidate=candidate,
        vaccine=vaccine,
        dose_number=dose_number,
        site=site,
        on=on,
        starts_at=starts_at,
        now=now,
    )
    if decision.rule is not None:
        return decision.rule
    error = SiteRestricted if decision.code == "site_restricted" else NotEligible
    raise error(decision.reason, rule=None, refusal=decision.code)


def _age_checked(*, birth_date: date, on: date) -> int:
    if birth_date > timezone.localdate():
        raise InvalidInput(gettext("La date de naissance est dans le futur."))
    if birth_date > on:
        raise InvalidInput(
            gettext("La date de naissance est postérieure à la date du rendez-vous.")
        )
    # Completed years. Born on 29 February, one turns a year older on 1 March in common
    # years: comparing (month, day) pairs gives that with no special case.
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    if age > MAX_AGE:
        raise InvalidInput(
            gettext(
                "Cette date de naissance donne plus de %(max)d ans : vérifiez-la, s'il vous plaît."
            )
            % {"max": MAX_AGE}
        )
    return age


def _spoken_date(day: date) -> str:
    """« 1er mars 2021 », « 12 mars 2021 » in French; "1 March 2021" in English."""
    if day.day == 1:
        # Translators: a Django date format (j: day, F: month name, Y: year) for the first
        # day of a month; a backslash keeps the next letter as it is ("1er" in French).
        return formats.date_format(day, pgettext("first day of a month", "j\\e\\r F Y"))
    # Translators: a Django date format (j: day, F: month name, Y: year).
    return formats.date_format(day, pgettext("day of a month", "j F Y"))


def _years(age: int) -> str:
    if age == 0:
        return gettext("moins d'un an")
    return ngettext("%(age)d an", "%(age)d ans", age) % {"age": age}


def _age_range(min_age: int, max_age: int | None) -> str:
    if max_age is None:
        # Translators: ends « Le vaccin X est réservé aux personnes … », e.g. « de 55 ans et plus ».
        return gettext("de %(age)s et plus") % {"age": _years(min_age)}
    if min_age == 0:
        return gettext("de %(age)s ou moins") % {"age": _years(max_age)}
    return gettext("de %(min)d à %(max)s") % {"min": min_age, "max": _years(max_age)}


def _phrase(explanation: str) -> str:
    """« Les personnes de 75 ans et plus. » as it reads inside a sentence."""
    text = explanation.strip().rstrip(".").strip()
    # An explanation that starts with an acronym (« USLD : … ») keeps its capitals.
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _labels(snapshot: _Snapshot, codes: frozenset[str]) -> list[str]:
    """Labels in the vocabulary's order; a code missing from it is shown as it is."""
    english = (translation.get_language() or "").startswith("en")
    known = [
        (english and category.label_en) or category.label
        for category in snapshot.categories
        if category.code in codes
    ]
    return known + sorted(code for code in codes if code not in snapshot.labels)


def _person(snapshot: _Snapshot, *, age: int, categories: frozenset[str]) -> str:
    if not categories:
        return gettext("Une personne de %(age)s sans catégorie déclarée") % {"age": _years(age)}
    quoted = [
        pgettext("quoted", "« %(text)s »") % {"text": label}
        for label in _labels(snapshot, categories)
    ]
    declared = (
        quoted[0]
        if len(quoted) == 1
        else gettext("%(others)s et %(last)s")
        % {"others": ", ".join(quoted[:-1]), "last": quoted[-1]}
    )
    return gettext("Une personne de %(age)s déclarée %(declared)s") % {
        "age": _years(age),
        "declared": declared,
    }
