"""The call centre: an agent finds a caller, books, moves or cancels for them, on the same
services as the portal. Every look at a caller's data and every change is audited."""

import contextlib
import dataclasses
from datetime import date
from uuid import uuid4

from django.contrib import messages
from django.forms import BoundField
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from creneau.audit.services import audit_record, audit_sealed
from creneau.booking import tokens
from creneau.booking.actions import CourseActor
from creneau.booking.addresses import CallerNumbers, caller_numbers_sort, postal_address_parse
from creneau.booking.models import Appointment, Contact, Series
from creneau.booking.selectors import (
    Dose1Elsewhere,
    caller_find,
    course_actions,
    dose1_elsewhere_check,
    dose2_alone_sites,
    dose2_rebook_offer,
    hold_get_live,
    move_window,
    series_appointments,
    series_get,
)
from creneau.booking.services import (
    Override,
    PersonData,
    booking_cancel,
    booking_confirm,
    booking_dose2_cancel,
    booking_dose2_rebook,
    booking_move,
    contact_for_agent,
    hold_create,
    hold_release,
)
from creneau.campaigns.services import invitation_book
from creneau.core.errors import (
    DomainError,
    Dose2Unavailable,
    HoldExpired,
    InvalidInput,
    NotEligible,
    NotFound,
    SiteRestricted,
    SlotUnavailable,
    StockInsufficient,
)
from creneau.core.inputs import date_parse, id_parse
from creneau.core.phones import PHONE_MAX_LENGTH
from creneau.eligibility.selectors import category_labels
from creneau.geography.selectors import place_resolve
from creneau.outreach.letters import letter_batch_manifest as letter_batch_manifest_make
from creneau.outreach.letters import letter_batch_pdf as letter_batch_pdf_make
from creneau.outreach.letters import letters_printed
from creneau.outreach.rendering import notification_redacted
from creneau.outreach.selectors import (
    letter_batch_get,
    letter_batch_list,
    letters_waiting,
    outbox_list,
)
from creneau.outreach.services import letter_batch_create
from creneau.portal.data import data_download
from creneau.privacy.selectors import person_data
from creneau.privacy.services import person_erase
from creneau.scheduling.selectors import (
    availability_filter_build,
    availability_search,
    slot_list_available,
    slots_next,
)
from creneau.staff.access import staff_view
from creneau.staff.selectors import staff_sites_q

from .forms import CallerPersonForm, CallerSearchForm, ReasonForm, SlotSearchForm
from .invitation_views import INVITATION

BOOKING = "callcenter_booking"
SITES_SHOWN = 8
SLOTS_PER_SITE = 6


def _focus(request: HttpRequest, field: BoundField, *, described_by: str = "") -> None:
    """The field the agent types in next has the focus when the page opens (`autofocus`,
    no script needed), unless a message says first what just happened (callcenter/base.html)
    or the form's errors do (portal/_form_errors.html). `described_by`: what a screen
    reader should hear with it."""
    if field.form.errors or len(messages.get_messages(request)):
        return
    field.field.widget.attrs["autofocus"] = True
    if described_by:
        field.field.widget.attrs["aria-describedby"] = described_by


def _done(series: Series, *, sent: str, by_letter: str) -> str:
    """What the agent tells the caller once a change is made: a letter is not sent yet, it
    waits to be printed from "Courriers"."""
    return by_letter if series.contact.channel == Contact.Channel.LETTER else sent


def _slot_id(text: str | None) -> int:
    return id_parse(text, message=_("Choisissez un créneau."))


def _series(request: HttpRequest, series_id: int):
    return series_get(
        series_id=series_id, scope=staff_sites_q(profile=request.staff, prefix="site__")
    )


