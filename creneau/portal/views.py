"""The public pages. Each view reads its input, calls the booking engine, renders.

A booking in progress lives in the session: the hold, the person's details once typed,
and the contact's pending verification. A verified contact stays in the session (12 h),
so booking for a relative next needs no second code.
"""

import contextlib
import functools
from collections.abc import Callable
from datetime import date
from uuid import uuid4

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from creneau.admission.gate import gate_check
from creneau.admission.limits import code_send_admit, limit_hit
from creneau.admission.waiting_room import Decision
from creneau.booking import tokens
from creneau.booking.actions import CourseActor
from creneau.booking.addresses import contact_address_parse
from creneau.booking.icalendar import series_icalendar
from creneau.booking.models import Appointment, CancellationItem, Contact, Hold, Series
from creneau.booking.selectors import (
    Dose1Elsewhere,
    Dose2Days,
    RebookDay,
    contact_authenticate,
    contact_series,
    course_actions,
    dose1_elsewhere_check,
    dose2_alone_sites,
    hold_alternatives,
    hold_dose2_days,
    hold_get_live,
    move_preview,
    move_window,
    rebook_item_get,
    rebook_item_load,
    rebook_offers,
    rebook_preview,
    series_appointments,
    series_authenticate,
    series_for_contact,
    series_opened_get,
    slots_by_id,
)
from creneau.booking.services import (
    Holder,
    HoldResult,
    PersonData,
    booking_cancel,
    booking_confirm,
    booking_dose2_cancel,
    booking_move,
    booking_rebook,
    contact_verification_confirm,
    contact_verification_start,
    hold_create,
    hold_release,
    hold_renew,
)
from creneau.campaigns.selectors import invitation_covers, invitation_get
from creneau.campaigns.services import invitation_book
from creneau.core.clients import network_key, request_ip
from creneau.core.errors import (
    CodeExpired,
    CodeInvalid,
    DomainError,
    Dose2Unavailable,
    HoldExpired,
    InvalidInput,
    NotFound,
    SlotUnavailable,
    StockInsufficient,
    TooManyRequests,
    Unauthorized,
)
from creneau.core.geo import Position
from creneau.core.inputs import date_parse, id_parse
from creneau.eligibility.selectors import (
    Candidate,
    eligibility_decide,
    open_to_all_within,
    opening_next,
)
from creneau.geography.maps import map_draw
from creneau.geography.selectors import Place, place_resolve, place_suggest
from creneau.interop.models import ExternalLocation
from creneau.interop.selectors import national_search
from creneau.onboarding.selectors import sites_without_slots
from creneau.outreach.rendering import notification_render
from creneau.outreach.selectors import outbox_list
from creneau.privacy.selectors import person_data
from creneau.privacy.services import person_erase
from creneau.scheduling.models import Slot
from creneau.scheduling.selectors import (
    MAX_RADIUS_KM,
    AvailabilityFilter,
    SiteResult,
    availability_filter_build,
    availability_search,
    site_calendar,
    slot_list_available,
    slots_next,
)
from creneau.sites.models import Site
from creneau.sites.selectors import department_opening, site_get_public
from creneau.vaccines.models import Vaccine

from .data import data_download
from .forms import (
    CodeForm,
    Dose2AloneForm,
    EligibilityForm,
    ManageForm,
    PersonForm,
    SearchForm,
    SiteCategoriesForm,
    category_labels,
    person_draft,
    site_category_choices,
)

RESULTS = 10
NEXT_SLOTS = 4
# Session keys.
BOOKING = "portal_booking"
MANAGE = "portal_manage"
# The reference of the booking this browser made last: where its booking steps lead once
# it is done (the browser's Back from the confirmation comes back through them).
BOOKED = "portal_booked"
CONTACT_TOKEN = "portal_contact"
OPENED = "portal_opened"
# The invitation whose code opened this booking (campaigns): its id, and the invitee's
# names and birth date that fill the person's form.
INVITATION = "portal_invitation"


# Search -------------------------------------------------------------------------------


def _waiting_room(view):
    """The booking flow's door: a visitor without a pass waits their turn in the waiting
    room (admission.waiting_room) when it is on; the pass then opens every step."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        decision = gate_check(request)
        if decision is None:
            return view(request, *args, **kwargs)
        # A form sent while waiting is not replayed: the wait leads back to its page.
        after = request.get_full_path() if request.method == "GET" else _page_before(request)
        return _waiting_page(request, decision, after=after)

    return wrapped


def _page_before(request: HttpRequest) -> str:
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        return referer
    return reverse("portal:home")


def _waiting_page(request: HttpRequest, decision: Decision, *, after: str) -> HttpResponse:
    waiting_url = reverse("portal:waiting") + "?" + urlencode({"suivant": after})
    # Asked often enough to move on soon after one's turn, rarely enough to cost nothing.
    poll_seconds = min(max(decision.wait_seconds // 6, 5), 30)
    context = {
        "decision": decision,
        "wait_minutes": (decision.wait_seconds + 59) // 60,
        "waiting_url": waiting_url,
        "poll_seconds": poll_seconds,
        "refresh_seconds": poll_seconds,
    }
    template = "portal/_waiting_status.html" if request.htmx else "portal/waiting.html"
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def waiting(request: HttpRequest) -> HttpResponse:
    """Where the waiting page asks whether it is one's turn; then on to the page asked."""
    after = request.GET.get("suivant", "")
    if not url_has_allowed_host_and_scheme(after, allowed_hosts={request.get_host()}):
        after = reverse("portal:home")
    decision = gate_check(request)
    if decision is not None:
        return _waiting_page(request, decision, after=after)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = after
        return response
    return redirect(after)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if "near" in request.GET:
        return _search_page(request)
    return render(
        request,
        "portal/home.html",
        {"form": SearchForm(), "searched": False, "opening": opening_next()},
    )


