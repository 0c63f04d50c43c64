"""A practice, a pharmacy or a centre applies to join (`/adherer/`): the form parses,
`application_submit` decides (each refusal on its field), the portal's abuse limit
counts each try per network."""

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods
from dsfr.forms import DsfrBaseForm

from creneau.admission.limits import limit_hit
from creneau.core.clients import network_key, request_ip
from creneau.core.errors import DomainError, TooManyRequests
from creneau.onboarding.models import Application
from creneau.onboarding.services import ApplicationData, application_submit


class ApplicationForm(DsfrBaseForm):
    kind = forms.ChoiceField(label=_("Vous êtes"), choices=Application.Kind.choices)
    name = forms.CharField(
        label=_("Nom du lieu"),
        max_length=200,
        help_text=_("Tel qu'il apparaîtra dans la recherche, par exemple : Pharmacie du Marché."),
    )
    address = forms.CharField(label=_("Numéro et voie"), max_length=250)
    postcode = forms.CharField(
        label=_("Code postal"), max_length=5, widget=forms.TextInput(attrs={"inputmode": "numeric"})
    )
    town = forms.CharField(label=_("Commune"), max_length=100)
    number_kind = forms.ChoiceField(
        label=_("Type de numéro"),
        choices=Application.NumberKind.choices,
        help_text=_(
            "FINESS pour un établissement ou une pharmacie, RPPS pour un médecin, SIRET "
            "pour l'entreprise qui porte le lieu."
        ),
    )
    number = forms.CharField(
        label=_("Numéro"),
        max_length=30,
        help_text=_(
            "Avec ou sans espaces : 9 caractères (FINESS), 11 chiffres (RPPS), 14 chiffres (SIRET)."
        ),
    )
    applicant_name = forms.CharField(label=_("Votre nom"), max_length=150)
    email = forms.EmailField(
        label=_("Votre adresse e-mail"),
        max_length=254,
        help_text=_("La réponse et, si la demande est acceptée, le lien pour créer votre accès."),
    )
    without_slots = forms.BooleanField(
        label=_("Nous vaccinons déjà ici, sans rendez-vous en ligne pour l'instant"),
        help_text=_(
            "Le lieu sera présenté ainsi, jamais comme réservable, tant qu'il n'a pas reçu "
            "de doses."
        ),
        required=False,
    )

    def data_built(self) -> ApplicationData:
        return ApplicationData(**self.cleaned_data)

    def refusal(self, error: DomainError) -> None:
        field = error.details.get("field")
        self.add_error(field if field in self.fields else None, error.message)


@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest) -> HttpResponse:
    form = ApplicationForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            limit_hit(name="applications_per_address", key=network_key(request_ip(request)))
            application_submit(data=form.data_built())
        except TooManyRequests as error:
            form.add_error(None, error.message)
            response = render(request, "portal/apply.html", {"form": form}, status=429)
            response["Retry-After"] = str(error.details.get("retry_after", 60))
            return response
        except DomainError as error:
            form.refusal(error)
        else:
            return redirect("portal:apply_sent")
    if form.errors:
        status = 400
    return render(request, "portal/apply.html", {"form": form}, status=status)


def apply_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/apply_sent.html")