@require_GET
@staff_view(permission="callcentre.book")
def home(request: HttpRequest) -> HttpResponse:
    """Find the caller; or start a new booking near them."""
    # A new caller: the invitation a previous one read out fills nothing for them.
    request.session.pop(INVITATION, None)
    form = CallerSearchForm(request.GET if "q" in request.GET else None)
    found = None
    if form.is_bound and form.is_valid():
        query = form.cleaned_data["q"]
        try:
            found = caller_find(query=query)
        except InvalidInput as error:
            form.add_error("q", error.message)
        sites = {series.site for series in found or ()}
        # Every search is audited with its terms as typed (sealed: they are personal
        # data), a refused one too (a number that cannot be one): who looked for whom is
        # what staff accountability needs.
        audit_record(
            actor=request.actor,
            action="view",
            object_type="callcenter.search",
            # One site found: the event is in its region's log too.
            site=sites.pop() if len(sites) == 1 else None,
            summary=_("Recherche d'appelant : %(count)s parcours") % {"count": len(found or ())},
            details={
                "query": audit_sealed(query),
                "series": [series.pk for series in found or ()],
            },
        )
    # A number that found nobody is a new caller's: it is carried into the booking, as
    # the contact if it can receive the confirmation, as their landline if not.
    carried = (
        caller_numbers_sort(text=form.cleaned_data["q"])
        if found == []
        else CallerNumbers(
            contact=request.GET.get("contact", "")[:254],
            landline=request.GET.get("fixe", "")[:PHONE_MAX_LENGTH],
        )
    )
    slot_form = SlotSearchForm(initial={"near": ""})
    if found == []:
        # Nobody on file: next is the caller's town, said with why.
        _focus(
            request,
            slot_form["near"],
            described_by="nobody landline-note" if carried.landline else "nobody",
        )
    return render(
        request,
        "callcenter/home.html",
        {"form": form, "found": found, "slot_form": slot_form, "carried": carried},
        status=400 if form.is_bound and form.errors else 200,
    )


@require_GET
@staff_view(permission="callcentre.book")
def slots(request: HttpRequest) -> HttpResponse:
    """The nearest sites with free first-dose places, each with its next slots."""
    form = SlotSearchForm(request.GET)
    context: dict = {
        "form": form,
        "results": [],
        "carried": CallerNumbers(
            contact=request.GET.get("contact", "")[:254],
            landline=request.GET.get("fixe", "")[:PHONE_MAX_LENGTH],
        ),
    }
    if form.is_valid():
        try:
            place = place_resolve(query=form.cleaned_data["near"])
        except DomainError as error:
            form.add_error("near", error.message)
        try:
            wanted = availability_filter_build(
                vaccine_code=form.cleaned_data["vaccine"] or None,
                dose_number=1,
                date_from=form.cleaned_data["day"],
            )
        except DomainError as error:
            # The vaccine is one of the form's choices: a refusal here is about the day.
            form.add_error("day", error.message)
        declared = _dose1_declared(form)
        if declared is not None:
            wanted = declared.wanted()
            context["declared"] = declared
            if form.cleaned_data["day"]:
                wanted = dataclasses.replace(
                    wanted, date_from=max(form.cleaned_data["day"], declared.first)
                )
        if not form.errors:
            found = [
                result
                for result in availability_search(
                    origin=place.position, radius_km=50, wanted=wanted, limit=SITES_SHOWN
                )
                if result.available_slots
            ]
            if declared is not None:
                # A dose 2 alone promises a dose: only sites with one left to promise.
                found = dose2_alone_sites(results=found, declared=declared)
            following = slots_next(
                first_free={result.site.pk: result.next_slot_at for result in found},
                wanted=wanted,
                per_site=SLOTS_PER_SITE,
            )
            context |= {
                "place": place,
                # A site reserved for some people says for whom: the agent asks the caller.
                "results": [
                    (
                        result,
                        following.get(result.site.pk, []),
                        category_labels(codes=result.site.restricted_to),
                    )
                    for result in found
                ],
            }
    if not form.errors and not context["results"]:
        _focus(request, form["near"])
    return render(request, "callcenter/slots.html", context, status=400 if form.errors else 200)


def _dose1_declared(form: SlotSearchForm) -> Dose1Elsewhere | None:
    """The caller's dose 1 given elsewhere, checked, or None; a refusal is the field's."""
    given_on = form.cleaned_data.get("dose1_elsewhere")
    if not given_on or form.errors:
        return None
    try:
        return dose1_elsewhere_check(
            vaccine_code=form.cleaned_data["vaccine"],
            given_on=given_on,
            today=timezone.localdate(),
        )
    except DomainError as error:
        field = "vaccine" if error.details.get("field") == "dose1_vaccine" else "dose1_elsewhere"
        form.add_error(field, error.message)
        return None


def _dose1_posted(request: HttpRequest) -> Dose1Elsewhere | None:
    """The dose 1 given elsewhere the slot list carried with the chosen slot, checked again."""
    given_on = request.POST.get("dose1_elsewhere", "")
    if not given_on:
        return None
    return dose1_elsewhere_check(
        vaccine_code=request.POST.get("dose1_vaccine", ""),
        given_on=date_parse(given_on),
        today=timezone.localdate(),
    )


