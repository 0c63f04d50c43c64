"""Leftover doses at a site: declared by its staff (a staff action, audited by its
service), then the offers' board (who was offered, who accepted and when they arrive,
what is still free: a look at personal data, audited), and taking them back."""

from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from creneau.audit.services import audit_record
from creneau.core.errors import DomainError
from creneau.geography.selectors import department_timezone
from creneau.staff.access import staff_view
from creneau.staff.selectors import staff_may, staff_site_get
from creneau.vaccines.selectors import site_lots, site_stock
from creneau.waitlist.models import Offer
from creneau.waitlist.selectors import (
    leftover_board,
    leftover_dose2_cover,
    site_dose2_covers,
    site_leftovers,
)
from creneau.waitlist.services import leftover_cancel, leftover_declare

from .site_views import _field_error
from .waitlist_forms import LeftoverForm


def _nav(request: HttpRequest) -> dict:
    return {
        "manages": staff_may(profile=request.staff, permission="site.manage"),
        "cancels": staff_may(profile=request.staff, permission="session.cancel"),
    }


@require_http_methods(["GET", "POST"])
@staff_view(permission="day.work")
def leftovers(request: HttpRequest, site_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    tz = department_timezone(department_code=site.department_id)
    today = timezone.localtime(timezone=tz).date()
    lots = sorted(
        {lot for found in site_lots(site_id=site.pk, today=today).values() for lot in found}
    )
    form = LeftoverForm(request.POST or None, lots=lots)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            leftover = leftover_declare(
                actor=request.actor,
                site=site,
                vaccine=data["vaccine"],
                lot=data["lot"],
                doses=data["doses"],
                until=datetime.combine(today, data["until"], tzinfo=tz),
            )
        except DomainError as error:
            _field_error(form, error)
        else:
            messages.success(
                request,
                _("%(count)d personne(s) prévenue(s).") % {"count": leftover.offers.count()},
            )
            cover = leftover_dose2_cover(leftover=leftover, now=timezone.now())
            if cover is not None and cover.places < leftover.doses:
                messages.warning(
                    request,
                    _(
                        "Sur %(doses)d dose(s) déclarée(s), %(places)d seulement peuvent être "
                        "proposée(s) pour l'instant, faute de places de seconde dose ici dans "
                        "l'intervalle : voir ci-dessous."
                    )
                    % {"doses": leftover.doses, "places": cover.places},
                )
            return redirect("backoffice:leftover", site_id=site.pk, leftover_id=leftover.pk)
    return render(
        request,
        "backoffice/leftovers.html",
        {
            "site": site,
            "form": form,
            "leftovers": site_leftovers(site_id=site.pk),
            "covers": site_dose2_covers(
                site=site,
                vaccine_ids=[stock.vaccine_id for stock in site_stock(site_id=site.pk)],
                day=today,
                now=timezone.now(),
            ),
            **_nav(request),
        },
        status=400 if form.errors else 200,
    )


@require_GET
@staff_view(permission="day.work")
def leftover(request: HttpRequest, site_id: int, leftover_id: int) -> HttpResponse:
    """The board, refreshed by htmx every 30 s (or the button without JavaScript)."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    board = leftover_board(site_id=site.pk, leftover_id=leftover_id)
    audit_record(
        actor=request.actor,
        action="view",
        obj=board.leftover,
        site=site,
        summary=_("Doses restantes : %(count)s personne(s) prévenue(s)")
        % {"count": len(board.offers)},
        details={"offers": [offer.pk for offer in board.offers]},
    )
    context = {
        "site": site,
        "board": board,
        "Status": Offer.Status,
        **_nav(request),
    }
    template = "backoffice/_leftover_board.html" if request.htmx else "backoffice/leftover.html"
    return render(request, template, context)


@require_POST
@staff_view(permission="day.work")
def leftover_stop(request: HttpRequest, site_id: int, leftover_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    try:
        leftover_cancel(actor=request.actor, site_id=site.pk, leftover_id=leftover_id)
    except DomainError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
    else:
        messages.success(request, _("Les doses ne sont plus proposées."))
    return redirect("backoffice:leftover", site_id=site.pk, leftover_id=leftover_id)
