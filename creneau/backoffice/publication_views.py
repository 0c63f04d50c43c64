"""Publication by department, for the authorities (a regional one: its own departments):
every draft site of a department published at an hour by the worker, scheduled and
cancelled by audited services."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from creneau.core.errors import DomainError
from creneau.geography.selectors import department_timezone
from creneau.sites.selectors import (
    department_publication_board,
    department_publication_get,
    department_publication_list,
    departments_in_scope,
)
from creneau.sites.services import department_publication_cancel, department_publication_schedule
from creneau.staff.access import staff_view

from .campaign_views import _departments
from .phase_forms import DepartmentPublicationForm
from .site_views import _field_error

PUBLICATIONS_SHOWN = 50


@require_http_methods(["GET", "POST"])
@staff_view(permission="publication.manage")
def publications(request: HttpRequest) -> HttpResponse:
    """The departments in scope with their drafts and scheduled hour, a form to schedule
    one, and the publications so far."""
    allowed = _departments(request.staff)
    form = DepartmentPublicationForm(
        request.POST or None,
        departments=[
            (d.code, f"{d.code} {d.name}") for d in departments_in_scope(departments=allowed)
        ],
    )
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["department"]
        # The hour is typed in the department's own time (Réunion's 8 a.m. is its own).
        local = form.cleaned_data["publish_at"]
        publish_at = timezone.make_naive(local).replace(
            tzinfo=department_timezone(department_code=code)
        )
        try:
            department_publication_schedule(
                actor=request.actor, department_code=code, publish_at=publish_at
            )
        except DomainError as error:
            _field_error(form, error)
        else:
            messages.success(
                request,
                _("Publication des lieux du département %(code)s programmée.") % {"code": code},
            )
            return redirect("backoffice:publications")
    return render(
        request,
        "backoffice/publications.html",
        {
            "form": form,
            "board": department_publication_board(departments=allowed),
            "publications": department_publication_list(departments=allowed)[:PUBLICATIONS_SHOWN],
        },
        status=400 if form.errors else 200,
    )


@require_POST
@staff_view(permission="publication.manage")
def publication_cancel(request: HttpRequest, publication_id: int) -> HttpResponse:
    publication = department_publication_get(
        publication_id=publication_id, departments=_departments(request.staff)
    )
    try:
        department_publication_cancel(actor=request.actor, publication_id=publication.pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Publication des lieux du département %(code)s annulée.")
            % {"code": publication.department_id},
        )
    return redirect("backoffice:publications")