# The booking flow's first step: a launch-morning crowd waits in the room, not in front of
# busy workers where those already admitted would wait behind it.
@_waiting_room
def _search_page(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    context: dict = {"form": form, "searched": False}
    if form.is_valid() and form.cleaned_data["near"]:
        context |= _search(form)
    return render(request, "portal/home.html", context)


def _search(form: SearchForm | Dose2AloneForm, *, declared: Dose1Elsewhere | None = None) -> dict:
    """The sites near the place typed with free first-dose places by the search's
    filters; or, for a dose 1 given elsewhere (`declared`), with free second-dose places
    in its interval and a dose to promise."""
    data = form.cleaned_data
    try:
        place = place_resolve(query=data["near"])
    except DomainError as error:
        form.add_error("near", error.message)
        return {
            "candidates": error.details.get("candidates") or error.details.get("suggestions") or []
        }
    try:
        wanted = (
            declared.wanted()
            if declared
            else availability_filter_build(
                vaccine_code=data["vaccine"] or None,
                dose_number=1,
                date_from=data["date_from"],
                date_to=data["date_to"],
                within_24h=data["within_24h"],
            )
        )
    except DomainError as error:
        form.add_error(None, error.message)
        return {}

    def found(results: list[SiteResult]) -> list[SiteResult]:
        return dose2_alone_sites(results=results, declared=declared) if declared else results

    if declared:
        results, elsewhere = (
            found(
                availability_search(
                    origin=place.position, radius_km=data["radius_km"], wanted=wanted, limit=RESULTS
                )
            ),
            [],
        )
    else:
        # Beside ours, the free places of other booking platforms (to book there).
        results, elsewhere = national_search(
            origin=place.position, radius_km=data["radius_km"], wanted=wanted, limit=RESULTS
        )
    with_slots = [result for result in results if result.available_slots]
    next_slots = slots_next(
        first_free={result.site.pk: result.next_slot_at for result in with_slots},
        wanted=wanted,
        per_site=NEXT_SLOTS,
    )
    # One list by distance, ours and theirs: each entry a site of ours with its next slots,
    # or another platform's place.
    bookable = sorted(
        [{"result": r, "slots": next_slots[r.site.pk], "at": r.site} for r in with_slots]
        + [{"external": e, "at": e.location} for e in elsewhere],
        key=lambda entry: (entry.get("result") or entry["external"]).distance_km,
    )[:RESULTS]
    context = {
        "searched": True,
        "place": place,
        "bookable": bookable,
        "others": [result for result in results if not result.available_slots],
        # Those that vaccinate without appointments online yet say so (onboarding).
        "without_slots": sites_without_slots(
            site_ids=[result.site.pk for result in results if not result.available_slots]
        ),
    }
    if wanted.starts_before is not None:
        # "Dans les 24 heures": say whether a rule opens these places to all.
        rule = open_to_all_within(
            vaccine=Vaccine.objects.filter(pk=wanted.vaccine_id).first()
            if wanted.vaccine_id
            else None
        )
        english = get_language() == "en"
        context["within_24h"] = {
            "open_to_all": rule
            and {
                "name": rule.name,
                "explanation": (english and rule.explanation_en) or rule.explanation,
            }
        }
    if bookable:
        context |= _results_map(place, [entry["at"] for entry in bookable])
    elif place.commune_insee_code:
        # A department whose sites are not published yet: when they will be, not "no site".
        context["department_opening"] = department_opening(insee_code=place.commune_insee_code)
    if not bookable and data["radius_km"] < MAX_RADIUS_KM:
        farther = found(
            availability_search(
                origin=place.position, radius_km=MAX_RADIUS_KM, wanted=wanted, limit=RESULTS
            )
        )
        nearest = next((result for result in farther if result.available_slots), None)
        if nearest is not None:
            context["nearest"] = nearest
            context["wider_url"] = "?" + urlencode(
                {**form.data.dict(), "radius_km": _radius_covering(nearest.distance_km)}
            )
    return context


@require_GET
def dose2_alone(request: HttpRequest) -> HttpResponse:
    """ "J'ai déjà reçu ma 1re dose ailleurs": the vaccine and day of dose 1, then the
    nearest second-dose places of that product inside its interval, to book alone."""
    form = Dose2AloneForm(request.GET if "near" in request.GET else None)
    context: dict = {"form": form, "searched": False}
    if form.is_bound and form.is_valid():
        try:
            declared = dose1_elsewhere_check(
                vaccine_code=form.cleaned_data["vaccine"],
                given_on=form.cleaned_data["given_on"],
                today=timezone.localdate(),
            )
        except InvalidInput as error:
            field = "vaccine" if error.details.get("field") == "dose1_vaccine" else "given_on"
            form.add_error(field, error.message)
        else:
            context |= _dose1_fields(declared) | _search(form, declared=declared)
    # A refusal is the form's error, on a page answered as the search's is (200).
    return render(request, "portal/dose2_alone.html", context)


def _dose1_fields(declared: Dose1Elsewhere | None) -> dict:
    """What the pages carry of a dose 1 given elsewhere from the search to the hold: the
    fields of a slot's form (`dose1_fields`) and of a link (`dose1_query`)."""
    if declared is None:
        return {}
    fields = {"dose1_vaccine": declared.vaccine.code, "dose1_date": f"{declared.given_on}"}
    return {"declared": declared, "dose1_fields": fields, "dose1_query": urlencode(fields)}


def _dose1_posted(data) -> Dose1Elsewhere | None:
    """The dose 1 given elsewhere a slot's form carries (`dose1_vaccine`, `dose1_date`),
    checked again: what a page sent is not taken on trust."""
    given_on = data.get("dose1_date", "")
    if not given_on:
        return None
    return dose1_elsewhere_check(
        vaccine_code=data.get("dose1_vaccine", ""),
        given_on=date_parse(given_on),
        today=timezone.localdate(),
    )


def _results_map(place: Place, sites: list[Site | ExternalLocation]) -> dict:
    """The map of the numbered results; with a tile server configured, what a zoomable
    map over it needs too (without one, the page has no map script at all)."""
    results_map = map_draw(
        place=place.position,
        sites=[(site.name, Position(site.latitude, site.longitude)) for site in sites],
    )
    context: dict = {"results_map": results_map}
    if settings.MAP_TILE_URL:
        context["tile_map"] = results_map.tile_config() | {
            "place_label": place.label,
            "tiles": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
        }
    return context


def _radius_covering(distance_km: float) -> int:
    return next((radius for radius in (10, 30, 50, 100) if radius >= distance_km), MAX_RADIUS_KM)


@require_GET
def suggestions(request: HttpRequest) -> HttpResponse:
    """Options for the search field's list, while someone types (with JavaScript)."""
    return render(
        request,
        "portal/_suggestions.html",
        {"suggestions": place_suggest(text=request.GET.get("near", ""))},
    )


# Site ---------------------------------------------------------------------------------


def _day(text: str | None) -> date | None:
    return date_parse(text) if text else None


def _site_context(
    *, site: Site, wanted: AvailabilityFilter, day: date | None, request: HttpRequest
) -> dict:
    calendar: dict[date, int] = {}
    for figures in site_calendar(site=site, wanted=wanted):
        calendar[figures.date] = calendar.get(figures.date, 0) + figures.free
    slots = slot_list_available(site_id=site.pk, day=day, wanted=wanted)
    if day is not None and not slots:
        # The day filled up (or was never open): show the next free slots, not an empty list.
        messages.info(request, _("Plus de créneau libre ce jour-là : voici les prochains."))
        slots = slot_list_available(site_id=site.pk, wanted=wanted)
    return {
        "site": site,
        "calendar": sorted(calendar.items()),
        "slots": slots,
        "day": slots[0].date if slots else day,
    }


@_waiting_room
@require_GET
def site_detail(request: HttpRequest, site_id: int) -> HttpResponse:
    site = site_get_public(site_id=site_id)
    vaccine = request.GET.get("vaccine") or None
    # A dose 2 alone: that product's second-dose places inside the interval.
    declared = _dose1_posted(request.GET)
    wanted = (
        declared.wanted()
        if declared
        else availability_filter_build(vaccine_code=vaccine, dose_number=1)
    )
    context = _site_context(
        site=site, wanted=wanted, day=_day(request.GET.get("day")), request=request
    )
    context |= {"action": reverse("portal:hold"), "vaccine": vaccine or ""}
    context |= _dose1_fields(declared)
    context["without_slots"] = not context["slots"] and bool(
        sites_without_slots(site_ids=[site.pk])
    )
    template = "portal/_slots.html" if request.htmx else "portal/site.html"
    return render(request, template, context)


# Booking ------------------------------------------------------------------------------


def _int(text: str | None) -> int:
    return id_parse(text, message=_("Choisissez un créneau."))


def _session_contact(request: HttpRequest) -> Contact | None:
    token = request.session.get(CONTACT_TOKEN)
    if not token:
        return None
    try:
        return contact_authenticate(token=token)
    except Unauthorized:
        del request.session[CONTACT_TOKEN]
        return None


def _back_to_site(
    request: HttpRequest, site_id: int | None, error: DomainError, *, dose1=None
) -> HttpResponse:
    """The site's slots again with the refusal; for a dose 2 alone (`dose1`: the fields
    the slot's form carried), its second-dose slots."""
    messages.error(request, error.message)
    if site_id is None:
        return redirect("portal:home")
    query = {
        name: dose1[name] for name in ("dose1_vaccine", "dose1_date") if dose1 and dose1.get(name)
    }
    return redirect(
        reverse("portal:site", args=[site_id]) + (f"?{urlencode(query)}" if query else "")
    )


@_waiting_room
@require_POST
def hold(request: HttpRequest) -> HttpResponse:
    slot_id = _int(request.POST.get("slot"))
    site_id = _int(request.POST.get("site"))
    previous = request.session.get(BOOKING)
    try:
        # A declared dose 1 the slot's form carried, checked again.
        declared = _dose1_posted(request.POST)
    except InvalidInput as error:
        return _back_to_site(request, site_id, error)
    try:
        # Going back to choose another slot gives the first one back, once the new one
        # is had.
        result = hold_create(
            slot_id=slot_id,
            holder=_holder(request),
            replacing=previous["hold"] if previous else None,
            dose1_elsewhere=declared,
        )
    except (SlotUnavailable, Dose2Unavailable, TooManyRequests) as error:
        return _back_to_site(request, site_id, error, dose1=request.POST)
    state = {"site": site_id, "slot": slot_id}
    if declared is not None:
        state["dose1"] = _dose1_fields(declared)["dose1_fields"]
    _held(state, result)
    if previous and previous.get("draft"):
        # Another slot for the same person: what they typed follows, not the dose-2 choice.
        state["draft"] = {k: v for k, v in previous["draft"].items() if k != "dose2_slot"}
    request.session[BOOKING] = state
    return redirect("portal:situation" if result.hold.slot.site.restricted_to else "portal:details")


def _holder(request: HttpRequest) -> Holder:
    """This browser as a holder of places, within the abuse limits (admission.limits)."""
    if not request.session.session_key:
        request.session.save()
    client = f"session:{request.session.session_key}"
    limit_hit(name="holds_per_client", key=client)
    return Holder(client=client, network=network_key(request_ip(request)))


def _held(state: dict, result: HoldResult) -> None:
    state["hold"] = str(result.hold.pk)
    # The day of second-dose slots shown: the new hold's own, first.
    state.pop("dose2_day", None)


def _booking_state(request: HttpRequest) -> dict | None:
    return request.session.get(BOOKING)


def _no_booking_going_on(request: HttpRequest) -> HttpResponse:
    """A booking step opened with no booking going on. Most often the browser's Back from
    the confirmation page: the booking just made is shown again (not an empty search page,
    which would look as if it were lost); otherwise the search, to choose a slot."""
    booked = request.session.get(BOOKED)
    if booked:
        messages.info(
            request,
            _(
                "Ce rendez-vous est déjà confirmé : le voici. Pour un autre rendez-vous, "
                "choisissez « Prendre rendez-vous pour un proche » ou cherchez un lieu."
            ),
        )
        return redirect("portal:booking", reference=booked)
    messages.info(request, _("Choisissez d'abord un créneau."))
    return redirect("portal:home")


def _hold_kept(request: HttpRequest, state: dict) -> Hold:
    """The booking's hold. One that ran out is taken again on the same slot while it is free
    (the details page promises it); otherwise the nearest free slots are offered, with what
    was typed kept for the next one."""
    try:
        return hold_get_live(hold_id=state["hold"])
    except HoldExpired as error:
        if "slot" not in state:
            # Begun before the slot was kept in the session: nothing to take again.
            request.session.pop(BOOKING, None)
            raise _Redirect(_back_to_site(request, state.get("site"), error)) from None
    try:
        result = hold_renew(
            hold_id=state["hold"],
            slot_id=state["slot"],
            holder=_holder(request),
            dose1_elsewhere=_dose1_posted(state.get("dose1", {})),
        )
    except (SlotUnavailable, Dose2Unavailable, NotFound, TooManyRequests, InvalidInput) as error:
        raise _Redirect(_elsewhere(request, state, error)) from None
    _held(state, result)
    request.session.modified = True
    messages.info(
        request,
        _(
            "Le délai était écoulé, mais le créneau était encore libre : "
            "il vous est de nouveau réservé."
        ),
    )
    return hold_get_live(hold_id=state["hold"])


def _elsewhere(request: HttpRequest, state: dict, error: DomainError) -> HttpResponse:
    """The slot is lost: the nearest free ones, and the details stay for the next (for a
    dose 2 alone, the search of its second-dose places near the same site)."""
    messages.error(request, error.message)
    state.pop("verification", None)
    request.session.modified = True
    if "dose1" in state:
        site = Site.objects.filter(pk=state.get("site")).first()
        query = {
            "vaccine": state["dose1"]["dose1_vaccine"],
            "given_on": state["dose1"]["dose1_date"],
            "near": site.postcode if site else "",
        }
        return redirect(reverse("portal:dose2_alone") + f"?{urlencode(query)}#resultat")
    return redirect("portal:alternatives")


@_waiting_room
@require_GET
def alternatives(request: HttpRequest) -> HttpResponse:
    state = _booking_state(request)
    if not state or "slot" not in state:
        return redirect("portal:home")
    return render(
        request,
        "portal/alternatives.html",
        {
            "offers": hold_alternatives(slot_id=state["slot"]),
            "labels": category_labels(),
            "steps": _steps(1),
        },
    )


def _details_initial(state: dict, dose2: Dose2Days | None) -> dict:
    """What the person typed before, for the form: a second-dose choice only while offered."""
    draft = dict(state.get("draft", {}))
    if dose2 is None or draft.get("dose2_slot") not in {str(slot.pk) for slot in dose2.slots}:
        draft.pop("dose2_slot", None)
    return draft


def _dose2_day_asked(request: HttpRequest, state: dict, hold: Hold) -> HttpResponse | None:
    """Another day of second-dose slots asked for (the day list's button, or a day chosen
    in the list and the form sent without looking at it): shown, with what was typed kept,
    and nothing booked. None when the form is sent for the day it shows."""
    asked = request.POST.get("dose2_day")
    if not asked or (asked == request.POST.get("dose2_shown") and "dose2_show" not in request.POST):
        return None
    day = date_parse(asked)
    state["dose2_day"] = day.isoformat()
    request.session.modified = True
    if "dose2_show" not in request.POST:
        messages.info(
            request,
            _("Choisissez l'heure de la seconde dose ce jour-là, puis validez de nouveau."),
        )
    return redirect(reverse("portal:details") + "#dose2")


class _Redirect(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _redirects(view):
    """Let helpers end a view with a redirect by raising it."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _Redirect as jump:
            return jump.response

    return wrapped


@_waiting_room
@_redirects
@require_http_methods(["GET", "POST"])
def situation(request: HttpRequest) -> HttpResponse:
    """A site reserved for some people asks first whether the person is one of them, so
    that no one types all their details to be refused at the end."""
    state = _booking_state(request)
    if not state:
        return _no_booking_going_on(request)
    hold = _hold_kept(request, state)
    site = hold.slot.site
    choices = site_category_choices(codes=site.restricted_to)
    if not choices:
        return redirect("portal:details")
    if request.POST.get("answer") == "no":
        request.session.pop(BOOKING, None)
        with contextlib.suppress(NotFound):
            hold_release(hold_id=state["hold"])
        messages.info(
            request,
            _("Le créneau est rendu. Choisissez un lieu ouvert à la personne à vacciner."),
        )
        return redirect(reverse("portal:home") + "?" + urlencode({"near": site.postcode}))
    form = SiteCategoriesForm(
        request.POST or None, choices=choices, initial={"categories": state.get("categories")}
    )
    if request.method == "POST" and form.is_valid():
        state["categories"] = form.cleaned_data["categories"]
        request.session.modified = True
        return redirect("portal:details")
    return render(
        request,
        "portal/situation.html",
        {"form": form, "hold": hold, "site": site, "steps": _steps(2)},
        status=400 if form.errors else 200,
    )


@_waiting_room
@_redirects
@require_http_methods(["GET", "POST"])
def details(request: HttpRequest) -> HttpResponse:
    state = _booking_state(request)
    if not state:
        return _no_booking_going_on(request)
    if request.method == "POST":
        # Kept first: whatever happens to the hold next, nothing typed is lost.
        state["draft"] = person_draft(request.POST)
        request.session.modified = True
    hold = _hold_kept(request, state)
    site = hold.slot.site
    if "categories" not in state and site_category_choices(codes=site.restricted_to):
        # Asked first, so that no one types their details to be refused at the end.
        return redirect("portal:situation")
    if request.method == "POST" and (jump := _dose2_day_asked(request, state, hold)):
        return jump
    day = state.get("dose2_day")
    dose2 = hold_dose2_days(hold=hold, day=date.fromisoformat(day) if day else None)
    contact = _session_contact(request)
    form = PersonForm(
        request.POST or None,
        # The answer to a reserved site's question is ticked already.
        initial={
            "categories": state.get("categories", []),
            **_invited_person(request),
            **_details_initial(state, dose2),
        },
        dose2_choices=[(slot.pk, slot) for slot in dose2.slots] if dose2 else (),
        # The place held is the one proposed; on another day, that day's first.
        dose2_initial=hold.dose2_slot_id if dose2 and dose2.day == hold.dose2_slot.date else None,
        contact_known=contact is not None,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            decision = eligibility_decide(
                candidate=Candidate(
                    birth_date=data["birth_date"], categories=frozenset(data["categories"])
                ),
                vaccine=hold.slot.vaccine,
                # The dose the slot gives: a second one alone after a dose 1 elsewhere.
                dose_number=hold.slot.dose_number,
                site=site,
                on=hold.slot.date,
                # Its start: the rules in force then, and a place starting soon may be
                # open to all (leftover places).
                at=hold.slot.start,
                now=timezone.now(),
            )
        except InvalidInput as error:
            form.add_error("birth_date", error.message)
        else:
            if not decision.eligible and not _invitation_covers(request, hold, data):
                form.add_error(None, decision.reason)
            else:
                state["person"] = {
                    "given_name": data["given_name"],
                    "family_name": data["family_name"],
                    "birth_date": data["birth_date"].isoformat(),
                    "categories": data["categories"],
                }
                state["dose2"] = data.get("dose2_slot")
                state["key"] = uuid4().hex
                if contact is not None:
                    request.session.modified = True
                    return _book(request, contact=contact, state=state)
                try:
                    verification = _verification_send(request, **form.contact_given())
                except (InvalidInput, TooManyRequests) as error:
                    form.contact_error(error)
                else:
                    state["verification"] = verification
                    request.session.modified = True
                    return redirect("portal:code")
    return render(
        request,
        "portal/details.html",
        {
            "form": form,
            "hold": hold,
            "site": site,
            "contact": contact,
            "dose2": dose2,
            "steps": _steps(2),
        },
    )


def _invited_person(request: HttpRequest) -> dict:
    """The names and birth date of the invitation this booking began with, to fill the
    form (the person may still change them)."""
    invited = request.session.get(INVITATION)
    if not invited:
        return {}
    return {
        "given_name": invited["given_name"],
        "family_name": invited["family_name"],
        "birth_date": date.fromisoformat(invited["birth_date"]),
    }


def _invitation_covers(request: HttpRequest, hold: Hold, data: dict) -> bool:
    """The invitation of this booking admits this person at this place, whatever the
    public rules say (campaigns.selectors.invitation_covers)."""
    invited = request.session.get(INVITATION)
    if not invited:
        return False
    invitation = invitation_get(invitation_id=invited["id"])
    return invitation is not None and invitation_covers(
        invitation=invitation,
        slot=hold.slot,
        person=PersonData(
            given_name=data["given_name"],
            family_name=data["family_name"],
            birth_date=data["birth_date"],
        ),
    )


def _verification_send(request: HttpRequest, *, phone: str = "", email: str = "") -> dict:
    """Send a code to a phone or an e-mail address; what the code page needs to know."""
    limit_hit(name="codes_per_address", key=network_key(request_ip(request)))
    verification = contact_verification_start(
        phone=phone.strip() or None,
        email=email.strip() or None,
        language=get_language(),
        admit=code_send_admit,
    )
    return {"id": str(verification.pk), "address": (phone or email).strip()}


def _person(state: dict) -> PersonData:
    person = state["person"]
    return PersonData(
        given_name=person["given_name"],
        family_name=person["family_name"],
        birth_date=date.fromisoformat(person["birth_date"]),
        categories=tuple(person["categories"]),
    )


def _remember(request: HttpRequest, series: Series) -> None:
    """This browser may open the booking again without a code, until it is closed: on a
    shared computer, the next person must not find it (the session's cookie lasts no
    longer than the browser; "Oublier ce rendez-vous" ends it at once)."""
    request.session.set_expiry(0)
    # The references only: the session (a table row) holds no key that would open the
    # booking once it is over. A session from before held {reference: key}: its keys
    # are the references.
    opened = [reference for reference in request.session.get(OPENED, ()) if reference]
    if series.reference not in opened:
        request.session[OPENED] = [*opened, series.reference]


def _book(request: HttpRequest, *, contact: Contact, state: dict) -> HttpResponse:
    try:
        limit_hit(name="bookings_per_contact", key=str(contact.pk))
        booking = dict(
            hold_id=state["hold"],
            contact=contact,
            person=_person(state),
            dose2_slot_id=state.get("dose2"),
            idempotency_key=state["key"],
        )
        invited = request.session.get(INVITATION)
        result = (
            invitation_book(invitation_id=invited["id"], **booking)
            if invited
            else booking_confirm(**booking)
        )
    except (HoldExpired, SlotUnavailable, Dose2Unavailable, StockInsufficient) as error:
        # (A dose 2 alone at a site with no dose left to promise: its place is given back.)
        return _elsewhere(request, state, error)
    except DomainError as error:
        # Refusals about the person (eligibility, already booked…): the hold is still
        # there, so they can correct the details or ask for help.
        messages.error(request, error.message)
        state.pop("verification", None)
        request.session.modified = True
        return redirect("portal:details")
    request.session.pop(BOOKING, None)
    request.session.pop(INVITATION, None)
    _remember(request, result.series)
    request.session[BOOKED] = tokens.reference_display(result.series.reference)
    if not result.created:
        messages.info(
            request,
            _("Cette personne avait déjà un rendez-vous en cours : le voici. Rien n'a changé."),
        )
    return redirect("portal:booking", reference=tokens.reference_display(result.series.reference))


def _verify(request: HttpRequest, *, state: dict, form: CodeForm) -> Contact | None:
    """The code step shared by booking and managing: resend, or check the code."""
    verification = state["verification"]
    if "resend" in request.POST:
        try:
            address = verification["address"]
            state["verification"] = _verification_send(
                request, **{"email" if "@" in address else "phone": address}
            )
        except (InvalidInput, TooManyRequests) as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Un nouveau code a été envoyé."))
        request.session.modified = True
        return None
    if not form.is_valid():
        return None
    try:
        token = contact_verification_confirm(
            verification_id=verification["id"], code=form.cleaned_data["code"]
        )
    except CodeInvalid as error:
        form.add_error("code", error.message)
        return None
    except (CodeExpired, TooManyRequests, NotFound) as error:
        form.add_error("code", error.message)
        return None
    request.session[CONTACT_TOKEN] = token
    return contact_authenticate(token=token)


def _wishes_step(
    request: HttpRequest,
    *,
    form,
    contact: Contact | None,
    check: Callable[[], object],
    done: Callable[[Contact, dict], HttpResponse],
    state_key: str,
    code_page: str,
) -> HttpResponse | None:
    """The first step the waiting list and the alerts share, once their form
    (`portal.forms.PlaceWishesForm`) is valid: the place resolved and the wishes checked
    (`check`, the service's own checks; a refusal on its field), then, for a contact this
    session verified, `done(contact, draft)` at once; otherwise a code sent to the contact
    typed, the draft kept in the session (`state_key`) for the code page (`code_page`, its
    URL name). None: the form holds the errors to show."""
    place = form.place()
    if place is None:
        return None
    try:
        check()
    except DomainError as error:
        form.refusal(error)
        return None
    if contact is not None:
        return done(contact, form.draft(place))
    try:
        verification = _verification_send(request, **form.contact_given())
    except (InvalidInput, TooManyRequests) as error:
        form.contact_error(error)
        return None
    request.session[state_key] = {"draft": form.draft(place), "verification": verification}
    return redirect(code_page)


def _code_step(
    request: HttpRequest,
    *,
    state: dict,
    verified: Callable[[Contact], HttpResponse],
    again: str,
    context: Callable[[], dict] = dict,
) -> HttpResponse:
    """The code page that booking, managing and the waiting list share: the code typed is
    checked and `verified(contact)` answers; "resend" sends a new one and shows the page
    (`again`, its URL name) afresh; otherwise the page, with what `context()` adds."""
    form = CodeForm(
        request.POST if request.method == "POST" and "resend" not in request.POST else None
    )
    if request.method == "POST":
        contact = _verify(request, state=state, form=form)
        if contact is not None:
            return verified(contact)
        if "resend" in request.POST:
            return redirect(again)
    address = state["verification"]["address"]
    return render(
        request,
        "portal/code.html",
        {
            "form": form,
            "address": address,
            "outbox_url": reverse("portal:outbox") + "?" + urlencode({"to": address}),
            **context(),
        },
    )


@_waiting_room
@_redirects
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    state = _booking_state(request)
    if not state:
        return _no_booking_going_on(request)
    if "verification" not in state:
        return redirect("portal:details")

    def verified(contact: Contact) -> HttpResponse:
        # The code first: even if the hold ran out meanwhile, the contact is then verified
        # and another slot needs no new code.
        _hold_kept(request, state)
        return _book(request, contact=contact, state=state)

    def context() -> dict:
        hold = _hold_kept(request, state)
        return {
            "hold": hold,
            "site": hold.slot.site,
            "person": _person(state),
            "dose2": _dose2_chosen(state, hold),
            "steps": _steps(3),
        }

    return _code_step(request, state=state, verified=verified, again="portal:code", context=context)


def _dose2_chosen(state: dict, hold: Hold) -> Slot | None:
    """The second-dose slot the booking will take: the one chosen, or else the one held."""
    chosen = state.get("dose2")
    if chosen and chosen != hold.dose2_slot_id:
        return next(iter(slots_by_id(slot_ids=[chosen])), hold.dose2_slot)
    return hold.dose2_slot


def _steps(current: int) -> dict:
    return {
        "current": current,
        "total": 3,
        "titles": [_("Choisir un créneau"), _("La personne à vacciner"), _("Confirmer")],
    }


# A booking ----------------------------------------------------------------------------


def _series_opened(request: HttpRequest, reference: str) -> Series:
    """The booking a reference names, if this browser may see it: opened by booking or by
    a code in this session, or by the link with its management key."""
    key = request.GET.get("cle")
    normalized = tokens.reference_normalize(reference) or ""
    if key:
        series = series_authenticate(reference=reference, token=key)
    elif normalized in request.session.get(OPENED, ()):
        series = series_opened_get(reference=normalized)
    else:
        contact = _session_contact(request)
        if contact is None:
            raise _Redirect(
                redirect(reverse("portal:manage") + "?" + urlencode({"reference": reference}))
            )
        series = series_for_contact(reference=reference, contact=contact)
    if key:
        # Keep the key out of the address bar, the history and Referer headers.
        _remember(request, series)
        raise _Redirect(
            redirect("portal:booking", reference=tokens.reference_display(series.reference))
        )
    return series


def _booking_context(series: Series) -> dict:
    appointments = series_appointments(series=series)
    return {
        "series": series,
        "reference": tokens.reference_display(series.reference),
        "site": series.site,
        "actions": course_actions(
            series=series, appointments=appointments, actor=CourseActor.PERSON, now=timezone.now()
        ),
        "active": series.status == Series.Status.ACTIVE,
        "new_search_url": _new_search_url(series=series, appointments=appointments),
    }


def _new_search_url(*, series: Series, appointments: list) -> str | None:
    """After a cancellation, a search near the same place, to book again. Not for a course
    whose first dose was given: a new booking would start with a first dose again. One
    begun elsewhere searches for its dose 2 again, after the same dose 1."""
    if series.status != Series.Status.CANCELLED or any(
        appointment.status == Appointment.Status.FULFILLED for appointment in appointments
    ):
        return None
    query = {"near": series.site.postcode}
    if series.dose1_elsewhere_on:
        query |= {"vaccine": series.vaccine.code, "given_on": f"{series.dose1_elsewhere_on}"}
        return reverse("portal:dose2_alone") + "?" + urlencode(query) + "#resultat"
    return reverse("portal:home") + "?" + urlencode(query) + "#resultat"


@require_http_methods(["GET", "POST"])
def booking_open(request: HttpRequest, reference: str) -> HttpResponse:
    """The link in a message: its key is in the fragment (`#cle=…`), which browsers never
    send, so it reaches no access log, proxy's or ours. This page's script posts it (a
    body is not logged) and the booking opens; without JavaScript the page offers a code
    instead. Links sent before (`/rendez-vous/…/?cle=…`) still open (_series_opened)."""
    if request.method == "POST":
        series = series_authenticate(reference=reference, token=request.POST.get("cle", ""))
        _remember(request, series)
        return redirect("portal:booking", reference=tokens.reference_display(series.reference))
    return render(
        request,
        "portal/booking_open.html",
        {"manage_url": reverse("portal:manage") + "?" + urlencode({"reference": reference})},
    )


@_redirects
@require_GET
def booking_detail(request: HttpRequest, reference: str) -> HttpResponse:
    series = _series_opened(request, reference)
    context = _booking_context(series)
    template = "portal/booking_print.html" if "imprimer" in request.GET else "portal/booking.html"
    return render(request, template, context)


@require_POST
def booking_forget(request: HttpRequest, reference: str) -> HttpResponse:
    """Forget every booking this browser opened, and the contact it verified: the session
    ends (a shared computer's next person finds nothing)."""
    request.session.flush()
    messages.success(
        request,
        _(
            "Ce rendez-vous est oublié sur cet appareil. Pour le retrouver : le lien de votre "
            "message de confirmation, ou « Gérer un rendez-vous » avec un code."
        ),
    )
    return redirect("portal:home")


@_redirects
@require_GET
def booking_calendar(request: HttpRequest, reference: str) -> HttpResponse:
    series = _series_opened(request, reference)
    content = series_icalendar(
        series=series,
        appointments=series_appointments(series=series),
        url=request.build_absolute_uri(reverse("portal:booking", kwargs={"reference": reference})),
    )
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="vaccination-{tokens.reference_display(series.reference)}.ics"'
    )
    return response


@_redirects
@require_http_methods(["GET", "POST"])
def booking_move_page(request: HttpRequest, reference: str, dose_number: int) -> HttpResponse:
    """Choose a slot, see what changes, confirm: nothing moves before the confirmation."""
    series = _series_opened(request, reference)
    display = tokens.reference_display(series.reference)
    if request.method == "POST" and "from" in request.POST:
        return _move_confirmed(request, series=series, dose_number=dose_number)
    chosen = request.GET.get("slot") or request.POST.get("slot")
    if chosen:
        try:
            preview = move_preview(series=series, dose_number=dose_number, slot_id=_int(chosen))
        except DomainError as error:
            messages.error(request, error.message)
        else:
            return render(
                request,
                "portal/move_confirm.html",
                {"preview": preview, "series": series, "site": series.site, "reference": display},
            )
    first, last = move_window(series=series, dose_number=dose_number, today=timezone.localdate())
    wanted = availability_filter_build(
        vaccine_code=series.vaccine.code, dose_number=dose_number, date_from=first, date_to=last
    )
    context = _site_context(
        site=series.site, wanted=wanted, day=_day(request.GET.get("day")), request=request
    )
    context |= {
        "series": series,
        "reference": display,
        "dose_number": dose_number,
        "action": request.path,
        "preview": True,
    }
    template = "portal/_slots.html" if request.htmx else "portal/move.html"
    return render(request, template, context)


def _move_confirmed(request: HttpRequest, *, series: Series, dose_number: int) -> HttpResponse:
    display = tokens.reference_display(series.reference)
    dose2 = request.POST.get("dose2_slot")
    try:
        booking_move(
            series_id=series.pk,
            dose_number=dose_number,
            slot_id=_int(request.POST.get("slot")),
            dose2_slot_id=_int(dose2) if dose2 else None,
            from_slot_id=_int(request.POST.get("from")),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("portal:move", reference=display, dose_number=dose_number)
    messages.success(request, _("Rendez-vous déplacé. Un message de confirmation est envoyé."))
    return redirect("portal:booking", reference=display)


@_redirects
@require_http_methods(["GET", "POST"])
def booking_cancel_page(request: HttpRequest, reference: str) -> HttpResponse:
    return _cancel_page(request, reference, dose2_only=False)


@_redirects
@require_http_methods(["GET", "POST"])
def booking_dose2_cancel_page(request: HttpRequest, reference: str) -> HttpResponse:
    """Once dose 1 is given: the dose-2 appointment alone (the services refuse it before)."""
    return _cancel_page(request, reference, dose2_only=True)


def _cancel_page(request: HttpRequest, reference: str, *, dose2_only: bool) -> HttpResponse:
    """What cancelling changes, then the cancellation once confirmed."""
    series = _series_opened(request, reference)
    if request.method == "POST":
        if dose2_only:
            result = booking_dose2_cancel(series_id=series.pk)
            done = _("Seconde dose annulée. Un message de confirmation est envoyé.")
        else:
            result = booking_cancel(series_id=series.pk)
            done = _("Rendez-vous annulé. Un message de confirmation est envoyé.")
        if result.changed:
            messages.success(request, done)
        else:
            # Twice, from two tabs or a double click: the first cancelled and sent.
            messages.info(request, _("Ce rendez-vous était déjà annulé. Rien n'a changé."))
        return redirect("portal:booking", reference=tokens.reference_display(series.reference))
    context = _booking_context(series)
    actions = context["actions"]
    context |= {
        "dose2_only": dose2_only,
        "decision": actions.dose2_cancel if dose2_only else actions.cancel,
    }
    return render(request, "portal/cancel.html", context)


# A person's rights: what is held about them, and its erasure -------------------------


def _data_context(series: Series) -> dict:
    return {
        "series": series,
        "reference": tokens.reference_display(series.reference),
        "site": series.site,
        "data": person_data(person=series.person),
    }


@_redirects
@require_GET
def booking_data(request: HttpRequest, reference: str) -> HttpResponse:
    """Everything held about the booking's person, readable; the same as JSON to keep."""
    series = _series_opened(request, reference)
    return render(request, "portal/data.html", _data_context(series))


@_redirects
@require_GET
def booking_data_json(request: HttpRequest, reference: str) -> HttpResponse:
    series = _series_opened(request, reference)
    return data_download(
        person_data(person=series.person),
        filename=f"mes-donnees-{tokens.reference_display(series.reference)}.json",
    )


@_redirects
@require_http_methods(["GET", "POST"])
def booking_erase(request: HttpRequest, reference: str) -> HttpResponse:
    """What erasing removes and keeps, then the erasure once confirmed: the appointments
    to come cancelled as any cancellation (the contact told), then the person's data."""
    series = _series_opened(request, reference)
    if request.method == "POST":
        try:
            person_erase(series_id=series.pk)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("portal:booking", reference=tokens.reference_display(series.reference))
        # The courses opened in this session: a list of references (_remember).
        request.session[OPENED] = [
            opened for opened in request.session.get(OPENED, ()) if opened != series.reference
        ]
        messages.success(
            request,
            _(
                "Vos données sont effacées. Les rendez-vous à venir sont annulés : un dernier "
                "message vous le confirme. Les doses déjà faites restent inscrites au dossier "
                "médical, sans votre nom."
            ),
        )
        return redirect("portal:home")
    context = _booking_context(series)
    return render(request, "portal/erase.html", context)


# Managing a booking -------------------------------------------------------------------


@_redirects
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest) -> HttpResponse:
    form = ManageForm(request.POST or None, initial={"reference": request.GET.get("reference")})
    contact = _session_contact(request)
    if request.method == "POST" and form.is_valid():
        reference = form.cleaned_data["reference"]
        if tokens.reference_normalize(reference) is None:
            form.add_error(
                "reference",
                _("Cette référence n'existe pas : vérifiez chaque caractère (9 en tout)."),
            )
        else:
            try:
                verification = _verification_send(request, **form.contact_given())
            except (InvalidInput, TooManyRequests) as error:
                form.contact_error(error)
            else:
                request.session[MANAGE] = {"reference": reference, "verification": verification}
                return redirect("portal:manage_code")
    return render(
        request,
        "portal/manage.html",
        {
            "form": form,
            "contact": contact,
            "bookings": contact_series(contact=contact) if contact else [],
        },
    )


@_redirects
@require_http_methods(["GET", "POST"])
def manage_code(request: HttpRequest) -> HttpResponse:
    state = request.session.get(MANAGE)
    if not state:
        return redirect("portal:manage")

    def verified(contact: Contact) -> HttpResponse:
        request.session.pop(MANAGE)
        try:
            series = series_for_contact(reference=state["reference"], contact=contact)
        except NotFound as error:
            messages.error(request, error.message)
            return redirect("portal:manage")
        _remember(request, series)
        return redirect("portal:booking", reference=tokens.reference_display(series.reference))

    return _code_step(
        request,
        state=state,
        verified=verified,
        again="portal:manage_code",
        context=lambda: {"managing": True},
    )


# Eligibility --------------------------------------------------------------------------


@require_GET
def eligibility(request: HttpRequest) -> HttpResponse:
    form = EligibilityForm(request.GET if "birth_date_year" in request.GET else None)
    decisions = []
    if form.is_bound and form.is_valid():
        candidate = Candidate(
            birth_date=form.cleaned_data["birth_date"],
            categories=frozenset(form.cleaned_data["categories"]),
        )
        today, now = timezone.localdate(), timezone.now()
        try:
            decisions = [
                (
                    vaccine,
                    eligibility_decide(
                        candidate=candidate,
                        vaccine=vaccine,
                        dose_number=1,
                        site=None,
                        on=today,
                        at=now,
                    ),
                )
                for vaccine in Vaccine.objects.filter(active=True)
            ]
        except InvalidInput as error:
            form.add_error("birth_date", error.message)
    return render(
        request,
        "portal/eligibility.html",
        {
            "form": form,
            "decisions": decisions,
            "eligible": [vaccine for vaccine, decision in decisions if decision.eligible],
        },
    )


# Demo ---------------------------------------------------------------------------------


@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    """The messages that would have been sent (demo only): no provider needed to try it.
    Their text is made again here, as the worker made it: it is kept nowhere."""
    if not settings.DEMO:
        raise Http404
    to = request.GET.get("to", "")
    notifications = outbox_list(to=contact_address_parse(text=to)) if to else []
    return render(
        request,
        "portal/outbox.html",
        {
            "to": to,
            "messages_sent": [
                (notification, notification_render(notification=notification))
                for notification in notifications
            ],
        },
    )


# The rebooking links this browser opened: item ids, for as long as the session lasts.
REBOOKS = "portal_rebooks"


@require_http_methods(["GET", "POST"])
def rebook_open(request: HttpRequest) -> HttpResponse:
    """The link in a cancellation message: its key is in the fragment (`#cle=…`), which
    reaches no access log; this page's script posts it, like a booking's link
    (booking_open). The pages after it name the course by its item, opened in this
    session."""
    if request.method == "POST":
        return _rebook_remember(request, rebook_item_get(token=request.POST.get("cle", "")))
    return render(request, "portal/booking_open.html", {"rebooking": True})


@require_http_methods(["GET", "POST"])
def rebook_legacy(request: HttpRequest, token: str) -> HttpResponse:
    """A link sent before keys moved to the fragment (`/reprendre/<key>/`): it still opens,
    then the key leaves the address bar. Our logs name the route, never the path."""
    return _rebook_remember(request, rebook_item_get(token=token))


def _rebook_remember(request: HttpRequest, item: CancellationItem) -> HttpResponse:
    request.session.set_expiry(0)
    request.session[REBOOKS] = [*request.session.get(REBOOKS, [])[-9:], item.pk]
    return redirect("portal:rebook", item_id=item.pk)


@require_http_methods(["GET", "POST"])
def rebook(request: HttpRequest, item_id: int) -> HttpResponse:
    """Free places near the cancelled one, then a confirmation that shows what changes,
    then the booking for the same person, with no new code (the link opened in this
    session is the key; another browser gets "not found")."""
    if item_id not in request.session.get(REBOOKS, []):
        raise NotFound(_("Ce lien de nouveau rendez-vous n'est pas valable ou a expiré."))
    item = rebook_item_load(item_id=item_id)
    if item.rebooked_series_id:
        _remember(request, item.rebooked_series)
        messages.info(request, _("Le nouveau rendez-vous est déjà pris : le voici."))
        return redirect(
            "portal:booking", reference=tokens.reference_display(item.rebooked_series.reference)
        )
    if request.method == "GET":
        chosen = request.GET.get("creneau")
        return _rebook_page(request, item=item, slot_id=_int(chosen) if chosen else None)
    slot_id = _int(request.POST.get("slot"))
    if "confirm" not in request.POST:
        # A slot chosen: its confirmation is a page of its own, which a reload, the back
        # button or a second tap shows again without booking anything.
        return redirect(request.path + "?" + urlencode({"creneau": slot_id}))
    dose2 = request.POST.get("dose2")
    try:
        result = booking_rebook(
            item_id=item.pk, slot_id=slot_id, dose2_slot_id=_int(dose2) if dose2 else None
        )
    except DomainError as error:
        messages.error(request, error.message)
        return _rebook_page(request, item=item, slot_id=slot_id, refusal=error)
    _remember(request, result.series)
    if result.created:
        messages.success(request, _("C'est réservé : voici le nouveau rendez-vous."))
    else:
        messages.info(request, _("Le nouveau rendez-vous est déjà pris : le voici."))
    return redirect("portal:booking", reference=tokens.reference_display(result.series.reference))


def _rebook_page(
    request: HttpRequest,
    *,
    item: CancellationItem,
    slot_id: int | None,
    refusal: DomainError | None = None,
) -> HttpResponse:
    """The confirmation of the slot chosen, or the offers when none is chosen or it can no
    longer be had (then said why, once)."""
    context = {"item": item, "series": item.series}
    if slot_id is not None:
        try:
            preview = rebook_preview(item=item, slot_id=slot_id)
        except DomainError as error:
            if refusal is None:
                messages.error(request, error.message)
                refusal = error
        else:
            return render(
                request,
                "portal/rebook_confirm.html",
                context | {"preview": preview},
                status=refusal.status if refusal else 200,
            )
    day = request.GET.get("jour")
    chosen = RebookDay(offer=request.GET.get("offre", ""), day=date_parse(day)) if day else None
    return render(
        request,
        "portal/rebook.html",
        context
        | {
            "offers": rebook_offers(
                item=item, vaccine_code=request.GET.get("vaccin"), chosen=chosen
            )
        },
        status=refusal.status if refusal else 200,
    )


# Mandatory public pages ----------------------------------------------------------------


def _legal_page(template: str, **context):
    @require_GET
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, template, {"legal": settings.LEGAL, **context})

    return view


def _retention() -> dict[str, int]:
    """The retention periods as the purge applies them (settings), for the page that
    promises them."""
    return {
        "contact_hours": settings.RETENTION_CONTACT_UNUSED_HOURS,
        "verification_hours": settings.RETENTION_VERIFICATION_HOURS,
        "hold_days": settings.RETENTION_HOLD_DAYS,
        "idempotency_days": settings.RETENTION_IDEMPOTENCY_DAYS,
        "message_days": settings.RETENTION_MESSAGE_DAYS,
        "course_days": settings.RETENTION_COURSE_DAYS,
        "course_months": round(settings.RETENTION_COURSE_DAYS / 30.44),
        "invitee_days": settings.RETENTION_INVITEE_DAYS,
        "waitlist_days": settings.RETENTION_WAITLIST_DAYS,
        "alert_days": settings.RETENTION_ALERT_DAYS,
        "audit_days": settings.AUDIT_RETENTION_DAYS,
    }


# The RGAA statement, the legal notice and what is done with personal data: the operator's
# names and contacts come from the settings (LEGAL_*).
accessibility = _legal_page("portal/accessibility.html")
legal = _legal_page("portal/legal.html")
# A callable: the template calls it at each request, so the page follows the settings.
privacy = _legal_page("portal/privacy.html", retention=_retention)
