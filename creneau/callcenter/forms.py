"""The call centre's forms: short, typed fast, read back to the caller."""

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from dsfr.forms import DsfrBaseForm

from creneau.eligibility.selectors import category_list
from creneau.vaccines.models import Vaccine


class CallerSearchForm(DsfrBaseForm):
    q = forms.CharField(
        label=_("Téléphone, e-mail, référence, ou nom et date de naissance"),
        help_text=_("Par exemple : 06 12 34 56 78 · 7K2M-Q9XA-4 · Martin 02/03/1940"),
        max_length=200,
    )


class SlotSearchForm(DsfrBaseForm):
    near = forms.CharField(label=_("Code postal ou commune de l'appelant"), max_length=100)
    vaccine = forms.ChoiceField(label=_("Vaccin"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vaccine"].choices = [
            ("", _("Tous les vaccins")),
            *Vaccine.objects.filter(active=True).values_list("code", "name"),
        ]


class CallerPersonForm(DsfrBaseForm):
    given_name = forms.CharField(label=_("Prénom"), max_length=100)
    family_name = forms.CharField(label=_("Nom"), max_length=100)
    birth_date = forms.DateField(
        label=_("Date de naissance"),
        help_text=_("jj/mm/aaaa, ou 8 chiffres : 02031940"),
        input_formats=["%d/%m/%Y", "%d%m%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%d"],
    )
    categories = forms.MultipleChoiceField(
        label=_("Situation particulière"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    contact = forms.CharField(
        label=_("Portable ou e-mail pour la confirmation"),
        help_text=_("Relisez-le à l'appelant : la confirmation y part aussitôt."),
        max_length=254,
    )
    override_reason = forms.CharField(
        label=_("Raison de la dérogation"),
        help_text=_(
            "Seulement si les règles refusent et que vous réservez quand même "
            "(par exemple : avis médical). Elle est enregistrée avec votre nom."
        ),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, refused: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        english = get_language() == "en"
        self.fields["categories"].choices = [
            (category.code, category.label_en if english else category.label)
            for category in category_list()
        ]
        for name in ("given_name", "family_name", "birth_date", "contact"):
            self.fields[name].widget.attrs["autocomplete"] = "off"
        if not refused:
            del self.fields["override_reason"]


class ReasonForm(DsfrBaseForm):
    reason = forms.CharField(
        label=_("Raison donnée par l'appelant"), max_length=300, required=False
    )
