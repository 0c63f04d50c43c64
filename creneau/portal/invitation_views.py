"""An invitation's code (campaigns): typed on the home page, or carried by the link in
the message (in the fragment, filled in by portal.js and posted). Its check character is
checked before any lookup. A code not yet used opens booking near the invitee's home
with their names and birth date filled in; a code that booked opens that booking."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from dsfr.forms import DsfrBaseForm

from creneau.admission.limits import limit_hit
from creneau.booking import tokens
from creneau.campaigns.selectors import invitation_find
from creneau.campaigns.services import invitation_opened
from creneau.core.clients import network_key, request_ip
from creneau.core.errors import DomainError, TooManyRequests

from .views import BOOKING, INVITATION, _remember


class InvitationForm(DsfrBaseForm):
    code = forms.CharField(
        label=gettext_lazy("Code de votre invitation"),
        help_text=gettext_lazy("9 caractères, par exemple ABCD-EFGH-K."),
        max_length=20,
    )


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            # Each code tried counts like a code asked for: guessing codes is slow.
            limit_hit(name="codes_per_address", key=network_key(request_ip(request)))
            found = invitation_find(code=form.cleaned_data["code"])
        except (DomainError, TooManyRequests) as error:
            form.add_error("code", error.message)
            status = error.status
        else:
            invitation_opened(invitation_id=found.pk)
            if found.series is not None:
                _remember(request, found.series)
                messages.info(request, _("Cette invitation a déjà servi : voici le rendez-vous."))
                return redirect(
                    "portal:booking", reference=tokens.reference_display(found.series.reference)
                )
            invitee = found.invitee
            request.session.pop(BOOKING, None)
            request.session[INVITATION] = {
                "id": found.pk,
                "given_name": invitee.given_names.split(" ")[0],
                "family_name": invitee.family_name,
                "birth_date": invitee.birth_date.isoformat(),
            }
            messages.success(
                request,
                _(
                    "Invitation reconnue. Choisissez un lieu et un créneau : le nom et la "
                    "date de naissance seront remplis."
                ),
            )
            near = invitee.address.get("postcode", "")
            return redirect(reverse("portal:home") + "?" + urlencode({"near": near}))
    elif request.method == "POST":
        status = 400
    return render(request, "portal/invitation.html", {"form": form}, status=status)
