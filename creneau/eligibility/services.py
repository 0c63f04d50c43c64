import secrets
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import NotFound
from creneau.sites.models import Site

from .models import Category, EligibilityRule, paris_midnight
from .selectors import RuleDraft, categories_validate, rule_draft_check, rules_cache_clear

# (code, label, label_en), in the order forms list them.
CATEGORIES = [
    ("caregiver", "Professionnel·le de santé ou du médico-social", "Health or social care worker"),
    ("home_aide", "Aide à domicile", "Home care worker"),
    (
        "high_risk",
        "Personne à haut risque (pathologie à risque de forme grave)",
        "High-risk medical condition",
    ),
    (
        "care_home_resident",
        "Résident·e d'un établissement pour personnes âgées",
        "Care home resident",
    ),
    ("firefighter", "Sapeur-pompier", "Firefighter"),
]

# The French campaign of 2021, phase by phase. A phase stays open until a broader one
# covers everyone it admitted (until that one starts): no one loses eligibility
# between dose 1 and dose 2, and a refusal lists only the phases that still matter.
PHASES_2021 = [
    dict(
        slug="2021-01-soignants-50-ans",
        name="Soignants et aides à domicile de 50 ans et plus",
        explanation=(
            "Les professionnels de santé et du médico-social et les aides à domicile "
            "de 50 ans et plus"
        ),
        explanation_en="Health and social care workers and home care workers aged 50 and over",
        min_age=50,
        categories=["caregiver", "home_aide"],
        effective_from=paris_midnight(date(2021, 1, 4)),
        effective_until=paris_midnight(date(2021, 5, 12)),
    ),
    dict(
        slug="2021-01-75-ans",
        name="Personnes de 75 ans et plus",
        explanation="Les personnes de 75 ans et plus",
        explanation_en="People aged 75 and over",
        min_age=75,
        effective_from=paris_midnight(date(2021, 1, 18)),
        effective_until=paris_midnight(date(2021, 4, 16)),
    ),
    dict(
        slug="2021-01-residents-etablissements",
        name="Résidents d'établissements pour personnes âgées",
        explanation="Les résidents d'un établissement pour personnes âgées (Ehpad, USLD)",
        explanation_en="Care home residents",
        min_age=18,
        categories=["care_home_resident"],
        effective_from=paris_midnight(date(2021, 1, 18)),
        effective_until=paris_midnight(date(2021, 5, 31)),
    ),
    dict(
        slug="2021-01-tres-haut-risque",
        name="Personnes à très haut risque",
        explanation=(
            "Les personnes de 18 ans et plus atteintes d'une pathologie "
            "à très haut risque de forme grave (sur prescription médicale)"
        ),
        explanation_en=(
            "People aged 18 and over with a condition putting them at very high risk "
            "of severe disease (on prescription)"
        ),
        min_age=18,
        categories=["high_risk"],
        effective_from=paris_midnight(date(2021, 1, 18)),
        effective_until=paris_midnight(date(2021, 5, 31)),
    ),
    dict(
        slug="2021-02-50-74-ans-haut-risque",
        name="Personnes de 50 à 74 ans à risque",
        explanation=(
            "Les personnes de 50 à 74 ans atteintes d'une pathologie à risque de forme grave"
        ),
        explanation_en=(
            "People aged 50 to 74 with a condition putting them at risk of severe disease"
        ),
        min_age=50,
        max_age=74,
        categories=["high_risk"],
        effective_from=paris_midnight(date(2021, 2, 25)),
        effective_until=paris_midnight(date(2021, 5, 12)),
    ),
    dict(
        slug="2021-03-pompiers-50-ans",
        name="Sapeurs-pompiers de 50 ans et plus",
        explanation="Les sapeurs-pompiers de 50 ans et plus",
        explanation_en="Firefighters aged 50 and over",
        min_age=50,
        categories=["firefighter"],
        effective_from=paris_midnight(date(2021, 3, 27)),
        effective_until=paris_midnight(date(2021, 5, 12)),
    ),
    dict(
        slug="2021-04-60-ans",
        name="Personnes de 60 ans et plus",
        explanation="Les personnes de 60 ans et plus",
        explanation_en="People aged 60 and over",
        min_age=60,
        effective_from=paris_midnight(date(2021, 4, 16)),
        effective_until=paris_midnight(date(2021, 5, 12)),
    ),
    dict(
        slug="2021-05-50-ans",
        name="Personnes de 50 ans et plus",
        explanation="Les personnes de 50 ans et plus",
        explanation_en="People aged 50 and over",
        min_age=50,
        effective_from=paris_midnight(date(2021, 5, 12)),
        effective_until=paris_midnight(date(2021, 5, 31)),
    ),
    # 12 May 2021: places starting the same or the next day, which would otherwise be lost,
    # opened to every adult whatever their phase ("chronodoses").
    dict(
        slug="2021-05-creneaux-24-heures",
        name="Créneaux des prochaines 24 heures ouverts aux personnes majeures",
        explanation="Les personnes de 18 ans et plus, pour un créneau dans les 24 heures",
        explanation_en="People aged 18 and over, for a place starting within 24 hours",
        min_age=18,
        within_hours=24,
        effective_from=paris_midnight(date(2021, 5, 12)),
        effective_until=paris_midnight(date(2021, 5, 31)),
    ),
    dict(
        slug="2021-05-18-ans",
        name="Personnes majeures",
        explanation="Les personnes de 18 ans et plus",
        explanation_en="People aged 18 and over",
        min_age=18,
        effective_from=paris_midnight(date(2021, 5, 31)),
        effective_until=paris_midnight(date(2021, 6, 15)),
    ),
    dict(
        slug="2021-06-12-ans",
        name="Personnes de 12 ans et plus",
        explanation="Les personnes de 12 ans et plus",
        explanation_en="People aged 12 and over",
        min_age=12,
        effective_from=paris_midnight(date(2021, 6, 15)),
    ),
]


