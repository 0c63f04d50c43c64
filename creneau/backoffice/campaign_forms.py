"""The authorities' forms for the population import and the campaigns."""

from datetime import time
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy
from dsfr.forms import DsfrBaseForm

from creneau.campaigns.services import CampaignData

from .forms import WEEKDAYS


class PopulationForm(DsfrBaseForm):
    file = forms.FileField(
        label=gettext_lazy("Fichier de population (CSV en UTF-8, « ; » ou « , »)"),
        help_text=gettext_lazy(
            "Colonnes : identifiant;nom;prenoms;date_naissance;adresse_1;adresse_2;"
            "code_postal;commune;telephone;email;categories"
        ),
    )


class CampaignForm(DsfrBaseForm):
    name = forms.CharField(label=gettext_lazy("Nom de la campagne"), max_length=120)
    departments = forms.CharField(
        label=gettext_lazy("Départements"),
        help_text=gettext_lazy("Codes séparés par des virgules, par exemple 75, 92, 93."),
        max_length=400,
    )
    born_from = forms.DateField(label=gettext_lazy("Nés à partir du"), required=False)
    born_to = forms.DateField(label=gettext_lazy("Nés au plus tard le"), required=False)
    categories = forms.CharField(
        label=gettext_lazy("Catégories"),
        help_text=gettext_lazy("Codes séparés par des virgules ; vide : toutes."),
        required=False,
        max_length=400,
    )
    vaccines = forms.CharField(
        label=gettext_lazy("Vaccins ouverts par l'invitation"),
        help_text=gettext_lazy("Codes séparés par des virgules ; vide : tous."),
        required=False,
        max_length=200,
    )
    channels = forms.CharField(
        label=gettext_lazy("Canaux, par ordre de préférence"),
        help_text=gettext_lazy("sms, email, letter"),
        initial="sms, email, letter",
        max_length=40,
    )
    message_fr = forms.CharField(label=gettext_lazy("Message en français"), widget=forms.Textarea)
    message_en = forms.CharField(
        label=gettext_lazy("Message en anglais"), widget=forms.Textarea, required=False
    )
    send_days = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Jours d'envoi"),
        choices=WEEKDAYS,
        coerce=int,
        initial=[0, 1, 2, 3, 4, 5],
        widget=forms.CheckboxSelectMultiple,
    )
    send_from = forms.TimeField(label=gettext_lazy("Envoi à partir de"), initial=time(9, 0))
    send_until = forms.TimeField(label=gettext_lazy("Envoi jusqu'à"), initial=time(19, 0))
    pace_factor = forms.DecimalField(
        label=gettext_lazy("Facteur de rythme (part des places libres à 14 jours)"),
        initial=Decimal("1.0"),
        max_digits=4,
        decimal_places=2,
    )
    reminder_days = forms.IntegerField(
        label=gettext_lazy("Relance après (jours)"), initial=7, min_value=1, max_value=60
    )

    def data_built(self) -> CampaignData:
        data = self.cleaned_data

        def codes(name: str) -> tuple[str, ...]:
            return tuple(code.strip() for code in data[name].split(",") if code.strip())

        return CampaignData(
            name=data["name"],
            departments=codes("departments"),
            born_from=data["born_from"],
            born_to=data["born_to"],
            categories=codes("categories"),
            vaccines=codes("vaccines"),
            channels=tuple(code.lower() for code in codes("channels")),
            message_fr=data["message_fr"],
            message_en=data["message_en"],
            send_days=tuple(data["send_days"]),
            send_from=data["send_from"],
            send_until=data["send_until"],
            pace_factor=data["pace_factor"],
            reminder_days=data["reminder_days"],
        )

    @staticmethod
    def initial_of(campaign) -> dict:
        return {
            "name": campaign.name,
            "departments": ", ".join(d.code for d in campaign.departments.all()),
            "born_from": campaign.born_from,
            "born_to": campaign.born_to,
            "categories": ", ".join(campaign.categories),
            "vaccines": ", ".join(campaign.vaccines.values_list("code", flat=True)),
            "channels": ", ".join(campaign.channels),
            "message_fr": campaign.message_fr,
            "message_en": campaign.message_en,
            "send_days": campaign.send_days,
            "send_from": campaign.send_from,
            "send_until": campaign.send_until,
            "pace_factor": campaign.pace_factor,
            "reminder_days": campaign.reminder_days,
        }
