"""The waiting list's form: who, where, when they can come at short notice, which
vaccines; it parses, the waitlist services decide (their refusals land on these fields)."""

from datetime import time

from django import forms
from django.utils.translation import gettext_lazy as _

from creneau.geography.selectors import Place
from creneau.vaccines.models import Vaccine
from creneau.waitlist.services import Window

from .forms import PlaceWishesForm, _category_choices, person_from_session, place_from_session

DAYS = [
    (0, _("lundi")),
    (1, _("mardi")),
    (2, _("mercredi")),
    (3, _("jeudi")),
    (4, _("vendredi")),
    (5, _("samedi")),
    (6, _("dimanche")),
]
NOTICE_CHOICES = [(30, _("Dans les 30 minutes")), (120, _("Dans les 2 heures"))]


class WaitlistForm(PlaceWishesForm):
    field_order = [
        "given_name",
        "family_name",
        "birth_date",
        "categories",
        "near",
        "radius_km",
        "notice_minutes",
        "days",
        "start",
        "end",
        "vaccines",
    ]
    service_fields = {**PlaceWishesForm.service_fields, "windows": "days"}
    categories = forms.MultipleChoiceField(
        label=_("Situation particulière (facultatif)"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    near = forms.CharField(
        label=_("D'où partez-vous ? Code postal ou commune"),
        help_text=_("Par exemple 75017 ou Saint-Denis (93)."),
        max_length=100,
    )
    # Any whole number: the service says what the range is (1 to 30 km).
    radius_km = forms.IntegerField(
        label=_("Distance maximale (km)"),
        help_text=_("De 1 à 30 km."),
        initial=10,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    notice_minutes = forms.TypedChoiceField(
        label=_("Prévenu(e) à la dernière minute, vous pouvez être sur place…"),
        choices=NOTICE_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        initial=30,
    )
    days = forms.TypedMultipleChoiceField(
        label=_("Les jours où vous pouvez venir"),
        choices=DAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    start = forms.TimeField(
        label=_("À partir de"),
        help_text=_("Par exemple 9:00."),
        initial=time(9, 0),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    end = forms.TimeField(
        label=_("Jusqu'à"),
        help_text=_("Par exemple 20:00."),
        initial=time(20, 0),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    vaccines = forms.TypedMultipleChoiceField(
        label=_("Les vaccins que vous acceptez"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = _category_choices()
        self.fields["vaccines"].choices = list(
            Vaccine.objects.filter(active=True).order_by("name").values_list("pk", "name")
        )

    def windows(self) -> list[Window]:
        data = self.cleaned_data
        return [Window(days=frozenset(data["days"]), start=data["start"], end=data["end"])]

    def draft(self, place: Place) -> dict:
        """What the code page needs to join once the contact is verified (the session)."""
        data = self.cleaned_data
        return {
            **self.person_for_session(),
            "categories": list(data["categories"]),
            **self.place_for_session(place),
            "radius_km": data["radius_km"],
            "notice_minutes": data["notice_minutes"],
            "windows": [[sorted(data["days"]), data["start"].isoformat(), data["end"].isoformat()]],
            "vaccines": list(data["vaccines"]),
        }


def draft_arguments(draft: dict) -> dict:
    """A draft as waitlist_join's arguments (but the contact)."""
    return {
        "person": person_from_session(draft),
        "place": place_from_session(draft),
        "radius_km": draft["radius_km"],
        "windows": [
            Window(
                days=frozenset(days), start=time.fromisoformat(start), end=time.fromisoformat(end)
            )
            for days, start, end in draft["windows"]
        ],
        "notice_minutes": draft["notice_minutes"],
        "vaccine_ids": draft["vaccines"],
    }
