"""Declaring leftover doses: it parses, leftover_declare decides."""

from django import forms
from django.utils.translation import gettext_lazy
from dsfr.forms import DsfrBaseForm

from creneau.vaccines.models import Vaccine


class LeftoverForm(DsfrBaseForm):
    vaccine = forms.ModelChoiceField(
        label=gettext_lazy("Vaccin"), queryset=Vaccine.objects.filter(active=True)
    )
    lot = forms.CharField(label=gettext_lazy("Lot"), max_length=50)
    # Any whole number: the service says the range (1 to 100).
    doses = forms.IntegerField(label=gettext_lazy("Doses restantes"))
    until = forms.TimeField(
        label=gettext_lazy("Proposées jusqu'à (aujourd'hui)"),
        help_text=gettext_lazy(
            "L'heure où la dernière personne peut être reçue, par exemple 19:00."
        ),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args, lots: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lot"].widget.attrs["list"] = "leftover-lots"
        self.lots = lots
