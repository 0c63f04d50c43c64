"""The portal's forms: they parse what a person typed; the services decide."""

from datetime import date

from django import forms
from django.http import QueryDict
from django.urls import reverse_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from dsfr.forms import DsfrBaseForm

from creneau.booking.services import PersonData
from creneau.core.errors import DomainError
from creneau.core.geo import Position
from creneau.core.phones import PHONE_MAX_LENGTH
from creneau.eligibility.selectors import category_list
from creneau.geography.selectors import Place, place_resolve
from creneau.vaccines.models import Vaccine

RADIUS_CHOICES = [(10, "10 km"), (30, "30 km"), (50, "50 km"), (100, "100 km"), (300, "300 km")]
DEFAULT_RADIUS_KM = 30


def _vaccine_choices() -> list[tuple[str, str]]:
    vaccines = Vaccine.objects.filter(active=True).values_list("code", "name")
    return [("", _("Tous les vaccins")), *vaccines]


def category_labels() -> dict[str, str]:
    """Category codes and their labels in the active language."""
    english = get_language() == "en"
    return {
        category.code: category.label_en if english else category.label
        for category in category_list()
    }


def _category_choices() -> list[tuple[str, str]]:
    return list(category_labels().items())


class SearchForm(DsfrBaseForm):
    near = forms.CharField(
        label=_("Code postal ou commune"),
        help_text=_("Par exemple 75017, Lyon ou Saint-Denis (93)."),
        max_length=100,
        required=False,
    )
    vaccine = forms.ChoiceField(label=_("Vaccin"), required=False)
    radius_km = forms.TypedChoiceField(
        label=_("Distance"), choices=RADIUS_CHOICES, coerce=int, required=False
    )
    date_from = forms.DateField(
        label=_("À partir du"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=_("Jusqu'au"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    within_24h = forms.BooleanField(
        label=_("Dans les 24 heures : seulement les créneaux qui commencent bientôt"),
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vaccine"].choices = _vaccine_choices()
        self.fields["near"].widget.attrs.update(
            {
                "autocomplete": "off",
                "list": "place-suggestions",
                "spellcheck": "false",
                # With JavaScript, towns and postcodes are suggested while one types.
                "hx-get": reverse_lazy("portal:suggestions"),
                "hx-trigger": "input changed delay:250ms",
                "hx-target": "#place-suggestions",
            }
        )

    def clean_radius_km(self) -> int:
        return self.cleaned_data["radius_km"] or DEFAULT_RADIUS_KM

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("date_from")
            and cleaned.get("date_to")
            and cleaned["date_to"] < cleaned["date_from"]
        ):
            self.add_error("date_to", _("Cette date vient avant la date de début."))
        return cleaned


class Dose2AloneForm(DsfrBaseForm):
    """Someone whose dose 1 was given elsewhere: its vaccine and day, and where to look
    for their dose 2 (booking.selectors.dose1_elsewhere_check decides the rest)."""

    vaccine = forms.ChoiceField(label=_("Vaccin reçu en 1re dose"))
    given_on = forms.DateField(
        label=_("Date de la 1re dose"),
        help_text=_("Elle figure sur votre attestation de vaccination."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    near = SearchForm.base_fields["near"]
    radius_km = SearchForm.base_fields["radius_km"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        two_doses = Vaccine.objects.filter(doses_in_series__gte=2).values_list("code", "name")
        self.fields["vaccine"].choices = [("", _("Choisissez le vaccin")), *two_doses]
        self.fields["near"].required = True
        self.fields["near"].widget.attrs.update(SearchForm().fields["near"].widget.attrs)

    def clean_radius_km(self) -> int:
        return self.cleaned_data["radius_km"] or DEFAULT_RADIUS_KM


class BirthDateWidget(forms.MultiWidget):
    """Day, month and year in three boxes: easier than a date picker on an old phone."""

    template_name = "portal/widgets/birth_date.html"

    def __init__(self):
        number = {"inputmode": "numeric", "class": "fr-input"}
        super().__init__(
            widgets={
                "day": forms.TextInput(
                    attrs={**number, "maxlength": 2, "autocomplete": "bday-day"}
                ),
                "month": forms.TextInput(
                    attrs={**number, "maxlength": 2, "autocomplete": "bday-month"}
                ),
                "year": forms.TextInput(
                    attrs={**number, "maxlength": 4, "autocomplete": "bday-year"}
                ),
            }
        )

    def decompress(self, value):
        return [value.day, value.month, value.year] if value else [None, None, None]


YEAR_IN_FULL = _("L'année de naissance s'écrit en 4 chiffres, par exemple 1928.")


class BirthDateField(forms.MultiValueField):
    widget = BirthDateWidget

    def __init__(self, **kwargs):
        digits = {"error_messages": {"invalid": _("Saisissez des chiffres.")}}
        super().__init__(
            fields=(
                forms.IntegerField(min_value=1, max_value=31, **digits),
                forms.IntegerField(min_value=1, max_value=12, **digits),
                # "28" for 1928 is what people type; the century is not guessed (1928 or
                # a child of 2028?): the year is asked again, in four digits.
                forms.IntegerField(
                    min_value=1880,
                    max_value=9999,
                    error_messages={
                        **digits["error_messages"],
                        "min_value": YEAR_IN_FULL,
                        "max_value": YEAR_IN_FULL,
                    },
                ),
            ),
            require_all_fields=True,
            error_messages={
                "incomplete": _("Indiquez le jour, le mois et l'année de naissance."),
                "invalid": _("Cette date de naissance n'existe pas."),
            },
            **kwargs,
        )

    def compress(self, values):
        if not values:
            return None
        day, month, year = values
        try:
            return date(year, month, day)
        except ValueError:
            raise forms.ValidationError(
                _("Cette date de naissance n'existe pas."), code="invalid"
            ) from None


def site_category_choices(*, codes: list[str]) -> list[tuple[str, str]]:
    """The categories a site is reserved for, in the vocabulary's order, with their labels."""
    return [(code, label) for code, label in category_labels().items() if code in codes]


class SiteCategoriesForm(DsfrBaseForm):
    """The question a site reserved for some people asks before the person's details."""

    categories = forms.MultipleChoiceField(
        label=_(
            "Êtes-vous l'une de ces personnes (ou la personne à vacciner, si c'est un proche) ?"
        ),
        help_text=_("Ce lieu ne vaccine qu'elles."),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _(
                "Cochez ce qui concerne la personne à vacciner, ou cherchez un autre lieu."
            )
        },
    )

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = choices


def phone_field(
    *, label=_("Numéro de portable"), help_text=_("Par exemple : 06 12 34 56 78.")
) -> forms.CharField:
    """A mobile number: the phone's keypad opens (type and inputmode "tel")."""
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=PHONE_MAX_LENGTH,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
    )


def email_field(
    *, label=_("Adresse e-mail"), help_text=_("Par exemple : jeanne.martin@exemple.fr.")
) -> forms.EmailField:
    """An e-mail address: the phone's keyboard shows the @."""
    return forms.EmailField(
        label=label,
        help_text=help_text,
        max_length=254,
        required=False,
        error_messages={
            "invalid": _(
                "Cette adresse e-mail n'est pas complète : elle s'écrit comme "
                "jeanne.martin@exemple.fr, avec un @."
            )
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class ContactForm(DsfrBaseForm):
    """Where messages go: a mobile number or an e-mail address, one of the two. Two fields,
    not one that takes either, so that a phone shows the keyboard each needs (digits for a
    number, the @ for an address) and a browser fills each from what it knows."""

    phone = phone_field()
    email = email_field()
    # The call centre may send a letter instead: there, neither is refused by the service.
    contact_required = True

    def clean(self):
        cleaned = super().clean()
        if "phone" not in self.fields:
            return cleaned
        phone, email = cleaned.get("phone"), cleaned.get("email")
        if phone and email:
            self.add_error(
                "email",
                _(
                    "Un seul des deux : le numéro de portable ou l'adresse e-mail. "
                    "Effacez celui où vous ne voulez rien recevoir."
                ),
            )
        elif self.contact_required and not phone and not email and "email" not in self.errors:
            self.add_error("phone", _("Donnez un numéro de portable ou une adresse e-mail."))
        return cleaned

    def contact_given(self) -> dict[str, str]:
        """The one given, as the services take it: ``{"phone": …}`` or ``{"email": …}``."""
        data = self.cleaned_data
        return {"email": data["email"]} if data.get("email") else {"phone": data["phone"]}

    def contact_error(self, error: DomainError) -> None:
        """A refusal of the phone or the address, on its field; the one given by default."""
        field = error.details.get("field")
        if field not in ("phone", "email"):
            field = next(iter(self.contact_given()))
        self.add_error(field, error.message)


class PersonFields(DsfrBaseForm):
    """Who is to be vaccinated: the names and birth date that every form about a person
    asks, declared once (a booking, the waiting list and the alerts here; the call
    centre's forms too, which type the birth date their own way). Put before ContactForm
    by the forms that need a contact as well."""

    given_name = forms.CharField(label=_("Prénom"), max_length=100)
    family_name = forms.CharField(label=_("Nom"), max_length=100)
    birth_date = BirthDateField(
        label=_("Date de naissance"), help_text=_("Par exemple : 27 3 1941.")
    )

    def person_for_session(self) -> dict:
        """The names and birth date as a session keeps them (`person_from_session`)."""
        data = self.cleaned_data
        return {
            "given_name": data["given_name"],
            "family_name": data["family_name"],
            "birth_date": data["birth_date"].isoformat(),
        }


def person_from_session(kept: dict) -> PersonData:
    """The person of PersonFields.person_for_session (with its categories, if kept)."""
    return PersonData(
        given_name=kept["given_name"],
        family_name=kept["family_name"],
        birth_date=date.fromisoformat(kept["birth_date"]),
        categories=tuple(kept.get("categories", ())),
    )


class PlaceWishesForm(PersonFields, ContactForm):
    """What the waiting list's and the alerts' forms share: who, a place typed (`near`,
    each form's own label), the contact (left out when this session verified it), and a
    service's refusal put on the field it names."""

    # A service's field, when this form calls it otherwise.
    service_fields = {"contact": "phone"}

    def __init__(self, *args, contact_known: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["near"].widget.attrs.update(SearchForm().fields["near"].widget.attrs)
        if contact_known:
            del self.fields["phone"], self.fields["email"]

    def place(self) -> Place | None:
        """The place typed, resolved; None with the refusal on its field."""
        try:
            return place_resolve(query=self.cleaned_data["near"])
        except DomainError as error:
            self.add_error("near", error.message)
            return None

    def refusal(self, error: DomainError) -> None:
        """A service's refusal on the field it names, or above the form."""
        field = error.details.get("field")
        field = self.service_fields.get(field, field)
        self.add_error(field if field in self.fields else None, error.message)

    def place_for_session(self, place: Place) -> dict:
        """The place resolved as a session keeps it (`place_from_session`)."""
        return {"place": [place.position.latitude, place.position.longitude, place.label]}


def place_from_session(kept: dict) -> Place:
    latitude, longitude, label = kept["place"]
    return Place(position=Position(latitude, longitude), label=label)


class PersonForm(PersonFields, ContactForm):
    # The contact last, as the page shows it.
    field_order = ["given_name", "family_name", "birth_date", "categories", "dose2_slot"]
    categories = forms.MultipleChoiceField(
        label=_("Situation particulière (facultatif)"),
        help_text=_("Cochez ce qui s'applique à la personne : certains rendez-vous en dépendent."),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    dose2_slot = forms.TypedChoiceField(
        label=_("Rendez-vous de seconde dose"),
        widget=forms.RadioSelect,
        coerce=int,
        # Left out, the proposed second-dose slot (held with the first) is booked.
        required=False,
        empty_value=None,
    )

    def __init__(
        self,
        *args,
        dose2_choices=(),
        dose2_initial: int | None = None,
        contact_known: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.fields["given_name"].widget.attrs["autocomplete"] = "off"
        self.fields["family_name"].widget.attrs["autocomplete"] = "off"
        self.fields["categories"].choices = _category_choices()
        if dose2_choices:
            # The choices are one day's slots; one is always ticked, so that the dose 2
            # booked is one the page shows.
            self.fields["dose2_slot"].choices = dose2_choices
            self.fields["dose2_slot"].initial = dose2_initial or dose2_choices[0][0]
        else:
            del self.fields["dose2_slot"]
        if contact_known:
            del self.fields["phone"], self.fields["email"]


def person_draft(data: QueryDict) -> dict:
    """What was typed in the person's form, as its initial values: kept in the session so
    that nothing has to be typed again when the booking goes on with another hold."""
    fields = PersonForm.base_fields
    values = {name: fields[name].widget.value_from_datadict(data, {}, name) for name in fields}
    return {name: value for name, value in values.items() if value not in (None, "", [])}


class CodeForm(DsfrBaseForm):
    code = forms.CharField(
        label=_("Code reçu"),
        help_text=_("6 chiffres, valable 10 minutes."),
        max_length=12,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update(
            {"inputmode": "numeric", "autocomplete": "one-time-code"}
        )


class ManageForm(ContactForm):
    field_order = ["reference"]
    reference = forms.CharField(
        label=_("Référence du rendez-vous"),
        help_text=_("9 caractères, dans le message de confirmation. Par exemple : K7QM-4TR2-X."),
        max_length=20,
    )


class EligibilityForm(DsfrBaseForm):
    birth_date = BirthDateField(label=_("Date de naissance"))
    categories = forms.MultipleChoiceField(
        label=_("Situation particulière (facultatif)"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = _category_choices()
