"""Who may be vaccinated, with which dose, where and when: the one decision every door asks.

The booking API, the public pages and the call centre all call `eligibility_decide` (or
`eligibility_require`), so that a person is told the same thing whichever door they use
(invariant 6).
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from time import monotonic
from typing import Literal

from django.utils import formats, timezone, translation
from django.utils.translation import gettext, ngettext, pgettext

from creneau.core.errors import (
    InvalidInput,
    NotEligible,
    NotFound,
    PastUnconfirmed,
    SiteRestricted,
)
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

from .models import MAX_DOSE_NUMBER, RULES_TIMEZONE, Category, EligibilityRule, paris_midnight

MAX_AGE = 130
# A rule for places starting soon looks at most a month ahead (its field holds far more).
MAX_WITHIN_HOURS = 720
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
class Opening:
    """A scheduled opening: from this instant, the rules that start then."""

    at: datetime
    rules: tuple[EligibilityRule, ...]

    def text(self) -> str:
        """« À partir du lundi 18 janvier à 0 h : les personnes de 75 ans et plus »."""
        english = (translation.get_language() or "").startswith("en")
        return gettext("À partir du %(moment)s : %(open_to)s") % {
            "moment": _spoken_moment(self.at),
            "open_to": _open_to(self.rules, english=english),
        }


@dataclass(frozen=True)
class Decision:
    eligible: bool
    # The rule that admits the person; None when refused.
    rule: EligibilityRule | None
    code: DecisionCode
    reason: str
    # Refused by the rules: the next scheduled opening that will admit them, if any.
    opening: Opening | None = None


@dataclass(frozen=True)
class _Rule:
    """An active rule with its many-to-many fields as sets, ready to be matched."""

    rule: EligibilityRule
    categories: frozenset[str]
    vaccine_ids: frozenset[int]
    dose_numbers: frozenset[int]

    def in_force(self, start: datetime, end: datetime) -> bool:
        """In force at some moment from `start` to `end` (both included)."""
        rule = self.rule
        return rule.effective_from <= end and (
            rule.effective_until is None or start < rule.effective_until
        )

    def covers(
        self, *, vaccine_id: int | None, dose_number: int, hours_ahead: float | None
    ) -> bool:
        """For this vaccine (None: some vaccine) and dose, at a place starting in
        `hours_ahead` hours (None: no place, a question about a day or a population, which
        a rule for places starting soon does not answer)."""
        within = self.rule.within_hours
        return (
            (vaccine_id is None or not self.vaccine_ids or vaccine_id in self.vaccine_ids)
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
class RuleSet:
    """The category vocabulary and a set of active rules: the rules in the database (what
    every decision reads), or the rules an authority is about to save (what its preview
    compares them with). Every decision is made here, by `decide`."""

    categories: tuple[Category, ...]
    labels: dict[str, str]
    rules: tuple[_Rule, ...]

    def decide(
        self,
        *,
        candidate: Candidate,
        vaccine: Vaccine,
        dose_number: int,
        site: Site | None,
        on: date,
        at: datetime | None = None,
        now: datetime | None = None,
    ) -> Decision:
        """See `eligibility_decide`."""
        hours_ahead = (at - now).total_seconds() / 3600 if at and now else None
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

        # Without a site (the public questionnaire), no site restriction applies.
        restricted = frozenset(site.restricted_to or ()) if site is not None else frozenset()
        if restricted and restricted.isdisjoint(candidate.categories):
            return Decision(
                eligible=False,
                rule=None,
                code="site_restricted",
                reason=gettext("Ce lieu est réservé aux : %(categories)s.")
                % {"categories": ", ".join(_labels(self, restricted))},
            )

        start, end = _moments(on=on, at=at)
        in_force = [
            rule
            for rule in self.rules
            if rule.in_force(start, end)
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
                        "open_to": _open_to([rule.rule], english=english),
                        "rule": rule.rule.name,
                    },
                )

        if not in_force:
            reason = gettext(
                "Le %(day)s, la vaccination n'est ouverte à personne "
                "pour la dose %(dose)d du vaccin %(vaccine)s."
            ) % {"day": day, "dose": dose_number, "vaccine": vaccine.name}
        else:
            reason = gettext(
                "Le %(day)s, la vaccination est ouverte à : %(open_to)s. %(person)s n'y entre pas."
            ) % {
                "day": day,
                "open_to": _open_to([rule.rule for rule in in_force], english=english),
                "person": _person(self, age=age, categories=candidate.categories),
            }
        opening = self._opening_for(
            candidate=candidate, vaccine_id=vaccine.pk, dose_number=dose_number, after=end
        )
        if opening is not None:
            reason = f"{reason} {opening.text()}."
        return Decision(
            eligible=False, rule=None, code="not_eligible", reason=reason, opening=opening
        )

    def open_to(
        self, *, age: int, categories: frozenset[str], at: datetime, dose_number: int = 1
    ) -> bool:
        """Whether some rule in force at `at` admits a person of this age and these
        categories to this dose of some vaccine (a population's count, by age)."""
        return any(
            rule.in_force(at, at)
            and rule.covers(vaccine_id=None, dose_number=dose_number, hours_ahead=None)
            and rule.admits(age=age, categories=categories)
            for rule in self.rules
        )

    def opening_next(self, *, after: datetime) -> Opening | None:
        """The first opening after `after`: its instant and every rule starting then."""
        ahead = [rule.rule for rule in self.rules if rule.rule.effective_from > after]
        if not ahead:
            return None
        at = min(rule.effective_from for rule in ahead)
        return Opening(at=at, rules=tuple(rule for rule in ahead if rule.effective_from == at))

    def _opening_for(
        self, *, candidate: Candidate, vaccine_id: int, dose_number: int, after: datetime
    ) -> Opening | None:
        """The first opening after `after` that admits this person (their age on its day)."""
        admitting: dict[datetime, list[EligibilityRule]] = {}
        for rule in self.rules:
            opens = rule.rule.effective_from
            # A rule for places starting soon is no opening to wait for: it admits to the
            # places that start near its time, not to the one refused.
            if opens <= after or not rule.covers(
                vaccine_id=vaccine_id, dose_number=dose_number, hours_ahead=None
            ):
                continue
            age = age_on(
                birth_date=candidate.birth_date, on=opens.astimezone(RULES_TIMEZONE).date()
            )
            if rule.admits(age=age, categories=candidate.categories):
                admitting.setdefault(opens, []).append(rule.rule)
        if not admitting:
            return None
        at = min(admitting)
        return Opening(at=at, rules=tuple(admitting[at]))


def _rule_ready(rule: EligibilityRule, *, categories, vaccine_ids) -> _Rule:
    return _Rule(
        rule=rule,
        categories=frozenset(categories),
        vaccine_ids=frozenset(vaccine_ids),
        dose_numbers=frozenset(rule.dose_numbers),
    )


def _snapshot_load() -> RuleSet:
    """The category vocabulary and every active rule: four queries."""
    categories = tuple(Category.objects.all())
    rules = tuple(
        _rule_ready(
            rule,
            categories=(category.code for category in rule.categories.all()),
            vaccine_ids=(vaccine.pk for vaccine in rule.vaccines.all()),
        )
        for rule in EligibilityRule.objects.filter(active=True)
        .order_by("effective_from", "pk")
        .prefetch_related("categories", "vaccines")
    )
    return RuleSet(
        categories=categories,
        labels={category.code: category.label for category in categories},
        rules=rules,
    )


class _SnapshotCache:
    """One snapshot per process, replaced whole: readers never see half of a reload.

    Two threads that find it expired at once both reload; the last one wins, harmlessly.
    """

    def __init__(self) -> None:
        self._entry: tuple[float, RuleSet] | None = None

    def get(self) -> RuleSet:
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


def rules_current() -> RuleSet:
    """The active rules every decision reads now (this process's copy)."""
    return _cache.get()


def rules_proposed(
    *,
    rule: EligibilityRule,
    categories: Iterable[str],
    vaccine_ids: Iterable[int],
    base: RuleSet | None = None,
) -> RuleSet:
    """The rules as they would be with `rule` (unsaved; its pk names the rule it
    replaces, None for a new one) saved: what a preview compares with the rules now.
    Read from the database, not the cache, so that the comparison is with what is saved."""
    base = base or _snapshot_load()
    others = tuple(ready for ready in base.rules if rule.pk is None or ready.rule.pk != rule.pk)
    added = (
        (_rule_ready(rule, categories=categories, vaccine_ids=vaccine_ids),) if rule.active else ()
    )
    ordered = sorted(
        (*others, *added), key=lambda ready: (ready.rule.effective_from, ready.rule.pk or 0)
    )
    return replace(base, rules=tuple(ordered))


def rules_saved() -> RuleSet:
    """The active rules as saved now, read from the database (not this process's copy):
    what a preview compares a change with."""
    return _snapshot_load()


@dataclass(frozen=True)
class RuleDraft:
    """A rule as an authority typed it, before it is checked (`rule_draft_check`)."""

    name: str
    explanation: str
    explanation_en: str
    min_age: int
    max_age: int | None
    categories: tuple[str, ...]
    vaccine_ids: tuple[int, ...]
    dose_numbers: tuple[int, ...]
    effective_from: datetime
    effective_until: datetime | None
    active: bool = True
    # Only places starting within this many hours of the decision; None: any place.
    within_hours: int | None = None


def rule_draft_check(
    *,
    draft: RuleDraft,
    rule: EligibilityRule | None,
    past_confirmed: bool,
    now: datetime,
) -> EligibilityRule:
    """The draft as a rule (unsaved: `rule` with its fields set, or a new one), or the
    first mistake as an `InvalidInput` naming its field. Ages of different rules may
    overlap (a broader phase over a narrower one is usual): the preview shows what it
    does. A date already past, when it is new, asks for `past_confirmed`."""
    name = draft.name.strip()
    if not 1 <= len(name) <= 120:
        raise InvalidInput(gettext("Le nom va de 1 à 120 caractères."), field="name")
    explanation = draft.explanation.strip()
    if not 1 <= len(explanation) <= 250:
        raise InvalidInput(
            gettext("La phrase affichée va de 1 à 250 caractères."), field="explanation"
        )
    if len(draft.explanation_en.strip()) > 250:
        raise InvalidInput(
            gettext("La phrase en anglais a au plus 250 caractères."), field="explanation_en"
        )
    if not 0 <= draft.min_age <= MAX_AGE:
        raise InvalidInput(
            gettext("L'âge minimal va de 0 à %(max)d ans.") % {"max": MAX_AGE}, field="min_age"
        )
    if draft.max_age is not None and not draft.min_age <= draft.max_age <= MAX_AGE:
        raise InvalidInput(
            gettext("L'âge maximal va de l'âge minimal (%(min)d ans) à %(max)d ans.")
            % {"min": draft.min_age, "max": MAX_AGE},
            field="max_age",
        )
    unknown = set(draft.categories) - set(Category.objects.values_list("code", flat=True))
    if unknown:
        raise InvalidInput(
            gettext("Catégorie inconnue : %(codes)s.") % {"codes": ", ".join(sorted(unknown))},
            field="categories",
        )
    if len(set(draft.vaccine_ids)) != Vaccine.objects.filter(pk__in=draft.vaccine_ids).count():
        raise InvalidInput(gettext("Vaccin inconnu."), field="vaccines")
    if not all(1 <= dose <= MAX_DOSE_NUMBER for dose in draft.dose_numbers):
        raise InvalidInput(
            gettext("La dose va de 1 à %(max)d.") % {"max": MAX_DOSE_NUMBER}, field="dose_numbers"
        )
    if draft.within_hours is not None and not 1 <= draft.within_hours <= MAX_WITHIN_HOURS:
        raise InvalidInput(
            gettext("Le délai va de 1 à %(max)d heures (vide : tous les créneaux).")
            % {"max": MAX_WITHIN_HOURS},
            field="within_hours",
        )
    if draft.effective_until is not None and draft.effective_until <= draft.effective_from:
        raise InvalidInput(
            gettext("La fin doit venir après le début (%(start)s).")
            % {"start": _spoken_moment(draft.effective_from)},
            field="effective_until",
        )
    if not past_confirmed:
        for field, moment, before in (
            ("effective_from", draft.effective_from, rule and rule.effective_from),
            ("effective_until", draft.effective_until, rule and rule.effective_until),
        ):
            if moment is not None and moment != before and moment < now:
                raise PastUnconfirmed(
                    gettext(
                        "Le %(moment)s est déjà passé : la règle s'appliquera dès "
                        "l'enregistrement aux rendez-vous à venir. Cochez la case pour "
                        "confirmer."
                    )
                    % {"moment": _spoken_moment(moment)},
                    field=field,
                )
    checked = rule or EligibilityRule()
    checked.name = name
    checked.explanation = explanation
    checked.explanation_en = draft.explanation_en.strip()
    checked.min_age = draft.min_age
    checked.max_age = draft.max_age
    checked.dose_numbers = sorted(set(draft.dose_numbers))
    checked.effective_from = draft.effective_from
    checked.effective_until = draft.effective_until
    checked.within_hours = draft.within_hours
    checked.active = draft.active
    return checked


def rules_overlapping(*, rule: EligibilityRule, rules: RuleSet) -> list[EligibilityRule]:
    """The other active rules whose period and ages meet this one's. Allowed (a broader
    phase over a narrower one is usual, and categories or products may tell them apart):
    the preview lists them so that an overlap is a choice, not a slip."""

    def meets(other: EligibilityRule) -> bool:
        periods = (
            rule.effective_until is None or other.effective_from < rule.effective_until
        ) and (other.effective_until is None or rule.effective_from < other.effective_until)
        ages = (rule.max_age is None or other.min_age <= rule.max_age) and (
            other.max_age is None or rule.min_age <= other.max_age
        )
        return periods and ages

    return [ready.rule for ready in rules.rules if ready.rule.pk != rule.pk and meets(ready.rule)]


def rule_list() -> list[EligibilityRule]:
    """Every rule, active or not, latest opening first, for the authorities' screen."""
    return list(
        EligibilityRule.objects.prefetch_related("categories", "vaccines").order_by(
            "-effective_from", "-pk"
        )
    )


def rule_get(*, rule_id: int) -> EligibilityRule:
    rule = EligibilityRule.objects.prefetch_related("categories", "vaccines").filter(pk=rule_id)
    found = rule.first()
    if found is None:
        raise NotFound(gettext("Règle introuvable : %(id)s.") % {"id": rule_id})
    return found


def opening_next(*, now: datetime | None = None) -> Opening | None:
    """The next scheduled opening, for the portal's home page."""
    return _cache.get().opening_next(after=now or timezone.now())


def category_list() -> list[Category]:
    return list(_cache.get().categories)


def category_labels(*, codes: Iterable[str]) -> list[str]:
    """What a site's restriction says in words: its categories' labels in the active
    language, in the vocabulary's order."""
    return _labels(_cache.get(), frozenset(codes))


def rules_in_force(*, on: date) -> list[EligibilityRule]:
    """Active rules in force at some moment of a day (Paris), for every vaccine and dose,
    earliest first."""
    start, end = _moments(on=on, at=None)
    return [rule.rule for rule in _cache.get().rules if rule.in_force(start, end)]


def open_to_all_within(
    *, now: datetime | None = None, vaccine: Vaccine | None = None
) -> EligibilityRule | None:
    """The rule in force now that opens places starting soon to anyone (no category, a
    `within_hours`), widest first: what a "dans les 24 heures" search says. None when the
    places near that start follow the usual rules."""
    now = now or timezone.now()
    rules = [
        rule
        for rule in _cache.get().rules
        if rule.rule.within_hours is not None
        and rule.in_force(now, now)
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
    at: datetime | None = None,
    now: datetime | None = None,
) -> Decision:
    """May this person have this dose of this vaccine at this site on this date, and why.

    In order: the product's own age limits, the site's restriction to some categories,
    then the rules in force at the appointment's time `at` (the person's age on its date
    `on`); without `at`, a decision for the day as a whole (in Paris time): the rules in
    force at some moment of it. A rule that opens only places starting soon
    (`within_hours`) admits to the place starting at `at` when that is within its hours
    of `now`, the decision's time; without both (a question about a day or the present,
    not about a place), it admits nobody.
    A refusal by the rules names the next opening that will admit the person, if one is
    scheduled. Usually no query at all.
    """
    return _cache.get().decide(
        candidate=candidate,
        vaccine=vaccine,
        dose_number=dose_number,
        site=site,
        on=on,
        at=at,
        now=now,
    )


def eligibility_require(
    *,
    candidate: Candidate,
    vaccine: Vaccine,
    dose_number: int,
    site: Site,
    on: date,
    at: datetime | None = None,
    now: datetime | None = None,
) -> EligibilityRule:
    """The rule that admits this person, or the refusal as a domain error."""
    decision = eligibility_decide(
        candidate=candidate,
        vaccine=vaccine,
        dose_number=dose_number,
        site=site,
        on=on,
        at=at,
        now=now,
    )
    if decision.rule is not None:
        return decision.rule
    error = SiteRestricted if decision.code == "site_restricted" else NotEligible
    raise error(decision.reason, rule=None, refusal=decision.code)


def _moments(*, on: date, at: datetime | None) -> tuple[datetime, datetime]:
    """The moments a decision is about: the appointment's, or every moment of its day."""
    if at is not None:
        return at, at
    return paris_midnight(on), paris_midnight(on + timedelta(days=1)) - timedelta(microseconds=1)


def age_on(*, birth_date: date, on: date) -> int:
    """Completed years on a day. Born on 29 February, one turns a year older on 1 March
    in common years: comparing (month, day) pairs gives that with no special case."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def _age_checked(*, birth_date: date, on: date) -> int:
    if birth_date > timezone.localdate():
        raise InvalidInput(gettext("La date de naissance est dans le futur."))
    if birth_date > on:
        raise InvalidInput(
            gettext("La date de naissance est postérieure à la date du rendez-vous.")
        )
    age = age_on(birth_date=birth_date, on=on)
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


def _spoken_moment(at: datetime) -> str:
    """« lundi 18 janvier à 0 h », « lundi 1er février 2027 à 8 h 30 » (the year when it is
    not this one), in Paris time."""
    local = at.astimezone(RULES_TIMEZONE)
    this_year = local.year == timezone.localdate().year
    if local.day == 1:
        # Translators: a Django date format (l: weekday, j: day, F: month, Y: year) for the
        # first day of a month; a backslash keeps the next letter as it is.
        layout = (
            pgettext("weekday, first day of a month", "l j\\e\\r F")
            if this_year
            else pgettext("weekday, first day of a month, year", "l j\\e\\r F Y")
        )
    else:
        # Translators: a Django date format (l: weekday, j: day, F: month, Y: year).
        layout = (
            pgettext("weekday, day of a month", "l j F")
            if this_year
            else pgettext("weekday, day of a month, year", "l j F Y")
        )
    if local.minute:
        hour = gettext("%(hour)d h %(minute)02d") % {"hour": local.hour, "minute": local.minute}
    else:
        hour = gettext("%(hour)d h") % {"hour": local.hour}
    return gettext("%(day)s à %(hour)s") % {
        "day": formats.date_format(local.date(), layout),
        "hour": hour,
    }


def _open_to(rules: Iterable[EligibilityRule], *, english: bool) -> str:
    """The people some rules open to, each said once, in order: « les personnes de 75 ans
    et plus ; les résidents… »."""
    return pgettext("between groups of people", " ; ").join(
        dict.fromkeys(
            _phrase((english and rule.explanation_en) or rule.explanation) for rule in rules
        )
    )


def _phrase(explanation: str) -> str:
    """« Les personnes de 75 ans et plus. » as it reads inside a sentence."""
    text = explanation.strip().rstrip(".").strip()
    # An explanation that starts with an acronym (« USLD : … ») keeps its capitals.
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _labels(snapshot: RuleSet, codes: frozenset[str]) -> list[str]:
    """Labels in the vocabulary's order; a code missing from it is shown as it is."""
    english = (translation.get_language() or "").startswith("en")
    known = [
        (english and category.label_en) or category.label
        for category in snapshot.categories
        if category.code in codes
    ]
    return known + sorted(code for code in codes if code not in snapshot.labels)


def _person(snapshot: RuleSet, *, age: int, categories: frozenset[str]) -> str:
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
