"""Putting a caller on the waiting list for leftover doses: the agent types who, where,
when and the caller's mobile or e-mail (read back to them, no code: the agent is the
check, and the entry is in the audit log, waitlist_join's event; callcenter.wishes)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from creneau.portal.waitlist_forms import WaitlistForm, draft_arguments
from creneau.staff.access import staff_view
from creneau.waitlist.services import waitlist_join

from .wishes import caller_wishes_save


@require_http_methods(["GET", "POST"])
@staff_view(permission="callcentre.book")
def join(request: HttpRequest) -> HttpResponse:
    form = WaitlistForm(request.POST or None)
    status = 400
    if request.method == "POST" and form.is_valid():
        refused = caller_wishes_save(
            request, form=form, service=waitlist_join, arguments=draft_arguments
        )
        if refused is None:
            messages.success(
                request,
                _("%(name)s est sur la liste d'attente ; un message le confirme à l'appelant.")
                % {"name": form.cleaned_data["given_name"]},
            )
            return redirect("callcenter:waitlist")
        status = refused
    return render(
        request,
        "callcenter/waitlist.html",
        {"form": form},
        status=status if form.errors else 200,
    )