@transaction.atomic
def eligibility_seed() -> int:
    """Create the category vocabulary and the phases of 2021; safe to run again.

    Categories are updated: their codes are what the code refers to, their labels ship
    with it. A rule that exists already is left alone: once loaded, the rules belong to
    the health authority, and `demo_load` or `reference_load` run again must not undo its
    edits (a rule it wants gone is deactivated; a deleted one would come back here).
    Returns the number of phases.
    """
    for position, (code, label, label_en) in enumerate(CATEGORIES):
        Category.objects.update_or_create(
            code=code, defaults=dict(label=label, label_en=label_en, position=position)
        )
    for phase in PHASES_2021:
        fields = dict(phase)
        categories = fields.pop("categories", [])
        rule, created = EligibilityRule.objects.get_or_create(
            slug=fields.pop("slug"), defaults=fields
        )
        if created:
            rule.categories.set(categories)
    # Now for this transaction's own reads (a test's, which never commits), and again once
    # committed, in case another thread reloaded the old rules in between.
    rules_cache_clear()
    transaction.on_commit(rules_cache_clear)
    return len(PHASES_2021)


def _rule_state(rule: EligibilityRule) -> dict[str, Any]:
    """A rule as the audit log keeps it, before and after a change (JSON)."""
    return {
        "name": rule.name,
        "explanation": rule.explanation,
        "explanation_en": rule.explanation_en,
        "min_age": rule.min_age,
        "max_age": rule.max_age,
        "categories": sorted(rule.categories.values_list("code", flat=True)),
        "vaccines": sorted(rule.vaccines.values_list("code", flat=True)),
        "dose_numbers": sorted(rule.dose_numbers),
        "effective_from": rule.effective_from.isoformat(),
        "effective_until": rule.effective_until.isoformat() if rule.effective_until else None,
        "within_hours": rule.within_hours,
        "active": rule.active,
    }


def _rules_changed() -> None:
    # This process decides with the new rules at once (the next request here); the others
    # within RULES_CACHE_SECONDS. Once committed, in case another thread reloaded between.
    rules_cache_clear()
    transaction.on_commit(rules_cache_clear)


@unit_of_work
def rule_create(
    *, actor: Actor, draft: RuleDraft, past_confirmed: bool = False, now: datetime | None = None
) -> EligibilityRule:
    """A new rule, in force (or scheduled) from `draft.effective_from`. An effective date
    already past must be confirmed (`past_confirmed`): it applies to bookings to come at
    once. Existing bookings are never touched by a rule."""
    checked = rule_draft_check(
        draft=draft, rule=None, past_confirmed=past_confirmed, now=now or timezone.now()
    )
    checked.slug = f"{slugify(checked.name)[:48] or 'regle'}-{secrets.token_hex(4)}"
    checked.save()
    checked.categories.set(draft.categories)
    checked.vaccines.set(draft.vaccine_ids)
    _rules_changed()
    audit_record(
        actor=actor,
        action="create",
        obj=checked,
        summary=gettext("Règle d'éligibilité créée : %(name)s") % {"name": checked.name},
        details={"before": None, "after": _rule_state(checked)},
    )
    return checked


@unit_of_work
def rule_update(
    *,
    actor: Actor,
    rule_id: int,
    draft: RuleDraft,
    past_confirmed: bool = False,
    now: datetime | None = None,
) -> EligibilityRule:
    """A rule changed (its people, products, doses, dates, or deactivated), with its state
    before and after in the audit event. The row is locked first, so two authorities
    saving the same rule at once record each change against the state it replaced."""
    rule = EligibilityRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(gettext("Règle introuvable : %(id)s.") % {"id": rule_id})
    before = _rule_state(rule)
    checked = rule_draft_check(
        draft=draft, rule=rule, past_confirmed=past_confirmed, now=now or timezone.now()
    )
    checked.save()
    checked.categories.set(draft.categories)
    checked.vaccines.set(draft.vaccine_ids)
    _rules_changed()
    after = _rule_state(checked)
    audit_record(
        actor=actor,
        action="change",
        obj=checked,
        summary=gettext("Règle d'éligibilité modifiée : %(name)s") % {"name": checked.name},
        details={
            "before": before,
            "after": after,
            "changed": sorted(key for key in after if after[key] != before[key]),
        },
    )
    return checked


@unit_of_work
def site_restriction_set(*, actor: Actor, site_id: int, categories: Iterable[str]) -> Site:
    """The categories a site takes (none: everyone the rules admit), checked against the
    vocabulary, with the restriction before and after in the audit event. Bookings made
    before stay: the next booking there is decided with it."""
    codes = sorted(categories_validate(codes=categories))
    site = Site.objects.select_for_update(no_key=True).filter(pk=site_id).first()
    if site is None:
        raise NotFound(gettext("Lieu introuvable : %(id)s.") % {"id": site_id})
    before = sorted(site.restricted_to or [])
    Site.objects.filter(pk=site_id).update(restricted_to=codes, updated_at=timezone.now())
    site.restricted_to = codes
    audit_record(
        actor=actor,
        action="change",
        obj=site,
        site=site,
        summary=gettext("Lieu réservé à certaines catégories : %(codes)s")
        % {"codes": ", ".join(codes) or "–"},
        details={"before": before, "after": codes},
    )
    return site
