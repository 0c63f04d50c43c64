"""The back office: each view checks the account's scope, calls a selector or a service,
and renders. Every look at personal data is written to the audit log."""

import csv
from collections import Counter
from datetime import date, datetime, time, timedelta
from itertools import groupby
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import time_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from creneau.audit.selectors import audit_list
from creneau.audit.services import audit_record, audit_sealed
from creneau.booking.actions import CourseActor
from creneau.booking.models import Cancellation
from creneau.booking.selectors import (
    cancellation_get,
    cancellation_list,
    cancellation_preview,
    course_actions,
    site_day_appointments,
)
from creneau.booking.services import cancellation_create
from creneau.care.selectors import (
    appointment_administrations,
    noshows_due,
    site_appointment_get,
)
from creneau.care.services import (
    LOT_MAX_LENGTH,
    administration_correct_lot,
    administration_correct_time,
    administration_record,
    administration_withdraw,
    appointment_check_in,
    noshows_mark,
)
from creneau.core.errors import DomainError, InvalidInput, LotNotReceived
from creneau.core.inputs import date_parse, id_parse
from creneau.geography.selectors import department_timezone
from creneau.scheduling.selectors import site_day_sessions
from creneau.staff.access import staff_view
from creneau.staff.selectors import (
    second_factor_enrolled,
    staff_audit_scope,
    staff_may,
    staff_site_get,
    staff_site_list,
)
from creneau.vaccines.selectors import site_lots

from .forms import AuditFilterForm, CancellationForm

SITES_SHOWN = 50