@require_POST
@staff_view(permission="callcentre.book")
def hold(request: HttpRequest) -> HttpResponse:
    """Keep the chosen place (and its second dose) while the agent types the details."""
    previous = request.session.pop(BOOKING, None)
    if previous:
        # Another slot chosen (another caller, or the same one changing their mind): the
        # first place goes back at once, not when its hold runs out.
        with contextlib.suppress(NotFound):
            hold_release(hold_id=previous["hold"])
    slot_id = _slot_id(request.POST.get("slot"))
    try:
        # A declared dose 1 the slot list carried, checked again: its refusal is said on
        # the list, as a slot's is.
        declared = _dose1_posted(request)
    except InvalidInput as error:
        return _back_to_slots(request, error)
    try:
        result = hold_create(slot_id=slot_id, dose1_elsewhere=declared)
    except (SlotUnavailable, Dose2Unavailable, HoldExpired) as error:
        return _back_to_slots(request, error)
    request.session[BOOKING] = {
        "hold": str(result.hold.pk),
        "key": uuid4().hex,
        "contact": request.POST.get("contact", "")[:254],
        "landline": request.POST.get("fixe", "")[:PHONE_MAX_LENGTH],
        "refused": False,
    }
    return redirect("callcenter:person")


def _back_to_slots(request: HttpRequest, error: DomainError) -> HttpResponse:
    messages.error(request, error.message)
    back = request.POST.get("back", "")
    # Only back to a page of ours: a posted address is not a place to send anyone.
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("callcenter:home")
    return redirect(back)


def _person_data(form: CallerPersonForm) -> PersonData:
    data = form.cleaned_data
    return PersonData(
        given_name=data["given_name"],
        family_name=data["family_name"],
        birth_date=data["birth_date"],
        categories=tuple(data["categories"]),
    )


def _invited_person(invited: dict | None) -> dict:
    """The invitee whose code the caller gave (invitation_views): the form's names, birth
    date and contact."""
    if not invited:
        return {}
    initial = {
        "given_name": invited["given_name"],
        "family_name": invited["family_name"],
        "birth_date": date.fromisoformat(invited["birth_date"]),
    }
    contact = invited["contact"]
    if contact:
        initial["email" if "@" in contact else "phone"] = contact
    return initial


def _contact_initial(state: dict) -> dict[str, str]:
    """The booking form filled with the contact carried from the caller's search or a
    relative's booking: a number or an e-mail, or a postal address's fields; and the
    caller's landline."""
    contact = state["contact"]
    postal = postal_address_parse(text=contact)
    if postal is not None:
        initial = dataclasses.asdict(postal)
    else:
        initial = {"email" if "@" in contact else "phone": contact}
    return initial | {"landline": state.get("landline", "")}


