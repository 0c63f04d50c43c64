"""The authorities' forms for eligibility phases and publication by department: what is
typed, parsed; every rule about it is the services' (`rule_draft_check`,
`department_publication_schedule`)."""

from datetime import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy
from dsfr.forms import DsfrBaseForm

from creneau.eligibility.models import MAX_DOSE_NUMBER, RULES_TIMEZONE, EligibilityRule
from creneau.eligibility.selectors import RuleDraft, category_list
from creneau.vaccines.models import Vaccine

MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


def _moment_field(label, *, required: bool, help_text=None) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        help_text=help_text,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMATS[0]),
        input_formats=MOMENT_FORMATS,
    )


def paris_time(moment: datetime | None) -> datetime | None:
    """The wall-clock time typed, read in Paris time whatever the active time zone."""
    if moment is None:
        return None
    return timezone.make_naive(moment).replace(tzinfo=RULES_TIMEZONE)


class RuleForm(DsfrBaseForm):
    name = forms.CharField(label=gettext_lazy("Nom de la règle"), max_length=120)
    explanation = forms.CharField(
        label=gettext_lazy("Phrase affichée au public"),
        help_text=gettext_lazy("Par exemple « Les personnes de 75 ans et plus »."),
        max_length=250,
    )
    explanation_en = forms.CharField(
        label=gettext_lazy("La même phrase en anglais"), max_length=250, required=False
    )
    min_age = forms.IntegerField(
        label=gettext_lazy("Âge minimal le jour du rendez-vous"), min_value=0, initial=0
    )
    max_age = forms.IntegerField(
        label=gettext_lazy("Âge maximal (inclus ; vide : sans limite)"),
        min_value=0,
        required=False,
    )
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("Catégories (aucune cochée : pas de catégorie exigée)"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    vaccines = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Vaccins (aucun coché : tous)"),
        widget=forms.CheckboxSelectMultiple,
        coerce=int,
        required=False,
    )
    dose_numbers = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Doses (aucune cochée : toutes)"),
        widget=forms.CheckboxSelectMultiple,
        choices=[(dose, str(dose)) for dose in range(1, MAX_DOSE_NUMBER + 1)],
        coerce=int,
        required=False,
    )
    within_hours = forms.IntegerField(
        label=gettext_lazy("Seulement les créneaux qui commencent dans les … heures"),
        help_text=gettext_lazy(
            "Par exemple 24 : les créneaux des prochaines 24 heures, ouverts à tous ceux que "
            "la règle admet. Vide : tous les créneaux."
        ),
        required=False,
    )
    effective_from = _moment_field(
        gettext_lazy("En vigueur à partir du (heure de Paris)"), required=True
    )
    effective_until = _moment_field(
        gettext_lazy("Jusqu'au (heure de Paris, exclu ; vide : sans fin)"), required=False
    )
    active = forms.BooleanField(label=gettext_lazy("Règle active"), required=False, initial=True)
    past_confirmed = forms.BooleanField(
        label=gettext_lazy("Je confirme une date déjà passée"), required=False
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = [
            (category.code, category.label) for category in category_list()
        ]
        self.fields["vaccines"].choices = [
            (vaccine.pk, vaccine.name) for vaccine in Vaccine.objects.order_by("name")
        ]

    @staticmethod
    def initial_of(rule: EligibilityRule) -> dict:
        return {
            "name": rule.name,
            "explanation": rule.explanation,
            "explanation_en": rule.explanation_en,
            "min_age": rule.min_age,
            "max_age": rule.max_age,
            "categories": [category.code for category in rule.categories.all()],
            "vaccines": [vaccine.pk for vaccine in rule.vaccines.all()],
            "dose_numbers": rule.dose_numbers,
            "within_hours": rule.within_hours,
            "effective_from": rule.effective_from.astimezone(RULES_TIMEZONE).replace(tzinfo=None),
            "effective_until": rule.effective_until
            and rule.effective_until.astimezone(RULES_TIMEZONE).replace(tzinfo=None),
            "active": rule.active,
        }

    def draft(self) -> RuleDraft:
        data = self.cleaned_data
        return RuleDraft(
            name=data["name"],
            explanation=data["explanation"],
            explanation_en=data["explanation_en"],
            min_age=data["min_age"],
            max_age=data["max_age"],
            categories=tuple(data["categories"]),
            vaccine_ids=tuple(data["vaccines"]),
            dose_numbers=tuple(data["dose_numbers"]),
            effective_from=paris_time(data["effective_from"]),
            effective_until=paris_time(data["effective_until"]),
            active=data["active"],
            within_hours=data["within_hours"],
        )


class DepartmentPublicationForm(DsfrBaseForm):
    department = forms.ChoiceField(label=gettext_lazy("Département"))
    publish_at = _moment_field(
        gettext_lazy("Publier le (heure locale du département)"), required=True
    )

    def __init__(self, *args, departments: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = departments


class RestrictionForm(DsfrBaseForm):
    site = forms.CharField(
        label=gettext_lazy("Numéro du lieu"),
        help_text=gettext_lazy("Le numéro affiché dans la liste des lieux, par exemple 1234."),
        max_length=12,
    )
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("Réservé aux catégories (aucune cochée : ouvert à tous)"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = [
            (category.code, category.label) for category in category_list()
        ]
