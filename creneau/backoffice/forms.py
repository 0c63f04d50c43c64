from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from dsfr.forms import DsfrBaseForm

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