@require_http_methods(["GET", "POST"])
@staff_view(permission="callcentre.book")
def person(request: HttpRequest) -> HttpResponse:
    """Who the appointment is for and where the confirmation goes; eligibility applies,
    and an override needs a reason, recorded with the agent's name."""
    state = request.session.get(BOOKING)
    if state is None:
        messages.error(request, _("Choisissez d'abord un créneau."))
        return redirect("callcenter:home")
    try:
        held = hold_get_live(hold_id=state["hold"])
    except DomainError as error:
        request.session.pop(BOOKING, None)
        messages.error(request, error.message)
        return redirect("callcenter:home")
    invited = request.session.get(INVITATION)
    form = CallerPersonForm(
        request.POST or None,
        initial=_contact_initial(state) | _invited_person(invited),
        refused=state["refused"],
    )
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data.get("override_reason", "").strip()
        try:
            booking = dict(
                hold_id=state["hold"],
                contact=contact_for_agent(
                    phone=form.cleaned_data["phone"],
                    email=form.cleaned_data["email"],
                    postal=form.postal_address(),
                    landline=form.cleaned_data["landline"],
                ),
                person=_person_data(form),
                idempotency_key=state["key"],
                override=Override(by=request.user, reason=reason) if reason else None,
                actor=request.actor,
            )
            result = (
                invitation_book(invitation_id=invited["id"], **booking)
                if invited
                else booking_confirm(**booking)
            )
        except (NotEligible, SiteRestricted) as error:
            state["refused"] = True
            request.session.modified = True
            form = CallerPersonForm(request.POST, refused=True)
            form.is_valid()
            form.add_error(None, error.message)
        except (HoldExpired, SlotUnavailable, Dose2Unavailable, StockInsufficient) as error:
            # (A dose 2 alone at a site with no dose left to promise: its place went back.)
            request.session.pop(BOOKING, None)
            messages.error(request, error.message)
            return redirect("callcenter:home")
        except DomainError as error:
            field = error.details.get("field")
            form.add_error(field if field in form.fields else None, error.message)
        else:
            request.session.pop(BOOKING, None)
            request.session.pop(INVITATION, None)
            if result.created:
                reference = {"reference": tokens.reference_display(result.series.reference)}
                messages.success(
                    request,
                    _done(
                        result.series,
                        sent=_("Réservé : référence %(reference)s. La confirmation est envoyée.")
                        % reference,
                        by_letter=_(
                            "Réservé : référence %(reference)s. La confirmation part par "
                            "courrier : imprimez-la depuis « Courriers »."
                        )
                        % reference,
                    ),
                )
            else:
                # The service answered the person's course in progress and gave the chosen
                # places back: nothing was booked or sent, as the portal says too.
                messages.info(
                    request,
                    _(
                        "Cette personne avait déjà un rendez-vous en cours : le voici. "
                        "Rien n'a changé."
                    ),
                )
            return redirect("callcenter:file", series_id=result.series.pk)
    _focus(request, form["given_name"])
    return render(
        request,
        "callcenter/person.html",
        {
            "form": form,
            "held": held,
            "refused": state["refused"],
            "restricted_to": category_labels(codes=held.slot.site.restricted_to),
        },
        status=400 if form.errors else 200,
    )


def _seen(request: HttpRequest, series, summary: str) -> None:
    """A page showing the caller's details was opened: the audit log says so."""
    audit_record(actor=request.actor, action="view", obj=series, site=series.site, summary=summary)


# The latest messages to the caller's contact shown on their file.
MESSAGES_SHOWN = 10


def _file_page(request: HttpRequest, series, *, reason_form: ReasonForm, status: int = 200):
    _seen(request, series, _("Dossier de l'appelant"))
    appointments = series_appointments(series=series)
    carried = {"contact": series.contact.address, "fixe": series.contact.landline}
    # After a cancellation, slots near the same place for the same caller; not for a course
    # whose first dose was given (a new booking starts with a first dose again).
    new_search = series.status == Series.Status.CANCELLED and not any(
        appointment.status == Appointment.Status.FULFILLED for appointment in appointments
    )
    search = {"near": series.site.postcode, **carried}
    if series.dose1_elsewhere_on:
        # Begun elsewhere: the next search is for its dose 2 again, after the same dose 1.
        search |= {
            "vaccine": series.vaccine.code,
            "dose1_elsewhere": series.dose1_elsewhere_on.strftime("%d/%m/%Y"),
        }
    return render(
        request,
        "callcenter/file.html",
        {
            "series": series,
            "reference": tokens.reference_display(series.reference),
            "appointments": appointments,
            "actions": course_actions(
                series=series,
                appointments=appointments,
                actor=CourseActor.AGENT,
                now=timezone.now(),
            ),
            "relative_url": reverse("callcenter:home") + "?" + urlencode(carried),
            "new_search_url": reverse("callcenter:slots") + "?" + urlencode(search)
            if new_search
            else None,
            "reason_form": reason_form,
            # What was sent to the contact, said without its text (which is not kept):
            # "did you get the code?" is answered from here.
            "sent": [
                (notification, notification_redacted(notification=notification))
                for notification in outbox_list(to=series.contact.address, limit=MESSAGES_SHOWN)
            ],
        },
        status=status,
    )


@require_GET
@staff_view(permission="callcentre.book")
def file(request: HttpRequest, series_id: int) -> HttpResponse:
    """A caller's course: the person, the contact, the appointments, and what can be done."""
    return _file_page(request, _series(request, series_id), reason_form=ReasonForm())


