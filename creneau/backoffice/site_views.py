"""Site management: the site's details and publication, its sessions, its deliveries and
dose ledger. Each view checks the scope first, then calls one service, audited."""

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from creneau.core.errors import DomainError, InvalidInput, NotFound
from creneau.geography.selectors import department_timezone
from creneau.scheduling.selectors import session_get, site_commitments, site_sessions_ahead
from creneau.scheduling.services import (
    session_change_lines,
    session_close,
    session_open,
    sessions_open_weekly,
)
from creneau.sites.services import (
    site_close,
    site_publication_plan,
    site_publish,
    site_second_factor_set,
    site_update,
)
from creneau.staff.access import staff_view
from creneau.staff.selectors import staff_may, staff_site_get
from creneau.vaccines.selectors import delivery_get, site_deliveries, site_stock
from creneau.vaccines.services import delivery_cancel, delivery_receive, delivery_record

from .forms import (
    DeliveryForm,
    LinesForm,
    PublicationForm,
    SessionOpenForm,
    SiteDetailsForm,
    SiteSecondFactorForm,
)


def _site_today(site):
    return timezone.localtime(
        timezone=department_timezone(department_code=site.department_id)
    ).date()


def _field_error(form, error: DomainError) -> None:
    field = error.details.get("field")
    form.add_error(field if field in form.fields else None, error.message)


@require_http_methods(["GET", "POST"])
@staff_view(permission="site.manage")
def site_settings(request: HttpRequest, site_id: int) -> HttpResponse:
    """The site's details, and its publication: now, at a date, or closed to the public."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    form = SiteDetailsForm(
        request.POST or None,
        initial={
            "name": site.name,
            "phone": site.phone,
            "accessibility": site.accessibility,
            "booking_url": site.booking_url,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            site = site_update(actor=request.actor, site_id=site.pk, **form.cleaned_data)
        except DomainError as error:
            _field_error(form, error)
        else:
            messages.success(request, _("Informations enregistrées."))
            return redirect("backoffice:site_settings", site_id=site.pk)
    return render(
        request,
        "backoffice/site_settings.html",
        {
            "site": site,
            "form": form,
            "publication_form": PublicationForm(),
            "second_factor_form": SiteSecondFactorForm(
                initial={"required": site.staff_second_factor}
            ),
            "cancels": staff_may(profile=request.staff, permission="session.cancel"),
            "works_days": staff_may(profile=request.staff, permission="day.work"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@staff_view(permission="site.manage")
def site_publication(request: HttpRequest, site_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    action = request.POST.get("action", "")
    try:
        if action == "publish":
            site_publish(actor=request.actor, site_id=site.pk)
            summary = _("Lieu publié")
        elif action == "schedule":
            form = PublicationForm(request.POST)
            if not form.is_valid():
                raise InvalidInput(_("Indiquez la date et l'heure de publication."))
            site_publication_plan(
                actor=request.actor, site_id=site.pk, publish_at=form.cleaned_data["publish_at"]
            )
            summary = _("Publication programmée")
        elif action == "close":
            site_close(actor=request.actor, site_id=site.pk)
            summary = _("Lieu fermé au public")
        else:
            raise InvalidInput(_("Action inconnue."))
    except (InvalidInput, NotFound) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, summary)
    return redirect("backoffice:site_settings", site_id=site.pk)


@require_POST
@staff_view(permission="site.manage")
def site_second_factor(request: HttpRequest, site_id: int) -> HttpResponse:
    """Whether the site's staff sign in with a second factor (its managers always do)."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    form = SiteSecondFactorForm(request.POST)
    form.is_valid()  # an unticked box is False: nothing else to refuse
    required = form.cleaned_data["required"]
    site_second_factor_set(actor=request.actor, site_id=site.pk, required=required)
    messages.success(
        request,
        _("Le personnel du lieu se connectera avec un code de double authentification.")
        if required
        else _("La double authentification est facultative pour le personnel du lieu."),
    )
    return redirect("backoffice:site_settings", site_id=site.pk)


