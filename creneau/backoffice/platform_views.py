"""Other booking platforms (creneau/interop): their feeds' health, registering one, and
confirming a sample of the sites they list that match none of ours. Registering and
confirming are the national authority's (a platform is national, not within a region's
departments); a regional authority sees each feed's health and its figures at the places
in its departments, read-only."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from creneau.core.errors import DomainError, NotFound
from creneau.interop.selectors import (
    platform_confirmed,
    platform_get,
    platform_list,
    platform_region_figures,
    platform_unmatched_count,
    platform_unmatched_sample,
)
from creneau.interop.services import platform_external_sites_confirm, platform_register
from creneau.staff.access import staff_view
from creneau.staff.models import StaffProfile
from creneau.staff.selectors import staff_may


def _region(profile: StaffProfile) -> list[str] | None:
    """The departments whose places a regional authority sees; None for the national one."""
    if staff_may(profile=profile, permission="platforms.manage"):
        return None
    return [department.pk for department in profile.departments.all()]


class PlatformForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nom de la plateforme"), max_length=100)
    manifest_url = forms.CharField(
        label=gettext_lazy("Adresse du manifeste ($bulk-publish)"),
        max_length=500,
        help_text=gettext_lazy("Par exemple https://rdv.example.fr/smart/$bulk-publish"),
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="platforms.read")
def platforms(request: HttpRequest) -> HttpResponse:
    region = _region(request.staff)
    if request.method == "POST" and region is not None:
        raise NotFound(_("Enregistrer une plateforme est réservé à l'autorité nationale."))
    form = PlatformForm(request.POST or None) if region is None else None
    if request.method == "POST" and form.is_valid():
        try:
            platform = platform_register(actor=request.actor, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.details.get("field"), error.message)
        else:
            messages.success(
                request,
                _("Plateforme enregistrée : ses données seront lues au prochain passage."),
            )
            return redirect("backoffice:platform", platform_id=platform.pk)
    now = timezone.now()
    figures = platform_region_figures(departments=region) if region is not None else {}
    rows = [
        (platform, platform_confirmed(platform=platform, now=now), figures.get(platform.pk))
        for platform in platform_list()
        # A regional authority sees the platforms that have places in its departments.
        if region is None or platform.pk in figures
    ]
    return render(
        request,
        "backoffice/platforms.html",
        {"form": form, "rows": rows, "regional": region is not None},
        status=400 if form is not None and form.is_bound and form.errors else 200,
    )


@require_GET
@staff_view(permission="platforms.read")
def platform(request: HttpRequest, platform_id: int) -> HttpResponse:
    platform = platform_get(platform_id=platform_id)
    region = _region(request.staff)
    figures = None
    if region is not None:
        # Outside its departments, a platform is "not found" for a regional authority, as
        # a site of another region is.
        figures = platform_region_figures(departments=region).get(platform.pk)
        if figures is None:
            raise NotFound(_("Plateforme introuvable : %(id)s.") % {"id": platform_id})
    return render(
        request,
        "backoffice/platform.html",
        {
            "platform": platform,
            "confirmed": platform_confirmed(platform=platform, now=timezone.now()),
            "unmatched": platform_unmatched_count(platform_id=platform.pk, departments=region),
            "sample": platform_unmatched_sample(platform_id=platform.pk, departments=region),
            "regional": region is not None,
            "figures": figures,
        },
    )


@require_POST
@staff_view(permission="platforms.manage")
def platform_confirm(request: HttpRequest, platform_id: int) -> HttpResponse:
    platform = platform_get(platform_id=platform_id)
    try:
        shown = platform_external_sites_confirm(actor=request.actor, platform_id=platform.pk)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("%(count)d lieux externes seront montrés dans la recherche.") % {"count": shown},
        )
    return redirect("backoffice:platform", platform_id=platform.pk)
