"""The waiting list's public pages: joining (the contact verified by a code, as for a
booking, or already verified in this session), an offer's link (accept, once), an entry's
link (renew, leave). Each reads its input, calls one waitlist service, renders."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from creneau.admission.limits import limit_hit
from creneau.booking import tokens as booking_tokens
from creneau.booking.models import Contact
from creneau.core.errors import DomainError, InvalidInput, TooManyRequests
from creneau.geography.selectors import department_timezone
from creneau.waitlist import tokens
from creneau.waitlist.selectors import entry_from_token, offer_from_token
from creneau.waitlist.services import (
    offer_accept,
    waitlist_join,
    waitlist_leave,
    waitlist_renew,
    waitlist_wishes_check,
)

from .forms import CodeForm
from .views import (
    _code_context,
    _redirects,
    _remember,
    _session_contact,
    _verification_send,
    _verify,
)
from .waitlist_forms import WaitlistForm, draft_arguments

# Session key: the entry typed while its code is on its way.
WAITLIST = "portal_waitlist"


@_redirects
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    contact = _session_contact(request)
    form = WaitlistForm(request.POST or None, contact_known=contact is not None)
    if request.method == "POST" and form.is_valid():
        place = form.place()
        if place is not None:
            try:
                waitlist_wishes_check(
                    radius_km=form.cleaned_data["radius_km"],
                    windows=form.windows(),
                    notice_minutes=form.cleaned_data["notice_minutes"],
                    vaccine_ids=form.cleaned_data["vaccines"],
                )
            except DomainError as error:
                form.refusal(error)
            else:
                if contact is not None:
                    return _join(request, contact=contact, draft=form.draft(place), form=form)
                try:
                    verification = _verification_send(request, **form.contact_given())
                except (InvalidInput, TooManyRequests) as error:
                    form.contact_error(error)
                else:
                    request.session[WAITLIST] = {
                        "draft": form.draft(place),
                        "verification": verification,
                    }
                    return redirect("portal:waitlist_code")
    return render(
        request,
        "portal/waitlist_join.html",
        {"form": form, "contact": contact},
        status=400 if form.errors else 200,
    )


def _join(
    request: HttpRequest, *, contact: Contact, draft: dict, form: WaitlistForm | None = None
) -> HttpResponse:
    try:
        limit_hit(name="bookings_per_contact", key=str(contact.pk))
        entry = waitlist_join(contact=contact, **draft_arguments(draft))
    except DomainError as error:
        if form is not None:
            form.refusal(error)
            return render(
                request,
                "portal/waitlist_join.html",
                {"form": form, "contact": contact},
                status=error.status,
            )
        messages.error(request, error.message)
        return redirect("portal:waitlist")
    request.session.pop(WAITLIST, None)
    messages.success(
        request,
        _("C'est fait : vous êtes sur la liste d'attente. Un message vous le confirme."),
    )
    return redirect("portal:waitlist_entry", token=tokens.entry_token(entry_id=entry.pk))


@_redirects
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    state = request.session.get(WAITLIST)
    if not state:
        return redirect("portal:waitlist")
    form = CodeForm(
        request.POST if request.method == "POST" and "resend" not in request.POST else None
    )
    if request.method == "POST":
        contact = _verify(request, state=state, form=form)
        if contact is not None:
            return _join(request, contact=contact, draft=state["draft"])
        if "resend" in request.POST:
            return redirect("portal:waitlist_code")
    return render(request, "portal/code.html", _code_context(state, form, managing=True))


@require_http_methods(["GET", "POST"])
def offer(request: HttpRequest, token: str) -> HttpResponse:
    """An offer's link: what is offered (GET changes nothing), then "J'accepte" (POST)."""
    found = offer_from_token(token=token)
    context = {"offer": found, "site": found.leftover.site}
    if request.method == "POST":
        try:
            limit_hit(name="bookings_per_contact", key=str(found.entry.contact_id))
            answer = offer_accept(offer_id=found.pk)
        except DomainError as error:
            messages.error(request, error.message)
            return render(request, "portal/waitlist_offer.html", context, status=error.status)
        if answer.accepted:
            series = answer.booking.series
            _remember(request, series)
            messages.success(request, _("C'est à vous : la dose vous attend."))
            return redirect(
                "portal:booking", reference=booking_tokens.reference_display(series.reference)
            )
        context = {"offer": answer.offer, "site": found.leftover.site, "gone": True}
        return render(request, "portal/waitlist_offer.html", context, status=409)
    tz = department_timezone(department_code=found.leftover.site.department_id)
    context["until"] = found.leftover.until.astimezone(tz)
    context["expires"] = found.expires_at.astimezone(tz)
    return render(request, "portal/waitlist_offer.html", context)


@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, token: str) -> HttpResponse:
    """An entry's link, in every message of the list: stay 30 days more, or leave."""
    found = entry_from_token(token=token)
    if request.method == "POST":
        if request.POST.get("action") == "leave":
            waitlist_leave(entry_id=found.pk)
            messages.success(request, _("Vous avez quitté la liste d'attente."))
        else:
            try:
                waitlist_renew(entry_id=found.pk)
            except DomainError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, _("Inscription prolongée de 30 jours."))
        return redirect("portal:waitlist_entry", token=token)
    return render(request, "portal/waitlist_entry.html", {"entry": found})
