"""Dose allocation (issue 18): an authority reads every site of its scope with its doses
on hand, what its sessions commit over four weeks, its free places and days of cover,
and shares a week's expected deliveries among them in one table form (a formset that
works without JavaScript; htmx only refreshes the totals against the quotas)."""

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from creneau.core.errors import DomainError
from creneau.geography.models import Department
from creneau.scheduling.supply import WINDOW_DAYS, supply_overview
from creneau.sites.models import Site
from creneau.staff.access import staff_view
from creneau.staff.selectors import staff_sites_q
from creneau.vaccines.models import Vaccine
from creneau.vaccines.services import deliveries_allocate

from .campaign_views import _departments
from .onboarding_forms import AllocationForm, AllocationFormSet

FORMSET_PREFIX = "lieux"


@require_http_methods(["GET", "POST"])
@staff_view(permission="doses.allocate")
def allocation(request: HttpRequest) -> HttpResponse:
    allowed = _departments(request.staff)
    departments = Department.objects.order_by("code")
    if allowed is not None:
        departments = departments.filter(code__in=allowed)
    # A department narrows the table (the national authority must pick one: the whole
    # country is not one table).
    chosen = request.GET.get("departement", "")
    if chosen and not departments.filter(code=chosen).exists():
        chosen = ""
    if allowed is None and not chosen:
        return render(
            request,
            "backoffice/allocation/choose.html",
            {"departments": departments},
        )
    sites = (
        Site.objects.filter(staff_sites_q(profile=request.staff))
        .exclude(status=Site.Status.CLOSED)
        .select_related("department", "commune")
        .order_by("department_id", "name", "pk")
    )
    if chosen:
        sites = sites.filter(department_id=chosen)
    today = timezone.localdate()
    vaccines = list(Vaccine.objects.filter(active=True).order_by("name"))
    overview = supply_overview(sites=sites, today=today, vaccines=vaccines)
    names = {row.site.pk: row.site.name for row in overview}
    data = request.POST if request.method == "POST" else None
    head = AllocationForm(
        data,
        vaccines=vaccines,
        initial={"expected_on": today + timedelta(days=7 - today.weekday())},
    )
    rows = AllocationFormSet(
        data,
        prefix=FORMSET_PREFIX,
        initial=[{"site": row.site.pk} for row in overview],
        form_kwargs={"vaccines": vaccines, "site_names": names},
    )
    totals = _totals(rows, vaccines) if data is not None else {}
    if request.htmx and request.GET.get("totaux"):
        head.is_valid()
        return render(
            request,
            "backoffice/allocation/_totals.html",
            {"vaccines": _columns(vaccines, head, totals)},
        )
    status = 200
    if data is not None:
        if head.is_valid() and rows.is_valid():
            lines = [line for form in rows for line in form.lines()]
            try:
                done = deliveries_allocate(
                    actor=request.actor,
                    key=head.cleaned_data["key"],
                    expected_on=head.cleaned_data["expected_on"],
                    quotas=head.quotas(),
                    lines=lines,
                    departments=allowed,
                )
            except DomainError as error:
                head.add_error(None, error.message)
                status = error.status
            else:
                messages.success(
                    request,
                    _(
                        "Répartition enregistrée : %(doses)s doses attendues le %(day)s, "
                        "visibles dès maintenant par les lieux."
                    )
                    % {
                        "doses": sum(d.quantity for d in done.deliveries.all()),
                        "day": done.expected_on.strftime("%d/%m/%Y"),
                    },
                )
                return redirect(request.get_full_path())
        else:
            status = 400
    table = [
        {"supply": row, "form": form, "cells": [form[f"v{v.pk}"] for v in vaccines]}
        for row, form in zip(overview, rows, strict=False)
    ]
    return render(
        request,
        "backoffice/allocation/allocation.html",
        {
            "head": head,
            "rows": rows,
            "table": table,
            "vaccines": _columns(vaccines, head, totals),
            "departments": departments,
            "chosen": chosen,
            "window_days": WINDOW_DAYS,
            "flagged": sum(1 for row in overview if row.short),
        },
        status=status,
    )


def _totals(rows: AllocationFormSet, vaccines: list[Vaccine]) -> dict[int, int]:
    """Each vaccine's total as typed, read leniently (a cell that is not a number counts
    0 here; the formset's validation says so on submit)."""
    totals = {vaccine.pk: 0 for vaccine in vaccines}
    for form in rows.forms:
        for vaccine in vaccines:
            raw = form[f"v{vaccine.pk}"].value()
            try:
                totals[vaccine.pk] += max(0, int(raw or 0))
            except (TypeError, ValueError):
                continue
    return totals


def _columns(vaccines: list[Vaccine], head: AllocationForm, totals: dict[int, int]) -> list[dict]:
    columns = []
    for vaccine in vaccines:
        raw = head[f"quota_{vaccine.pk}"].value()
        try:
            quota = int(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            quota = None
        total = totals.get(vaccine.pk, 0)
        columns.append(
            {
                "vaccine": vaccine,
                "quota_field": head[f"quota_{vaccine.pk}"],
                "total": total,
                "quota": quota,
                "over": total > quota if quota is not None else total > 0,
            }
        )
    return columns
