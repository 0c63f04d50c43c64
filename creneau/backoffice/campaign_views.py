"""The authorities' invitation campaigns: the population upload, campaigns defined,
previewed, started, paused, resumed and stopped. A regional authority works on its own
departments; the national one on every department. Each change is one audited service."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from creneau.audit.services import audit_record
from creneau.campaigns.models import PopulationImport
from creneau.campaigns.selectors import (
    campaign_get,
    campaign_list,
    campaign_preview,
    campaign_progress,
    invitation_preview,
    invitee_sample,
)
from creneau.campaigns.services import (
    campaign_create,
    campaign_status_change,
    campaign_update,
    population_import,
)
from creneau.core.errors import DomainError
from creneau.staff.access import staff_view
from creneau.staff.models import StaffProfile

from .campaign_forms import CampaignForm, PopulationForm
from .site_views import _field_error

REJECTIONS_SHOWN = 20


def _departments(profile: StaffProfile) -> list[str] | None:
    """The departments an authority covers; None for the national one (every one)."""
    if profile.role == StaffProfile.Role.NATIONAL_AUTHORITY:
        return None
    return [department.pk for department in profile.departments.all()]


# CSRF's check reads the form, so it would store a whole 2 GB body before the view could
# refuse it: the length is judged first, then the check runs (`_population`).
@csrf_exempt
@require_http_methods(["GET", "POST"])
@staff_view(permission="campaigns.manage")
def population(request: HttpRequest) -> HttpResponse:
    """The extract uploaded: its counts and its first rejected lines. A body over the
    limit is refused from its announced length, before anything of it is read."""
    limit = settings.POPULATION_IMPORT_MAX_BYTES
    if request.method == "POST" and int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        messages.error(
            request, _("Fichier trop gros : au plus %(max)s Mo.") % {"max": limit // 2**20}
        )
        return _population_page(request, form=PopulationForm(), report=None, status=413)
    return _population(request)


@csrf_protect
def _population(request: HttpRequest) -> HttpResponse:
    form = PopulationForm()
    report = None
    if request.method == "POST":
        form = PopulationForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = population_import(
                    stream=upload.file,
                    file_name=upload.name,
                    actor=request.actor,
                    departments=_departments(request.staff),
                )
            except DomainError as error:
                _field_error(form, error)
    return _population_page(request, form=form, report=report, status=400 if form.errors else 200)


def _population_page(
    request: HttpRequest, *, form: PopulationForm, report: PopulationImport | None, status: int
) -> HttpResponse:
    return render(
        request,
        "backoffice/campaigns/population.html",
        {
            "form": form,
            "report": report,
            "rejections": report.rejections[:REJECTIONS_SHOWN] if report else [],
            "imports": PopulationImport.objects.all()[:10]
            if _departments(request.staff) is None
            else [],
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="campaigns.manage")
def campaigns(request: HttpRequest) -> HttpResponse:
    """The campaigns in scope, and a new one."""
    allowed = _departments(request.staff)
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_create(actor=request.actor, data=form.data_built(), allowed=allowed)
        except DomainError as error:
            _field_error(form, error)
        else:
            messages.success(request, _("Campagne enregistrée, en préparation."))
            return redirect("backoffice:campaign", campaign_id=campaign.pk)
    return render(
        request,
        "backoffice/campaigns/list.html",
        {"campaigns": campaign_list(departments=allowed), "form": form},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="campaigns.manage")
def campaign(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """One campaign: its figures per department, its preview before it starts (counts per
    department and channel, the message on a real invitee), its settings."""
    allowed = _departments(request.staff)
    found = campaign_get(campaign_id=campaign_id, departments=allowed)
    form = CampaignForm(request.POST or None, initial=CampaignForm.initial_of(found))
    if request.method == "POST" and form.is_valid():
        try:
            campaign_update(
                actor=request.actor, campaign_id=found.pk, data=form.data_built(), allowed=allowed
            )
        except DomainError as error:
            _field_error(form, error)
        else:
            messages.success(request, _("Campagne modifiée."))
            return redirect("backoffice:campaign", campaign_id=found.pk)
    preview = sample = message = None
    if found.status == found.Status.DRAFT:
        preview = sorted(campaign_preview(campaign=found).items())
        sample = invitee_sample(campaign=found)
        if sample is not None:
            message = invitation_preview(campaign=found, invitee=sample)
            # The sample's name is personal data shown to staff: the look is audited.
            audit_record(
                actor=request.actor,
                action="view",
                obj=sample,
                summary=_("Aperçu du message de la campagne %(name)s") % {"name": found.name},
            )
    return render(
        request,
        "backoffice/campaigns/campaign.html",
        {
            "campaign": found,
            "form": form,
            "progress": campaign_progress(campaign=found),
            "preview": preview,
            "message": message,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@staff_view(permission="campaigns.manage")
def campaign_status(request: HttpRequest, campaign_id: int) -> HttpResponse:
    found = campaign_get(campaign_id=campaign_id, departments=_departments(request.staff))
    try:
        campaign_status_change(
            actor=request.actor, campaign_id=found.pk, action=request.POST.get("action", "")
        )
    except DomainError as error:
        return render(
            request,
            "backoffice/campaigns/refused.html",
            {"campaign": found, "message": error.message},
            status=error.status,
        )
    messages.success(request, _("C'est fait."))
    return redirect("backoffice:campaign", campaign_id=found.pk)
