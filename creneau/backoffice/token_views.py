"""A national or regional authority's staff API tokens (the national vaccination registry
reads `/fhir/r4/Immunization` with one): made and revoked by the authority for its own
account, each a staff action in the audit log. A new token is shown once, on the answer
to the form that made it, and kept nowhere but in the reader's hands."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from creneau.core.errors import DomainError, InvalidInput
from creneau.staff.access import staff_view
from creneau.staff.selectors import api_token_list
from creneau.staff.services import API_TOKEN_MAX_DAYS, api_token_create, api_token_revoke


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Nom du jeton"),
        max_length=100,
        help_text=gettext_lazy("Le système qui s'en servira, par exemple « Registre national »"),
    )
    days = forms.IntegerField(
        label=gettext_lazy("Valable (jours)"),
        min_value=1,
        max_value=API_TOKEN_MAX_DAYS,
        initial=90,
        help_text=gettext_lazy("De 1 à 366 jours"),
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_view(permission="api_tokens.manage")
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    made = None
    if request.method == "POST" and form.is_valid():
        try:
            made = api_token_create(actor=request.actor, user=request.user, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.details.get("field"), error.message)
        else:
            form = ApiTokenForm()
    return render(
        request,
        "backoffice/api_tokens.html",
        {
            "form": form,
            "made": made,
            "tokens": api_token_list(user=request.user),
            "now": timezone.now(),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@require_POST
@staff_view(permission="api_tokens.manage")
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke(actor=request.actor, user=request.user, token_id=token_id)
    except InvalidInput as error:
        # Already revoked; a token of another account is "not found" (staff_view's 404).
        messages.error(request, error.message)
    else:
        messages.success(request, _("Jeton révoqué : %(name)s.") % {"name": token.name})
    return redirect("backoffice:api_tokens")
