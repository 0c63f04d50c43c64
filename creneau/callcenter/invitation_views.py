"""An invitation's code read out by a caller (campaigns): a code that booked opens that
course's file; otherwise booking starts near the invitee, whose names, birth date and
contact fill the person's form, and the invitation admits them (`invitation_book`)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from creneau.audit.services import audit_record
from creneau.campaigns.selectors import invitation_find
from creneau.campaigns.services import invitation_opened
from creneau.core.errors import DomainError
from creneau.staff.access import staff_view

INVITATION = "callcenter_invitation"


@require_POST
@staff_view(permission="callcentre.book")
def invitation(request: HttpRequest) -> HttpResponse:
    try:
        found = invitation_find(code=request.POST.get("code", "")[:20])
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("callcenter:home")
    # The invitee's details are personal data shown to an agent: the look is audited.
    audit_record(
        actor=request.actor,
        action="view",
        obj=found,
        summary=_("Invitation retrouvée par son code"),
    )
    invitation_opened(invitation_id=found.pk)
    if found.series_id is not None:
        messages.info(request, _("Cette invitation a déjà servi : voici le rendez-vous."))
        return redirect("callcenter:file", series_id=found.series_id)
    invitee = found.invitee
    request.session[INVITATION] = {
        "id": found.pk,
        "given_name": invitee.given_names.split(" ")[0],
        "family_name": invitee.family_name,
        "birth_date": invitee.birth_date.isoformat(),
        "contact": invitee.phone or invitee.email,
    }
    messages.success(
        request,
        _("Invitation reconnue : choisissez un créneau, la personne sera remplie."),
    )
    near = invitee.address.get("postcode", "")
    return redirect(reverse("callcenter:slots") + "?" + urlencode({"near": near}))
