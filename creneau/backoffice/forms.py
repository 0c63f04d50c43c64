from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from dsfr.forms import DsfrBaseForm

from creneau.audit.models import AuditEvent
from creneau.staff.selectors import login_locked_until
from creneau.staff.services import login_failure_record, login_success_record


class StaffLoginForm(DsfrBaseForm, AuthenticationForm):
    """Django's sign-in, locked for 15 minutes after five failures in a row."""

    username = forms.CharField(label=gettext_lazy("Identifiant"), max_length=150)
    password = forms.CharField(
        label=gettext_lazy("Mot de passe"), strip=False, widget=forms.PasswordInput
    )

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        locked = login_locked_until(username=username)
        if locked is not None:
            raise forms.ValidationError(self._locked_message(locked), code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            locked = login_failure_record(username=username)
            if locked is not None:
                raise forms.ValidationError(self._locked_message(locked), code="locked") from None
            raise
        login_success_record(username=username)
        return cleaned

    @staticmethod
    def _locked_message(until) -> str:
        return _(
            "Trop d'essais : ce compte est bloqué jusqu'à %(time)s. Réessayez ensuite, ou "
            "demandez à votre responsable."
        ) % {"time": formats.time_format(timezone.localtime(until), "H:i")}


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
