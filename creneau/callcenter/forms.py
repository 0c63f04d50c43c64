"""The call centre's forms: short, typed fast, read back to the caller."""

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from dsfr.forms import DsfrBaseForm

from creneau.booking.addresses import POSTAL_LINE_LENGTH, PostalAddress
from creneau.core.phones import PHONE_MAX_LENGTH
from creneau.eligibility.selectors import category_list
from creneau.portal.forms import ContactForm, PersonFields, email_field, phone_field
from creneau.vaccines.models import Vaccine


class CallerSearchForm(DsfrBaseForm):
    q = forms.CharField(
        label=_("Téléphone, e-mail, référence, ou nom et date de naissance"),
        # Names are encrypted and found by a blind index: by equality only, said here.
        help_text=_(
            "Par exemple : 06 12 34 56 78 · 7K2M-Q9XA-4 · Martin 02/03/1940. Un nom se "
            "cherche avec la date de naissance et le nom de famille en entier, tel qu'il "
            "s'écrit (majuscules, accents et tirets indifférents) : « Mart » ne trouve pas "
            "« Martin »."
        ),
        max_length=200,
    )


# Dates as an agent types them while the caller speaks: 02/03/1940 or 02031940.
DATE_FORMATS = ["%d/%m/%Y", "%d%m%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%d"]


class SlotSearchForm(DsfrBaseForm):
    near = forms.CharField(label=_("Code postal ou commune de l'appelant"), max_length=100)
    vaccine = forms.ChoiceField(label=_("Vaccin"), required=False)
    day = forms.DateField(
        label=_("À partir du"),
        help_text=_("jj/mm/aaaa ou 8 chiffres ; vide : au plus tôt"),
        input_formats=DATE_FORMATS,
        required=False,
    )

    # A caller whose dose 1 was given elsewhere books their dose 2 alone: its day, with
    # the vaccine above (the one of dose 1), searches second-dose places in the interval.
    dose1_elsewhere = forms.DateField(
        label=_("1re dose déjà reçue ailleurs le"),
        help_text=_(
            "Seulement si l'appelant a reçu sa 1re dose ailleurs : jj/mm/aaaa ; le vaccin "
            "est alors celui de la 1re dose"
        ),
        input_formats=DATE_FORMATS,
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vaccine"].choices = [
            ("", _("Tous les vaccins")),
            *Vaccine.objects.filter(active=True).values_list("code", "name"),
        ]
        self.fields["day"].widget.attrs["autocomplete"] = "off"
        self.fields["dose1_elsewhere"].widget.attrs["autocomplete"] = "off"

    def clean(self):
        data = super().clean()
        if data.get("dose1_elsewhere") and not data.get("vaccine"):
            self.add_error("vaccine", _("Choisissez le vaccin reçu en 1re dose."))
        return data


POSTAL_FIELDS = ("street", "complement", "postcode", "town")


class CallerPersonForm(PersonFields, ContactForm):
    field_order = ["given_name", "family_name", "birth_date", "categories"]
    # Without a mobile or an e-mail, a postal address: the service says which is missing.
    contact_required = False

    # Labels as the agent reads them to the caller (set here: a bound field keeps its label).
    phone = phone_field(
        label=_("Portable pour la confirmation"),
        help_text=_("Relisez-le à l'appelant : la confirmation y part aussitôt."),
    )
    email = email_field(
        label=_("Ou e-mail pour la confirmation"),
        help_text=_(
            "Sans portable ni e-mail, laissez-les vides et notez l'adresse postale ci-dessous."
        ),
    )
    # Typed as the caller says it, in one box (the portal's three boxes are for phones).
    birth_date = forms.DateField(
        label=_("Date de naissance"),
        help_text=_("jj/mm/aaaa, ou 8 chiffres : 02031940"),
        input_formats=DATE_FORMATS,
    )
    categories = forms.MultipleChoiceField(
        label=_("Situation particulière"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    landline = forms.CharField(
        label=_("Téléphone fixe de l'appelant (facultatif)"),
        help_text=_(
            "Noté pour le retrouver quand il rappelle de ce numéro : il ne reçoit ni SMS ni "
            "confirmation."
        ),
        max_length=PHONE_MAX_LENGTH,
        required=False,
    )
    street = forms.CharField(
        label=_("Numéro et voie"),
        help_text=_("Par exemple : 12 rue des Lilas"),
        max_length=POSTAL_LINE_LENGTH,
        required=False,
    )
    complement = forms.CharField(
        label=_("Complément d'adresse"),
        help_text=_("Bâtiment, étage, résidence (facultatif)"),
        max_length=POSTAL_LINE_LENGTH,
        required=False,
    )
    postcode = forms.CharField(label=_("Code postal"), max_length=5, required=False)
    town = forms.CharField(label=_("Commune"), max_length=POSTAL_LINE_LENGTH, required=False)
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
        for name in (
            "given_name",
            "family_name",
            "birth_date",
            "phone",
            "email",
            "landline",
            *POSTAL_FIELDS,
        ):
            self.fields[name].widget.attrs["autocomplete"] = "off"
        self.fields["postcode"].widget.attrs["inputmode"] = "numeric"
        if not refused:
            del self.fields["override_reason"]

    def postal_address(self) -> PostalAddress | None:
        """The address for a confirmation by letter, when the agent typed one."""
        data = self.cleaned_data
        if not any(data.get(name) for name in POSTAL_FIELDS):
            return None
        return PostalAddress(
            street=data["street"],
            complement=data["complement"],
            postcode=data["postcode"],
            town=data["town"],
        )


class ReasonForm(DsfrBaseForm):
    reason = forms.CharField(
        label=_("Raison donnée par l'appelant"), max_length=300, required=False
    )
