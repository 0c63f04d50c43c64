"""The waiting list's public pages: joining (the contact verified by a code, as for a
booking, or already verified in this session), an offer's link (accept, once), an entry's
link (renew, leave). Each reads its input, calls one waitlist service, renders.

The links in messages carry their key in the fragment (`…/ouvrir/#cle=…`), which no
server receives, like a booking's: the `ouvrir/` page's script posts it, or without
JavaScript the person pastes the link into its form; the pages after it name the offer or
the entry by id, which this session opened."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from creneau.admission.limits import limit_hit
from creneau.booking import tokens as booking_tokens
from creneau.booking.models import ACTIVE_APPOINTMENT_STATUSES, Contact
from creneau.core.errors import DomainError, NotFound
from creneau.geography.selectors import department_timezone
from creneau.waitlist.selectors import entry_from_token, entry_get, offer_from_token, offer_get
from creneau.waitlist.services import (
    OfferAnswer,
    offer_accept,
    waitlist_join,
    waitlist_leave,
    waitlist_renew,
    waitlist_wishes_check,
)

from .views import _code_step, _redirects, _remember, _session_contact, _wishes_step
from .waitlist_forms import WaitlistForm, draft_arguments

# Session keys: the entry typed while its code is on its way; the offers and the entries
# whose links this session opened (ids, the last ten).
WAITLIST = "portal_waitlist"
OFFERS = "portal_waitlist_offers"
ENTRIES = "portal_waitlist_entries"


@_redirects
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    contact = _session_contact(request)
    form = WaitlistForm(request.POST or None, contact_known=contact is not None)
    if request.method == "POST" and form.is_valid():
        answer = _wishes_step(
            request,
            form=form,
            contact=contact,
            check=lambda: waitlist_wishes_check(
                radius_km=form.cleaned_data["radius_km"],
                windows=form.windows(),
                notice_minutes=form.cleaned_data["notice_minutes"],
                vaccine_ids=form.cleaned_data["vaccines"],
            ),
            done=lambda verified, draft: _join(request, contact=verified, draft=draft, form=form),
            state_key=WAITLIST,
            code_page="portal:waitlist_code",
        )
        if answer is not None:
            return answer
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
    _opened(request, ENTRIES, entry.pk)
    return redirect("portal:waitlist_entry", entry_id=entry.pk)


@_redirects
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    state = request.session.get(WAITLIST)
    if not state:
        return redirect("portal:waitlist")
    return _code_step(
        request,
        state=state,
        verified=lambda contact: _join(request, contact=contact, draft=state["draft"]),
        again="portal:waitlist_code",
        context=lambda: {"managing": True},
    )


def _opened(request: HttpRequest, key: str, pk: int) -> None:
    """This browser may show the offer or entry `pk` until it is closed (a link opened on
    a shared computer must not stay open for the next person)."""
    request.session.set_expiry(0)
    request.session[key] = [*request.session.get(key, [])[-9:], pk]


def _key_posted(request: HttpRequest) -> str:
    """The key portal.js posts from the link's fragment, or the link pasted whole (or
    its key alone) without JavaScript."""
    return request.POST.get("cle", "").strip().rsplit("cle=", 1)[-1].strip()


def _link_open(request: HttpRequest, *, kind: str) -> HttpResponse:
    """The page a link in a message opens (`kind`: "offer" or "entry"): GET shows it (its
    script posts the key, or the person pastes the link); POST opens what the key names
    in this session, or says the link is not valid (404) and offers the form again."""
    if request.method == "POST":
        try:
            if kind == "offer":
                found = offer_from_token(token=_key_posted(request))
                _opened(request, OFFERS, found.pk)
                return redirect("portal:waitlist_offer", offer_id=found.pk)
            found = entry_from_token(token=_key_posted(request))
            _opened(request, ENTRIES, found.pk)
            return redirect("portal:waitlist_entry", entry_id=found.pk)
        except NotFound as error:
            context = {"kind": kind, "error": error.message}
            return render(request, "portal/waitlist_open.html", context, status=error.status)
    return render(request, "portal/waitlist_open.html", {"kind": kind})


@require_http_methods(["GET", "POST"])
def offer_open(request: HttpRequest) -> HttpResponse:
    return _link_open(request, kind="offer")


@require_http_methods(["GET", "POST"])
def entry_open(request: HttpRequest) -> HttpResponse:
    return _link_open(request, kind="entry")


@require_http_methods(["GET", "POST"])
def entry_legacy(request: HttpRequest, token: str) -> HttpResponse:
    """An entry's link sent before keys moved to the fragment
    (`/liste-attente/inscription/<key>/`, 60 days): it still opens, then the key leaves
    the address bar. Our logs name the route, never the path."""
    found = entry_from_token(token=token)
    _opened(request, ENTRIES, found.pk)
    return redirect("portal:waitlist_entry", entry_id=found.pk)


def _accepted(answer: OfferAnswer) -> str:
    """What the person reads once the dose is theirs: for a two-dose product, where and
    when its dose 2 is booked, to move at once on the booking's page if it does not suit."""
    dose2 = next(
        (
            appointment
            for appointment in answer.booking.appointments
            if appointment.dose_number == 2 and appointment.status in ACTIVE_APPOINTMENT_STATUSES
        ),
        None,
    )
    if dose2 is None:
        return _("C'est à vous : la dose vous attend.")
    site = dose2.slot.site
    start = dose2.slot.start.astimezone(department_timezone(department_code=site.department_id))
    return _(
        "C'est à vous : la dose vous attend. Votre seconde dose est réservée le %(day)s à "
        "%(time)s, à %(site)s : si ce moment ne vous convient pas, déplacez-la dès maintenant "
        "ci-dessous (« Déplacer la dose 2 »)."
    ) % {
        "day": formats.date_format(start, "l j F Y"),
        "time": formats.time_format(start, "H:i"),
        "site": site.name,
    }


@require_http_methods(["GET", "POST"])
def offer(request: HttpRequest, offer_id: int) -> HttpResponse:
    """An offer this session opened: what is offered (GET changes nothing), then
    "J'accepte" (POST). Another browser's, or an id typed, is "not found"."""
    if offer_id not in request.session.get(OFFERS, []):
        raise NotFound(_("Ce lien de proposition n'est pas valable."))
    found = offer_get(offer_id=offer_id)
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
            messages.success(request, _accepted(answer))
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
def entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    """An entry this session opened (its link, in every message of the list, or joining):
    stay 30 days more, or leave."""
    if entry_id not in request.session.get(ENTRIES, []):
        raise NotFound(_("Ce lien d'inscription n'est pas valable."))
    found = entry_get(entry_id=entry_id)
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
        return redirect("portal:waitlist_entry", entry_id=found.pk)
    return render(request, "portal/waitlist_entry.html", {"entry": found})
