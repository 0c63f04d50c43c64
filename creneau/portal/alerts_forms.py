"""The alerts' forms: who, where, which vaccine and dose; a contact to manage one's alerts.
They parse; the alerts services decide (their refusals land on these fields)."""

from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from creneau.alerts.models import MAX_RADIUS_KM
from creneau.geography.selectors import Place
from creneau.vaccines.models import Vaccine

from .forms import ContactForm, PlaceWishesForm, person_from_session, place_from_session

DOSE_CHOICES = [
    (1, _("Une première dose")),
    (2, _("Une deuxième dose : la première a été faite ailleurs")),
]


class AlertForm(PlaceWishesForm):
    field_order = [
        "given_name",
        "family_name",
        "birth_date",
        "near",
        "radius_km",
        "vaccine",
        "dose_number",
        "dose1_on",
    ]
    near = forms.CharField(
        label=_("Près de : code postal ou commune"),
        help_text=_("Par exemple 75017 ou Saint-Denis (93)."),
        max_length=100,
    )
    # Any whole number: the service says what the range is.
    radius_km = forms.IntegerField(
        label=_("Distance maximale (km)"),
        help_text=_("De 1 à %(max)d km.") % {"max": MAX_RADIUS_KM},
        initial=10,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    # Any text: the service names the vaccines it knows when it does not know this one.
    vaccine = forms.CharField(label=_("Vaccin"), max_length=40, widget=forms.Select)
    dose_number = forms.TypedChoiceField(
        label=_("Pour"), choices=DOSE_CHOICES, coerce=int, widget=forms.RadioSelect, initial=1
    )
    dose1_on = forms.DateField(
        label=_("Date de la 1re dose (pour une deuxième dose)"),
        help_text=_("Elle figure sur votre attestation de vaccination."),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        vaccines = Vaccine.objects.filter(active=True).order_by("name")
        self.fields["vaccine"].widget.choices = list(vaccines.values_list("code", "name"))
        # A text field's length means nothing on a list.
        self.fields["vaccine"].widget.attrs.pop("maxlength", None)

    def wishes(self) -> dict:
        data = self.cleaned_data
        return {
            "radius_km": data["radius_km"],
            "vaccine_code": data["vaccine"],
            "dose_number": data["dose_number"],
            "dose1_on": data["dose1_on"] if data["dose_number"] == 2 else None,
        }

    def draft(self, place: Place) -> dict:
        """What the code page needs to subscribe once the contact is verified (the session)."""
        wishes = self.wishes()
        return {
            **self.person_for_session(),
            **self.place_for_session(place),
            **wishes,
            "dose1_on": wishes["dose1_on"].isoformat() if wishes["dose1_on"] else None,
        }


def draft_arguments(draft: dict) -> dict:
    """A draft as alert_subscribe's arguments (but the contact)."""
    return {
        "person": person_from_session(draft),
        "place": place_from_session(draft),
        "radius_km": draft["radius_km"],
        "vaccine_code": draft["vaccine_code"],
        "dose_number": draft["dose_number"],
        "dose1_on": date.fromisoformat(draft["dose1_on"]) if draft["dose1_on"] else None,
    }


class AlertsManageForm(ContactForm):
    """The phone or e-mail the alerts go to, to see and stop them after a code."""