@require_http_methods(["GET", "POST"])
@staff_view(permission="callcentre.book")
def move(request: HttpRequest, series_id: int, dose_number: int) -> HttpResponse:
    series = _series(request, series_id)
    if not 1 <= dose_number <= series.vaccine.doses_in_series:
        raise NotFound(_("Ce parcours n'a pas de dose %(dose)s.") % {"dose": dose_number})
    if request.method == "POST":
        try:
            booking_move(
                series_id=series.pk,
                dose_number=dose_number,
                slot_id=_slot_id(request.POST.get("slot")),
                actor=request.actor,
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _done(
                    series,
                    sent=_("Déplacé. La confirmation est envoyée."),
                    by_letter=_(
                        "Déplacé. La confirmation part par courrier : imprimez-la depuis "
                        "« Courriers »."
                    ),
                ),
            )
            return redirect("callcenter:file", series_id=series.pk)
    first, last = move_window(series=series, dose_number=dose_number, today=timezone.localdate())
    wanted = availability_filter_build(
        vaccine_code=series.vaccine.code, dose_number=dose_number, date_from=first, date_to=last
    )
    day = request.GET.get("jour")
    chosen_day = date_parse(day) if day else None
    free = slot_list_available(site_id=series.site_id, day=chosen_day, wanted=wanted)
    _seen(request, series, _("Nouvelle date pour la dose %(dose)s") % {"dose": dose_number})
    return render(
        request,
        "callcenter/move.html",
        {
            "series": series,
            "dose_number": dose_number,
            "slots": free,
            "first": first,
            "last": last,
            "chosen_day": chosen_day,
        },
    )


@require_POST
@staff_view(permission="callcentre.book")
def cancel(request: HttpRequest, series_id: int) -> HttpResponse:
    return _cancelled(
        request,
        series_id,
        service=booking_cancel,
        sent=_("Annulé. La confirmation est envoyée."),
        by_letter=_(
            "Annulé. La confirmation part par courrier : imprimez-la depuis « Courriers »."
        ),
    )


@require_POST
@staff_view(permission="callcentre.book")
def cancel_dose2(request: HttpRequest, series_id: int) -> HttpResponse:
    """Once dose 1 is given: the dose-2 appointment alone (the service refuses it before)."""
    return _cancelled(
        request,
        series_id,
        service=booking_dose2_cancel,
        sent=_("2e dose annulée. La confirmation est envoyée."),
        by_letter=_(
            "2e dose annulée. La confirmation part par courrier : imprimez-la depuis « Courriers »."
        ),
    )


