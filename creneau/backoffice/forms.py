from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from dsfr.forms import DsfrBaseForm

from creneau.admission.limits import sign_in_admit, sign_in_failed_from, sign_in_failure_count
from creneau.audit.models import AuditEvent
from creneau.audit.services import audit_record
from creneau.core.clients import request_ip
from creneau.core.errors import TooManyRequests
from creneau.staff.access import actor_from_request
from creneau.staff.selectors import login_locked_until, second_factor_enrolled
from creneau.staff.services import login_failure_record
from creneau.vaccines.models import Vaccine


class StaffLoginForm(DsfrBaseForm, AuthenticationForm):
    """The staff sign-in's first step, the password, behind three throttles:

    - an address with too many failures across any accounts (password spraying) is
      refused before the password is checked (`admission.limits.sign_in_admit`);
    - five failures in a row lock the account name for 15 minutes
      (`staff.services.login_failure_record`);
    - a locked account still opens from an address that has not failed on it, with the
      right password and then its second factor (an account without one stays locked):
      typing wrong passwords under a nurse's name does not lock her out.

    Every refusal is in the audit log under the name typed. The lock is cleared once the
    whole sign-in succeeds (the view calls `login_success_record`, after the code when
    one is asked)."""

    username = forms.CharField(label=gettext_lazy("Identifiant"), max_length=150)
    password = forms.CharField(
        label=gettext_lazy("Mot de passe"), strip=False, widget=forms.PasswordInput
    )

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = request_ip(self.request)
        try:
            sign_in_admit(address=address)
        except TooManyRequests as refused:
            self._failure_audit(username, summary=_("Adresse bloquée après trop d'échecs"))
            raise forms.ValidationError(refused.message, code="throttled") from None
        locked = login_locked_until(username=username)
        if locked is not None and sign_in_failed_from(username=username, address=address):
            self._failure_audit(username, summary=_("Compte bloqué"))
            raise forms.ValidationError(self._locked_message(locked), code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            sign_in_failure_count(username=username, address=address)
            locked = login_failure_record(username=username) or locked
            self._failure_audit(
                username,
                summary=_("Compte bloqué") if locked else _("Mot de passe ou identifiant refusé"),
            )
            if locked is not None:
                raise forms.ValidationError(self._locked_message(locked), code="locked") from None
            raise
        if locked is not None and not second_factor_enrolled(user=self.get_user()):
            self._failure_audit(username, summary=_("Compte bloqué"))
            raise forms.ValidationError(self._locked_message(locked), code="locked")
        return cleaned

    def _failure_audit(self, username: str, *, summary: str) -> None:
        """Failed sign-ins are in the audit log too: guessing shows there."""
        audit_record(
            actor=actor_from_request(self.request),
            action="login_failed",
            object_type="auth.user",
            object_id=username,
            summary=summary,
        )

    @staticmethod
    def _locked_message(until) -> str:
        return _(
            "Trop d'essais : ce compte est bloqué jusqu'à %(time)s. Réessayez ensuite, "
            "connectez-vous depuis votre poste habituel avec votre code de double "
            "authentification, ou demandez à votre responsable."
        ) % {"time": formats.time_format(timezone.localtime(until), "H:i")}


class SecondFactorForm(DsfrBaseForm):
    token = forms.CharField(
        label=gettext_lazy("Code de vérification"),
        help_text=gettext_lazy(
            "Les 6 chiffres affichés par votre application d'authentification, ou l'un de "
            "vos codes de secours."
        ),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class EnrolForm(DsfrBaseForm):
    token = forms.CharField(
        label=gettext_lazy("Code affiché par l'application"),
        help_text=gettext_lazy("6 chiffres, par exemple 123456."),
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class SiteSecondFactorForm(DsfrBaseForm):
    required = forms.BooleanField(
        label=gettext_lazy(
            "Le personnel du lieu se connecte avec un code de double authentification"
        ),
        required=False,
    )


class StaffPasswordResetForm(DsfrBaseForm, PasswordResetForm):
    email = forms.EmailField(
        label=gettext_lazy("Adresse e-mail de votre compte"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def get_users(self, email):
        """Active staff accounts (and the admin's) with this address; the page says the
        same whether one exists or not."""
        return (
            user
            for user in super().get_users(email)
            if user.is_staff or hasattr(user, "staff_profile")
        )


class StaffSetPasswordForm(DsfrBaseForm, SetPasswordForm):
    """The new password, checked by the same rules as every staff password."""


class AuditFilterForm(DsfrBaseForm):
    """The filters of the audit log; all optional, dates as the browser's date picker."""

    actor = forms.CharField(label=gettext_lazy("Compte"), max_length=150, required=False)
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        choices=[("", gettext_lazy("Toutes")), *AuditEvent.Action.choices],
        required=False,
    )
    site = forms.IntegerField(
        label=gettext_lazy("Numéro du lieu"), min_value=1, max_value=2**31 - 1, required=False
    )
    object_type = forms.CharField(
        label=gettext_lazy("Type d'objet"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("Par exemple booking.series ou care.administration"),
    )
    object_id = forms.CharField(
        label=gettext_lazy("Numéro d'objet"), max_length=100, required=False
    )
    since = forms.DateField(
        label=gettext_lazy("Depuis le"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label=gettext_lazy("Jusqu'au (inclus)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            raise forms.ValidationError(_("La fin de la période est avant son début."))
        return cleaned


class CancellationForm(DsfrBaseForm):
    reason = forms.CharField(
        label=gettext_lazy("Raison, dite aux personnes"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Par exemple : « Livraison de vaccins retardée. » Elle figure dans le SMS ou "
            "l'e-mail, avec un lien pour reprendre rendez-vous."
        ),
    )


def _date_input() -> forms.DateInput:
    # The browser's date picker reads and writes ISO dates, whatever the language.
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _active_vaccines():
    return Vaccine.objects.filter(active=True).order_by("name")


class SiteDetailsForm(DsfrBaseForm):
    name = forms.CharField(label=gettext_lazy("Nom du lieu"), max_length=200)
    phone = forms.CharField(label=gettext_lazy("Téléphone"), max_length=40, required=False)
    accessibility = forms.CharField(
        label=gettext_lazy("Accessibilité"), max_length=250, required=False
    )
    booking_url = forms.URLField(
        label=gettext_lazy("Lien de réservation propre au lieu (facultatif)"),
        max_length=500,
        required=False,
        assume_scheme="https",
    )


class PublicationForm(DsfrBaseForm):
    publish_at = forms.DateTimeField(
        label=gettext_lazy("Publier le"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )


WEEKDAYS = [
    (0, gettext_lazy("lundi")),
    (1, gettext_lazy("mardi")),
    (2, gettext_lazy("mercredi")),
    (3, gettext_lazy("jeudi")),
    (4, gettext_lazy("vendredi")),
    (5, gettext_lazy("samedi")),
    (6, gettext_lazy("dimanche")),
]


class SessionOpenForm(DsfrBaseForm):
    """One session, or the same one on chosen weekdays over a date range."""

    vaccine = forms.ModelChoiceField(label=gettext_lazy("Vaccin"), queryset=Vaccine.objects.none())
    dose_number = forms.TypedChoiceField(
        label=gettext_lazy("Dose"),
        choices=[(1, gettext_lazy("Première dose")), (2, gettext_lazy("Seconde dose"))],
        coerce=int,
    )
    date_from = forms.DateField(label=gettext_lazy("Le (ou à partir du)"), widget=_date_input())
    date_to = forms.DateField(
        label=gettext_lazy("Jusqu'au (pour une série de sessions)"),
        widget=_date_input(),
        required=False,
    )
    weekdays = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Les jours de la semaine (pour une série)"),
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    start_time = forms.TimeField(
        label=gettext_lazy("Début"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    end_time = forms.TimeField(
        label=gettext_lazy("Fin"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    lines = forms.IntegerField(
        label=gettext_lazy("Lignes de vaccination"), min_value=1, max_value=100
    )
    slot_minutes = forms.IntegerField(
        label=gettext_lazy("Durée d'un créneau (minutes)"), min_value=5, max_value=120, initial=10
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vaccine"].queryset = _active_vaccines()

    # What a link may fill in (the leftover board's "open a second-dose session").
    PREFILLED = ("vaccine", "dose_number", "date_from")

    def prefill(self, query) -> dict:
        """The first values `query` gives for PREFILLED fields, each checked by its
        field; one that is not valid is left out (the page opens as usual)."""
        values = {}
        for name in self.PREFILLED:
            if query.get(name):
                try:
                    values[name] = self.fields[name].clean(query[name])
                except forms.ValidationError:
                    continue
        return values

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("date_to") and not cleaned.get("weekdays"):
            self.add_error("weekdays", _("Cochez les jours de la semaine de la série."))
        return cleaned


class LinesForm(DsfrBaseForm):
    lines = forms.IntegerField(label=gettext_lazy("Lignes"), min_value=1, max_value=100)


class DeliveryForm(DsfrBaseForm):
    vaccine = forms.ModelChoiceField(label=gettext_lazy("Vaccin"), queryset=Vaccine.objects.none())
    quantity = forms.IntegerField(label=gettext_lazy("Doses"), min_value=1, max_value=1_000_000)
    lot = forms.CharField(label=gettext_lazy("Lot"), max_length=40, required=False)
    expires_on = forms.DateField(
        label=gettext_lazy("Date de péremption"), widget=_date_input(), required=False
    )
    expected_on = forms.DateField(label=gettext_lazy("Livraison le"), widget=_date_input())
    received = forms.BooleanField(label=gettext_lazy("Déjà reçue"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vaccine"].queryset = _active_vaccines()
