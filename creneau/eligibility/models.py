from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext, gettext_lazy

from creneau.vaccines.models import Vaccine

MAX_DOSE_NUMBER = 3
# Rules are national: their hours are said, typed and shown in Paris time.
RULES_TIMEZONE = ZoneInfo("Europe/Paris")


def paris_midnight(day: date) -> datetime:
    """The first moment of a day in Paris time, the usual opening hour of a phase."""
    return datetime.combine(day, time(0), tzinfo=RULES_TIMEZONE)


class Category(models.Model):
    """A category a person declares (caregiver, firefighter…): the vocabulary of rules.

    Sites (`Site.restricted_to`) and persons refer to categories by code, so a code
    never changes once in use; labels may.
    """

    code = models.SlugField(max_length=40, primary_key=True)
    label = models.CharField(max_length=120)
    label_en = models.CharField(max_length=120)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]
        verbose_name = gettext_lazy("catégorie")

    def __str__(self) -> str:
        return self.label


class EligibilityRule(models.Model):
    """Who may be vaccinated, with which vaccine and dose, between which dates.

    A person is eligible when at least one active rule in force at the appointment's
    time admits them (their age on its date). Empty `categories`, `vaccines` or
    `dose_numbers` mean "any". A rule whose `effective_from` is ahead is a scheduled
    opening: the portal announces the next one.
    """

    # The stable key that seeding recognises; the name may be reworded.
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    explanation = models.CharField(
        max_length=250, help_text="Shown to people, in plain French: « Les personnes de … »."
    )
    explanation_en = models.CharField(max_length=250)
    min_age = models.PositiveSmallIntegerField(default=0)
    max_age = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Inclusive.")
    categories = models.ManyToManyField(
        Category,
        blank=True,
        related_name="rules",
        help_text="Empty: no category needed; otherwise at least one of them.",
    )
    vaccines = models.ManyToManyField(
        Vaccine,
        blank=True,
        related_name="eligibility_rules",
        help_text="Empty: every vaccine.",
    )
    dose_numbers = models.JSONField(
        default=list, blank=True, help_text="List of dose numbers, e.g. [1, 2]; empty: every dose."
    )
    # From this instant (typed and shown in Paris time) until `effective_until`, excluded.
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True, help_text="Exclusive.")
    # Leftover places opened to all (issue 20): the rule admits only to places that start
    # within this many hours of the decision.
    within_hours = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Only places starting within this many hours (e.g. 24: leftover places "
        "opened to all); empty: any place.",
    )
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["effective_from", "id"]
        verbose_name = gettext_lazy("règle d'éligibilité")
        verbose_name_plural = gettext_lazy("règles d'éligibilité")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_age__isnull=True) | Q(max_age__gte=F("min_age")),
                name="eligibility_rule_age_range_ordered",
            ),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True)
                | Q(effective_until__gt=F("effective_from")),
                name="eligibility_rule_dates_ordered",
            ),
            models.CheckConstraint(
                condition=Q(within_hours__isnull=True) | Q(within_hours__gte=1),
                name="eligibility_rule_within_hours_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # A JSON list cannot be checked portably by SQLite and PostgreSQL alike, so the
        # admin form checks it; the selectors only ever compare integers with it.
        doses = self.dose_numbers
        if not isinstance(doses, list) or not all(
            type(dose) is int and 1 <= dose <= MAX_DOSE_NUMBER for dose in doses
        ):
            raise ValidationError(
                {
                    "dose_numbers": gettext("Une liste de numéros de dose de 1 à %(max)d.")
                    % {"max": MAX_DOSE_NUMBER}
                }
            )