@require_http_methods(["GET", "POST"])
@staff_view(permission="site.manage")
def sessions(request: HttpRequest, site_id: int) -> HttpResponse:
    """The sessions ahead, and opening new ones: refused with the figures when the stock
    does not cover them."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    initial = {"dose_number": 1, "slot_minutes": 10}
    if request.method == "GET":
        initial |= SessionOpenForm().prefill(request.GET)
    form = SessionOpenForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        shape = {
            "actor": request.actor,
            "site": site,
            "vaccine": data["vaccine"],
            "start_time": data["start_time"],
            "end_time": data["end_time"],
            "lines": data["lines"],
            "slot_minutes": data["slot_minutes"],
            "dose_number": data["dose_number"],
        }
        try:
            if data["date_to"]:
                opened = sessions_open_weekly(
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    weekdays=set(data["weekdays"]),
                    **shape,
                )
            else:
                opened = [session_open(day=data["date_from"], **shape)]
        except DomainError as error:
            _field_error(form, error)
        else:
            messages.success(
                request, _("%(count)s session(s) ouverte(s).") % {"count": len(opened)}
            )
            return redirect("backoffice:sessions", site_id=site.pk)
    return render(
        request,
        "backoffice/sessions.html",
        {
            "site": site,
            "form": form,
            "sessions": site_sessions_ahead(site_id=site.pk, date_from=_site_today(site)),
            "cancels": staff_may(profile=request.staff, permission="session.cancel"),
            "works_days": staff_may(profile=request.staff, permission="day.work"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@staff_view(permission="site.manage")
def session_lines(request: HttpRequest, site_id: int, session_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    session = session_get(site_id=site.pk, session_id=session_id)
    form = LinesForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidInput(_("Le nombre de lignes va de 1 à 100."))
        session_change_lines(
            actor=request.actor, session_id=session.pk, lines=form.cleaned_data["lines"]
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Lignes modifiées."))
    return redirect("backoffice:sessions", site_id=site.pk)


@require_POST
@staff_view(permission="site.manage")
def session_stop(request: HttpRequest, site_id: int, session_id: int) -> HttpResponse:
    """Stop taking bookings; the appointments already booked stay."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    session = session_get(site_id=site.pk, session_id=session_id)
    try:
        released = session_close(actor=request.actor, session_id=session.pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Session fermée aux réservations : %(doses)s doses rendues au stock.")
            % {"doses": released},
        )
    return redirect("backoffice:sessions", site_id=site.pk)


@require_http_methods(["GET", "POST"])
@staff_view(permission="site.manage")
def stock(request: HttpRequest, site_id: int) -> HttpResponse:
    """The ledger per vaccine, what is committed ahead day by day, and the deliveries."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    today = _site_today(site)
    form = DeliveryForm(request.POST or None, initial={"expected_on": today})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            delivery_record(
                actor=request.actor,
                site=site,
                vaccine=data["vaccine"],
                quantity=data["quantity"],
                expected_on=data["expected_on"],
                lot=data["lot"].strip(),
                expires_on=data["expires_on"],
                received_at=timezone.now() if data["received"] else None,
            )
        except DomainError as error:
            _field_error(form, error)
        else:
            messages.success(request, _("Livraison enregistrée."))
            return redirect("backoffice:stock", site_id=site.pk)
    deliveries = site_deliveries(site_id=site.pk)
    return render(
        request,
        "backoffice/stock.html",
        {
            "site": site,
            "form": form,
            "ledger": site_stock(site_id=site.pk),
            "deliveries": deliveries,
            "today": today,
            "soon": today + timedelta(days=14),
            "commitments": site_commitments(site_id=site.pk, date_from=today),
            "cancels": staff_may(profile=request.staff, permission="session.cancel"),
            "works_days": staff_may(profile=request.staff, permission="day.work"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@staff_view(permission="site.manage")
def delivery_change(request: HttpRequest, site_id: int, delivery_id: int) -> HttpResponse:
    """Mark an expected delivery received, or cancel it (refused when its doses are
    already promised to open places)."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    delivery = delivery_get(site_id=site.pk, delivery_id=delivery_id)
    action = request.POST.get("action", "")
    try:
        if action == "receive":
            delivery_receive(
                actor=request.actor, delivery_id=delivery.pk, lot=request.POST.get("lot", "")[:40]
            )
            summary = _("Livraison reçue")
        elif action == "cancel":
            delivery_cancel(actor=request.actor, delivery_id=delivery.pk)
            summary = _("Livraison annulée")
        else:
            raise InvalidInput(_("Action inconnue."))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, summary)
    return redirect("backoffice:stock", site_id=site.pk)