def _cancelled(
    request: HttpRequest, series_id: int, *, service, sent: str, by_letter: str
) -> HttpResponse:
    """The reason typed, then the cancellation service; its refusal said on the file."""
    series = _series(request, series_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _file_page(request, series, reason_form=form, status=400)
    try:
        result = service(
            series_id=series.pk, reason=form.cleaned_data["reason"], actor=request.actor
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if not result.changed:
            # Cancelled already (by the caller online, a colleague, the site): nothing was
            # done now, nothing sent; "Annulé" would tell the caller otherwise.
            messages.info(request, _("Ce rendez-vous était déjà annulé. Rien n'a changé."))
        else:
            messages.success(request, _done(series, sent=sent, by_letter=by_letter))
    return redirect("callcenter:file", series_id=series.pk)


@require_GET
@staff_view(permission="callcentre.book")
def data(request: HttpRequest, series_id: int) -> HttpResponse:
    """What is held about the caller's person, to read to them or send them: a look at
    personal data, recorded as one."""
    series = _series(request, series_id)
    held = person_data(person=series.person)
    _seen(request, series, _("Données de l'appelant (droit d'accès)"))
    return render(
        request,
        "callcenter/data.html",
        {"series": series, "reference": tokens.reference_display(series.reference), "data": held},
    )


@require_GET
@staff_view(permission="callcentre.book")
def data_json(request: HttpRequest, series_id: int) -> HttpResponse:
    series = _series(request, series_id)
    held = person_data(person=series.person)
    audit_record(
        actor=request.actor,
        action="export",
        obj=series,
        site=series.site,
        summary=_("Données de l'appelant exportées (droit d'accès)"),
    )
    return data_download(
        held, filename=f"donnees-{tokens.reference_display(series.reference)}.json"
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="callcentre.book")
def erase(request: HttpRequest, series_id: int) -> HttpResponse:
    """The caller's erasure, confirmed with them first: the same service as the portal's,
    as a staff action (one unit of work, its audit event naming the agent)."""
    series = _series(request, series_id)
    if request.method == "POST":
        try:
            person_erase(series_id=series.pk, actor=request.actor)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("callcenter:file", series_id=series.pk)
        messages.success(
            request,
            _(
                "Données effacées. Les rendez-vous à venir sont annulés (la confirmation part "
                "au contact) ; les doses faites restent au dossier médical, sans nom."
            ),
        )
        return redirect("callcenter:home")
    _seen(request, series, _("Effacement des données : confirmation"))
    appointments = series_appointments(series=series)
    return render(
        request,
        "callcenter/erase.html",
        {
            "series": series,
            "reference": tokens.reference_display(series.reference),
            "actions": course_actions(
                series=series,
                appointments=appointments,
                actor=CourseActor.AGENT,
                now=timezone.now(),
            ),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="callcentre.book")
def dose2(request: HttpRequest, series_id: int) -> HttpResponse:
    """A new second-dose date for a course whose first dose was given (its second was
    missed or cancelled with its session)."""
    series = _series(request, series_id)
    if request.method == "POST":
        try:
            booking_dose2_rebook(
                series_id=series.pk, slot_id=_slot_id(request.POST.get("slot")), actor=request.actor
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                _done(
                    series,
                    sent=_("2e dose réservée. La confirmation est envoyée."),
                    by_letter=_(
                        "2e dose réservée. La confirmation part par courrier : imprimez-la "
                        "depuis « Courriers »."
                    ),
                ),
            )
            return redirect("callcenter:file", series_id=series.pk)
    _seen(request, series, _("Nouvelle date de 2e dose"))
    day = request.GET.get("jour")
    offer = dose2_rebook_offer(
        series=series, day=date_parse(day) if day else None, now=timezone.now()
    )
    return render(request, "callcenter/dose2.html", {"series": series, "offer": offer})


@require_http_methods(["GET", "POST"])
@staff_view(permission="letters.print")
def letters(request: HttpRequest) -> HttpResponse:
    """Confirmations by letter wait here; a batch takes them to print and post."""
    if request.method == "POST":
        try:
            batch = letter_batch_create(actor=request.actor)
        except InvalidInput as error:
            messages.error(request, error.message)
            return redirect("callcenter:letters")
        return redirect("callcenter:letter_batch", batch_id=batch.pk)
    return render(
        request,
        "callcenter/letters.html",
        {"waiting": letters_waiting(), "batches": letter_batch_list()},
    )


@require_GET
@staff_view(permission="letters.print")
def letter_batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    """A batch's letters, one to a page, the address where a window envelope shows it."""
    batch, letters = _letter_batch_printed(
        request, batch_id, _("Impression de %(count)s courrier(s)")
    )
    return render(request, "callcenter/letter_batch.html", {"batch": batch, "letters": letters})


@require_GET
@staff_view(permission="letters.print")
def letter_batch_pdf(request: HttpRequest, batch_id: int) -> HttpResponse:
    """The same letters as one PDF for the printer (A4, one letter a sheet)."""
    batch, letters = _letter_batch_printed(
        request, batch_id, _("PDF de %(count)s courrier(s) pour l'imprimeur")
    )
    pdf = letter_batch_pdf_make(batch=batch, letters=letters)
    return _attachment(pdf, "application/pdf", f"courriers-lot-{batch.pk}.pdf")


@require_GET
@staff_view(permission="letters.print")
def letter_batch_manifest(request: HttpRequest, batch_id: int) -> HttpResponse:
    """One line a letter (batch, sequence, identifiant, postcode), for the printer."""
    batch, letters = _letter_batch_printed(
        request, batch_id, _("Manifeste de %(count)s courrier(s)")
    )
    manifest = letter_batch_manifest_make(batch=batch, letters=letters)
    return _attachment(manifest, "text/csv; charset=utf-8", f"courriers-lot-{batch.pk}.csv")


def _attachment(content: bytes | str, content_type: str, filename: str) -> HttpResponse:
    return HttpResponse(
        content,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _letter_batch_printed(request: HttpRequest, batch_id: int, summary: str):
    """The batch and its letters rendered now (a letter's text is not kept either), the
    export audited."""
    batch, notifications = letter_batch_get(batch_id=batch_id)
    audit_record(
        actor=request.actor,
        action="export",
        obj=batch,
        summary=summary % {"count": len(notifications)},
    )
    return batch, letters_printed(notifications=notifications)