@require_GET
@staff_view()
def home(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    sites = staff_site_list(profile=request.staff)
    if query:
        sites = sites.filter(name__icontains=query) | sites.filter(postcode__startswith=query)
    return render(
        request,
        "backoffice/home.html",
        {
            "profile": request.staff,
            "sites": sites[:SITES_SHOWN],
            "more": sites.count() > SITES_SHOWN,
            "query": query,
            "works_days": staff_may(profile=request.staff, permission="day.work"),
            "runs_campaigns": staff_may(profile=request.staff, permission="campaigns.manage"),
            "reads_audit": staff_may(profile=request.staff, permission="audit.read"),
            "reads_platforms": staff_may(profile=request.staff, permission="platforms.read"),
            "manages_api_tokens": staff_may(profile=request.staff, permission="api_tokens.manage"),
            "manages_rules": staff_may(profile=request.staff, permission="eligibility.manage"),
            "publishes": staff_may(profile=request.staff, permission="publication.manage"),
            "books_calls": staff_may(profile=request.staff, permission="callcentre.book"),
            "prints_letters": staff_may(profile=request.staff, permission="letters.print"),
            "manages": staff_may(profile=request.staff, permission="site.manage"),
            "second_factor_enrolled": second_factor_enrolled(user=request.user),
        },
    )


def _local_day(text: str | None, *, today: date) -> date:
    return date_parse(text) if text else today


def _lots_by_vaccine(site, appointments, *, today: date) -> dict[int, list[str]]:
    """The usable lots for every vaccine on the list (an empty list when there is none)."""
    usable = site_lots(site_id=site.pk, today=today)
    return {
        vaccine: usable.get(vaccine, []) for vaccine in {a.slot.vaccine_id for a in appointments}
    }


def _who(appointments, *, tz) -> dict[int, str]:
    """Who each row's buttons and fields are for, said in full to a screen reader ("Marcel
    Durand, 9 h 40"): a day's list has homonyms, and a button named by a first name alone
    could be anyone's. Two people of the same name at the same time get their birth date."""

    def said(appointment) -> str:
        return _("%(given)s %(family)s, %(time)s") % {
            "given": appointment.person.given_name,
            "family": appointment.person.family_name,
            "time": time_format(appointment.slot.start.astimezone(tz), _("G \\h i")),
        }

    names = {appointment.pk: said(appointment) for appointment in appointments}
    twice = {name for name, count in Counter(names.values()).items() if count > 1}
    for appointment in appointments:
        if names[appointment.pk] in twice:
            names[appointment.pk] = _("%(who)s, né(e) le %(birth_date)s") % {
                "who": names[appointment.pk],
                "birth_date": appointment.person.birth_date.strftime("%d/%m/%Y"),
            }
    return names


@require_GET
@staff_view(permission="day.work")
def site_day(request: HttpRequest, site_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    tz = department_timezone(department_code=site.department_id)
    day = _local_day(request.GET.get("jour"), today=timezone.localtime(timezone=tz).date())
    search = request.GET.get("q", "")
    appointments = site_day_appointments(site_id=site.pk, day=day, search=search)
    printing = "imprimer" in request.GET
    audit_record(
        actor=request.actor,
        action="export" if printing else "view",
        object_type="sites.site.day",
        object_id=f"{site.pk}:{day.isoformat()}",
        site=site,
        summary=_("Liste du jour : %(count)s rendez-vous") % {"count": len(appointments)},
        details={
            "appointments": [appointment.pk for appointment in appointments],
            **({"search": audit_sealed(search[:100])} if search else {}),
        },
    )
    now = timezone.now()
    # What the desk may do with each appointment: the list passes each one on its own.
    by_hour = [
        (
            hour,
            [
                course_actions(
                    series=a.series, appointments=[a], actor=CourseActor.SITE_STAFF, now=now
                ).appointments[0]
                for a in group
            ],
        )
        for hour, group in groupby(
            appointments, key=lambda a: a.slot.start.astimezone(tz).strftime("%H:00")
        )
    ]
    return render(
        request,
        "backoffice/site_day.html",
        {
            "site": site,
            "day": day,
            "previous_day": day - timedelta(days=1),
            "next_day": day + timedelta(days=1),
            "by_hour": by_hour,
            "who": _who(appointments, tz=tz),
            "count": len(appointments),
            "search": search,
            "printing": printing,
            "lots": _lots_by_vaccine(site, appointments, today=day),
            "noshows_due": noshows_due(site_id=site.pk, day=day, now=now).count(),
            "cancels": staff_may(profile=request.staff, permission="session.cancel"),
            "manages": staff_may(profile=request.staff, permission="site.manage"),
            "sessions": site_day_sessions(site_id=site.pk, day=day),
        },
    )


def _back_to_day(
    request: HttpRequest, site_id: int, day: str, *, appointment_id: int | None = None
) -> HttpResponse:
    """Back to the list as the desk left it: the same day and name filter, scrolled to the
    row acted on (a day's list is thousands of pixels long)."""
    query = urlencode(
        {
            key: value
            for key, value in (("jour", day), ("q", request.POST.get("q", "")[:100]))
            if value
        }
    )
    url = reverse("backoffice:site_day", args=[site_id]) + (f"?{query}" if query else "")
    return redirect(url + (f"#rdv-{appointment_id}" if appointment_id is not None else ""))


@require_POST
@staff_view(permission="day.work")
def check_in(request: HttpRequest, site_id: int, appointment_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    try:
        appointment = appointment_check_in(
            actor=request.actor, appointment_id=appointment_id, site_id=site.pk
        )
    except InvalidInput as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("%(name)s est arrivé(e).")
            % {"name": f"{appointment.person.given_name} {appointment.person.family_name}"},
        )
    return _back_to_day(
        request, site.pk, request.POST.get("jour", ""), appointment_id=appointment_id
    )


def _given_at(text: str, *, site, day: date | None = None) -> datetime | None:
    """The injection time typed at the desk (HH:MM, on `day` at the site, today when not
    given), or None: now."""
    if not text:
        return None
    try:
        moment = time.fromisoformat(text) if len(text) <= 8 else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInput(_("Heure invalide : %(text)s (attendu : HH:MM).") % {"text": text[:8]})
    tz = department_timezone(department_code=site.department_id)
    return datetime.combine(day or timezone.localtime(timezone=tz).date(), moment, tzinfo=tz)


@require_POST
@staff_view(permission="day.work")
def dose_given(request: HttpRequest, site_id: int, appointment_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    try:
        administration = administration_record(
            actor=request.actor,
            appointment_id=appointment_id,
            site_id=site.pk,
            lot=request.POST.get("lot", ""),
            lot_lent="lot_prete" in request.POST,
            given_at=_given_at(request.POST.get("heure", ""), site=site),
        )
    except LotNotReceived as error:
        # A question rather than a refusal: the same form again, with the box that answers it.
        return _lot_confirm(request, site, appointment_id, error)
    except InvalidInput as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Dose enregistrée (lot %(lot)s).") % {"lot": administration.lot}
        )
    return _back_to_day(
        request, site.pk, request.POST.get("jour", ""), appointment_id=appointment_id
    )


def _lot_confirm(
    request: HttpRequest, site, appointment_id: int, error: LotNotReceived
) -> HttpResponse:
    """The dose form once more for a lot the site never received: corrected, or confirmed
    as lent by another site (a checkbox, so no script is needed)."""
    appointment = site_appointment_get(site_id=site.pk, appointment_id=appointment_id)
    tz = department_timezone(department_code=site.department_id)
    return render(
        request,
        "backoffice/dose_confirm.html",
        {
            "site": site,
            "appointment": appointment,
            "who": _who([appointment], tz=tz)[appointment.pk],
            "error": error,
            "lot": request.POST.get("lot", "").strip()[:LOT_MAX_LENGTH],
            "given_at": request.POST.get("heure", "")[:5],
            "day": request.POST.get("jour", "")[:10],
            "search": request.POST.get("q", "")[:100],
            "lots": site_lots(site_id=site.pk, today=appointment.slot.date).get(
                appointment.slot.vaccine_id, []
            ),
        },
        status=error.status,
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="site.manage")
def dose_correct(request: HttpRequest, site_id: int, appointment_id: int) -> HttpResponse:
    """A dose's record put right by the site's manager: its lot, its time, or withdrawn
    when it was recorded by mistake; each form calls one service. The page shows the
    record with every correction made to it."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    appointment = site_appointment_get(site_id=site.pk, appointment_id=appointment_id)
    if request.method == "GET":
        return _dose_correct_page(request, site, appointment)
    action, reason = request.POST.get("action", ""), request.POST.get("motif", "")
    corrected = {"actor": request.actor, "appointment_id": appointment.pk, "site_id": site.pk}
    try:
        if action == "lot":
            administration_correct_lot(
                **corrected,
                lot=request.POST.get("lot", ""),
                lot_lent="lot_prete" in request.POST,
                reason=reason,
            )
            done = _("Lot corrigé.")
        elif action == "heure":
            given_at = _given_at(
                request.POST.get("heure", ""), site=site, day=appointment.slot.date
            )
            if given_at is None:
                raise InvalidInput(_("Indiquez l’heure de l’injection (HH:MM)."))
            administration_correct_time(**corrected, given_at=given_at, reason=reason)
            done = _("Heure de l’injection corrigée.")
        elif action == "erreur":
            administration_withdraw(**corrected, reason=reason)
            done = _("Dose retirée : son enregistrement reste dans l’historique.")
        else:
            raise InvalidInput(_("Action inconnue."))
    except DomainError as error:
        return _dose_correct_page(request, site, appointment, error=error, action=action)
    messages.success(request, done)
    return _back_to_day(
        request, site.pk, appointment.slot.date.isoformat(), appointment_id=appointment.pk
    )


def _dose_correct_page(
    request: HttpRequest, site, appointment, *, error: DomainError | None = None, action: str = ""
) -> HttpResponse:
    records = appointment_administrations(appointment_id=appointment.pk)
    audit_record(
        actor=request.actor,
        action="view",
        obj=appointment,
        site=site,
        summary=_("Dose enregistrée et ses corrections"),
    )
    tz = department_timezone(department_code=site.department_id)
    current = next((record for record in records if record.withdrawn_at is None), None)
    return render(
        request,
        "backoffice/dose_correct.html",
        {
            "site": site,
            "appointment": appointment,
            "who": _who([appointment], tz=tz)[appointment.pk],
            "current": current,
            "records": records,
            "error": error,
            "action": action,
            # A refusal no form on the page can show next to its fields.
            "page_error": error
            if error and (current is None or action not in ("lot", "heure", "erreur"))
            else None,
            "lot_question": isinstance(error, LotNotReceived),
            "typed": request.POST,
            "search": (request.POST or request.GET).get("q", "")[:100],
            "lots": site_lots(site_id=site.pk, today=appointment.slot.date).get(
                appointment.slot.vaccine_id, []
            ),
        },
        status=error.status if error else 200,
    )


@require_POST
@staff_view(permission="day.work")
def noshows(request: HttpRequest, site_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    tz = department_timezone(department_code=site.department_id)
    day = _local_day(request.POST.get("jour"), today=timezone.localtime(timezone=tz).date())
    result = noshows_mark(actor=request.actor, site_id=site.pk, day=day)
    messages.success(
        request,
        _(
            "%(count)s rendez-vous marqué(s) « absent ». %(ended)s parcours arrêté(s) "
            "faute de dose 1 : les personnes sont prévenues et peuvent reprendre rendez-vous."
        )
        % {"count": len(result.marked), "ended": result.series_ended},
    )
    return _back_to_day(request, site.pk, day.isoformat())


AUDIT_PAGE = 200
AUDIT_EXPORT = 1000
AUDIT_COLUMNS = (
    "at",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "site_id",
    "ip",
    "summary",
)


def _csv_cell(value: object) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _day_start(day: date | None) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


@require_GET
@staff_view(permission="audit.read")
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit log of the account's scope, filtered; `?export=csv` downloads it."""
    form = AuditFilterForm(request.GET or None)
    valid = form.is_valid() if form.is_bound else True
    filters = form.cleaned_data if form.is_bound and valid else {}
    scope = staff_audit_scope(profile=request.staff)
    if filters.get("site"):
        scope = {"sites": [staff_site_get(profile=request.staff, site_id=filters["site"]).pk]}
    actor = None
    if filters.get("actor"):
        actor = get_user_model().objects.filter(username=filters["actor"]).first()
    exporting = request.GET.get("export") == "csv" and valid
    until = filters.get("until")
    events = (
        []
        if not valid or (filters.get("actor") and actor is None)
        else audit_list(
            **scope,
            actor=actor,
            action=filters.get("action") or None,
            object_type=filters.get("object_type") or None,
            object_id=filters.get("object_id") or None,
            since=_day_start(filters.get("since")),
            until=_day_start(until + timedelta(days=1)) if until else None,
            limit=AUDIT_EXPORT if exporting else AUDIT_PAGE,
        )
    )
    # Reading the log is itself a look at personal data (who did what, from where).
    audit_record(
        actor=request.actor,
        action="export" if exporting else "view",
        object_type="audit.auditevent",
        summary=_("Journal d'audit : %(count)s événement(s)") % {"count": len(events)},
        details={key: str(value) for key, value in filters.items() if value},
    )
    if exporting:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="journal-audit.csv"'
        writer = csv.writer(response)
        writer.writerow(AUDIT_COLUMNS)
        for event in events:
            writer.writerow(_csv_cell(getattr(event, column)) for column in AUDIT_COLUMNS)
        return response
    return render(
        request,
        "backoffice/audit_log.html",
        {
            "form": form,
            "events": events,
            "full": len(events) == AUDIT_PAGE,
            "query": request.GET.urlencode(),
        },
        status=200 if valid else 400,
    )


Scope = Cancellation.Scope


def _cancellation_target(request: HttpRequest, site) -> dict:
    """The scope asked for in the query string, checked against the site (a session of
    another site is not found)."""
    data = request.POST if request.method == "POST" else request.GET
    scope = data.get("portee", "")
    if scope not in Scope.values:
        raise InvalidInput(_("Dites ce qu'il faut annuler : une session, une journée ou le lieu."))
    target = {"scope": scope, "session_id": None, "day": None}
    if scope == Scope.SESSION:
        session = data.get("session", "")
        target["session_id"] = id_parse(
            session, message=_("Session invalide : %(text)s.") % {"text": session[:20]}
        )
    elif scope == Scope.DAY:
        tz = department_timezone(department_code=site.department_id)
        target["day"] = _local_day(
            data.get("jour") or "-", today=timezone.localtime(timezone=tz).date()
        )
    return target


@staff_view(permission="session.cancel")
def cancel(request: HttpRequest, site_id: int) -> HttpResponse:
    """Confirm, then cancel a session, a day or the whole site, with a reason."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    target = _cancellation_target(request, site)
    preview = cancellation_preview(site_id=site.pk, **target)
    form = CancellationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        cancellation = cancellation_create(
            actor=request.actor, site_id=site.pk, reason=form.cleaned_data["reason"], **target
        )
        return redirect("backoffice:cancellation", site_id=site.pk, cancellation_id=cancellation.pk)
    return render(
        request,
        "backoffice/cancel.html",
        {"site": site, "target": target, "preview": preview, "form": form},
        status=400 if form.is_bound else 200,
    )


@require_GET
@staff_view(permission="session.cancel")
def cancellation(request: HttpRequest, site_id: int, cancellation_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    return render(
        request,
        "backoffice/cancellation.html",
        {
            "site": site,
            "cancellation": cancellation_get(site_id=site.pk, cancellation_id=cancellation_id),
        },
    )


@require_GET
@staff_view(permission="session.cancel")
def cancellations(request: HttpRequest, site_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    return render(
        request,
        "backoffice/cancellations.html",
        {
            "site": site,
            "cancellations": cancellation_list(site_id=site.pk),
            "manages": staff_may(profile=request.staff, permission="site.manage"),
            "works_days": staff_may(profile=request.staff, permission="day.work"),
        },
    )
