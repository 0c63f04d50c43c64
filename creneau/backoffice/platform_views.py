"""Other booking platforms (creneau/interop): their feeds' health, registering one, and
confirming a sample of the sites they list that match none of ours. For the national
authority: a platform is national, not within a region's departments."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from creneau.core.errors import DomainError
from creneau.interop.selectors import (
    platform_confirmed,
    platform_get,
    platform_list,
    platform_unmatched_count,
    platform_unmatched_sample,
)
from creneau.interop.services import platform_external_sites_confirm, platform_register
from creneau.staff.access import staff_view


class PlatformForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Nom de la plateforme"), max_length=100)
    manifest_url = forms.CharField(
        label=gettext_lazy("Adresse du manifeste ($bulk-publish)"),
        max_length=500,
        help_text=gettext_lazy("Par exemple https://rdv.example.fr/smart/$bulk-publish"),
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="platforms.manage")
def platforms(request: HttpRequest) -> HttpResponse:
    form = PlatformForm(request.POST or None)
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
    rows = [
        (platform, platform_confirmed(platform=platform, now=now)) for platform in platform_list()
    ]
    return render(
        request,
        "backoffice/platforms.html",
        {"form": form, "rows": rows},
        status=400 if form.is_bound and form.errors else 200,
    )


@require_GET
@staff_view(permission="platforms.manage")
def platform(request: HttpRequest, platform_id: int) -> HttpResponse:
    platform = platform_get(platform_id=platform_id)
    return render(
        request,
        "backoffice/platform.html",
        {
            "platform": platform,
            "confirmed": platform_confirmed(platform=platform, now=timezone.now()),
            "unmatched": platform_unmatched_count(platform_id=platform.pk),
            "sample": platform_unmatched_sample(platform_id=platform.pk),
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
