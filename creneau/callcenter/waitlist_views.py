"""Putting a caller on the waiting list for leftover doses: the agent types who, where,
when and the caller's mobile or e-mail (read back to them, no code: the agent is the
check, and the entry is in the audit log, waitlist_join's event)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from creneau.booking.services import contact_for_agent
from creneau.core.errors import DomainError
from creneau.portal.waitlist_forms import WaitlistForm, draft_arguments
from creneau.staff.access import staff_view
from creneau.waitlist.services import waitlist_join


@require_http_methods(["GET", "POST"])
@staff_view(permission="callcentre.book")
def join(request: HttpRequest) -> HttpResponse:
    form = WaitlistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        place = form.place()
        if place is not None:
            try:
                contact = contact_for_agent(**form.contact_given())
                waitlist_join(
                    contact=contact,
                    actor=request.actor,
                    **draft_arguments(form.draft(place)),
                )
            except DomainError as error:
                if error.details.get("field") in ("phone", "email"):
                    form.contact_error(error)
                else:
                    form.refusal(error)
            else:
                messages.success(
                    request,
                    _("%(name)s est sur la liste d'attente ; un message le confirme à l'appelant.")
                    % {"name": form.cleaned_data["given_name"]},
                )
                return redirect("callcenter:waitlist")
    return render(
        request,
        "callcenter/waitlist.html",
        {"form": form},
        status=400 if form.errors else 200,
    )
