"""Forms of the onboarding and allocation screens: they parse, the services decide."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _
from dsfr.forms import DsfrBaseForm

from creneau.staff.models import StaffProfile
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import ALLOCATION_MAX_DOSES, AllocationLine


class RefusalForm(DsfrBaseForm):
    reason = forms.CharField(
        label=_("Raison du refus (envoyée au demandeur)"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class InviteForm(DsfrBaseForm):
    email = forms.EmailField(label=_("Adresse e-mail"), max_length=254)
    role = forms.ChoiceField(
        label=_("Rôle"),
        choices=[
            (StaffProfile.Role.SITE_STAFF.value, StaffProfile.Role.SITE_STAFF.label),
            (StaffProfile.Role.SITE_MANAGER.value, StaffProfile.Role.SITE_MANAGER.label),
        ],
    )


class WithoutSlotsForm(DsfrBaseForm):
    without_slots = forms.BooleanField(
        label=_("Nous vaccinons ici, sans rendez-vous en ligne pour l'instant"),
        help_text=_(
            "Tant que le lieu n'a reçu aucune dose, la recherche et sa page le disent, "
            "sans calendrier à réserver."
        ),
        required=False,
    )


class InvitationPasswordForm(DsfrBaseForm):
    password = forms.CharField(
        label=_("Mot de passe"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label=_("Le même mot de passe, à nouveau"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


def _quantity(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=0,
        max_value=ALLOCATION_MAX_DOSES,
        required=False,
        widget=forms.NumberInput(attrs={"class": "fr-input allocation-quantity", "min": 0}),
    )


class AllocationForm(DsfrBaseForm):
    """The allocation's head: the day the deliveries arrive, each vaccine's quota for the
    scope, and the form's own key (a double click records one allocation)."""

    key = forms.CharField(widget=forms.HiddenInput, max_length=40)
    expected_on = forms.DateField(
        label=_("Livraison prévue le"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, vaccines: list[Vaccine], **kwargs):
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.vaccines = vaccines
        for vaccine in vaccines:
            self.fields[f"quota_{vaccine.pk}"] = _quantity(
                _("Quota %(vaccine)s") % {"vaccine": vaccine.name}
            )

    def quotas(self) -> dict[int, int]:
        return {v.pk: self.cleaned_data.get(f"quota_{v.pk}") or 0 for v in self.vaccines}


class AllocationRowForm(forms.Form):
    """One site's row: a quantity per vaccine (labelled for screen readers by site and
    vaccine, the table's headers showing them to the eye)."""

    site = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, vaccines: list[Vaccine], site_names: dict[int, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.vaccines = vaccines
        site_id = self.initial.get("site")
        for vaccine in vaccines:
            self.fields[f"v{vaccine.pk}"] = _quantity(
                _("%(vaccine)s pour %(site)s")
                % {"vaccine": vaccine.name, "site": site_names.get(site_id, "")}
            )

    def lines(self) -> list[AllocationLine]:
        return [
            AllocationLine(
                site_id=self.cleaned_data["site"],
                vaccine_id=vaccine.pk,
                quantity=self.cleaned_data.get(f"v{vaccine.pk}") or 0,
            )
            for vaccine in self.vaccines
            if self.cleaned_data.get(f"v{vaccine.pk}")
        ]


AllocationFormSet = forms.formset_factory(AllocationRowForm, extra=0, max_num=5000)
