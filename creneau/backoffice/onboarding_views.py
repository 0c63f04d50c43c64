"""Sites joining: the applications of an authority's departments (approve, or refuse with
a reason), a site's team (invite, take off the site), a site that vaccinates without
appointments online yet, and the invitation link that lets a new account choose its
password. Each view checks the scope first, then calls one service, audited."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from creneau.audit.services import audit_record
from creneau.core.errors import DomainError, InvalidInput
from creneau.onboarding.models import Application, SiteWithoutSlots
from creneau.onboarding.selectors import application_get, application_list, site_team
from creneau.onboarding.services import (
    application_approve,
    application_refuse,
    invitation_accept,
    invitation_check,
    site_without_slots_set,
    staff_invite,
    staff_remove,
)
from creneau.staff.access import staff_view
from creneau.staff.selectors import staff_may, staff_site_get

from .campaign_views import _departments
from .onboarding_forms import InvitationPasswordForm, InviteForm, RefusalForm, WithoutSlotsForm
from .site_views import _field_error

# Session key: the invitation link's token, out of the address bar once opened.
INVITATION_TOKEN = "staff_invitation_token"


@require_http_methods(["GET"])
@staff_view(permission="sites.onboard")
def applications(request: HttpRequest) -> HttpResponse:
    """The applications waiting in the authority's departments, and the last decided."""
    allowed = _departments(request.staff)
    return render(
        request,
        "backoffice/onboarding/applications.html",
        {
            "pending": application_list(departments=allowed),
            "approved": application_list(
                departments=allowed, status=Application.Status.APPROVED
            ).reverse()[:20],
            "refused": application_list(
                departments=allowed, status=Application.Status.REFUSED
            ).reverse()[:20],
        },
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="sites.onboard")
def application(request: HttpRequest, application_id: int) -> HttpResponse:
    """One application: who applies (personal data: the look is audited), approve, or
    refuse with a reason."""
    allowed = _departments(request.staff)
    found = application_get(departments=allowed, application_id=application_id)
    form = RefusalForm(request.POST if request.POST.get("action") == "refuse" else None)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "approve":
            try:
                done = application_approve(
                    actor=request.actor, application_id=found.pk, departments=allowed
                )
            except DomainError as error:
                messages.error(request, error.message)
                return _application_page(request, found, form, status=error.status)
            messages.success(
                request,
                _("Demande acceptée : %(name)s est créé en brouillon, son responsable est invité.")
                % {"name": done.name},
            )
            return redirect("backoffice:application", application_id=found.pk)
        if action != "refuse":
            messages.error(request, _("Action inconnue."))
            return _application_page(request, found, form, status=400)
        if form.is_valid():
            try:
                application_refuse(
                    actor=request.actor,
                    application_id=found.pk,
                    reason=form.cleaned_data["reason"],
                    departments=allowed,
                )
            except DomainError as error:
                _field_error(form, error)
                return _application_page(request, found, form, status=error.status)
            messages.success(request, _("Demande refusée ; le demandeur est prévenu."))
            return redirect("backoffice:applications")
        return _application_page(request, found, form, status=400)
    audit_record(
        actor=request.actor,
        action="view",
        obj=found,
        department=found.department,
        summary=_("Demande d'adhésion consultée : %(name)s") % {"name": found.name},
    )
    return _application_page(request, found, form, status=200)


def _application_page(request, found: Application, form: RefusalForm, *, status: int):
    return render(
        request,
        "backoffice/onboarding/application.html",
        {"application": found, "form": form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@staff_view(permission="staff.manage")
def team(request: HttpRequest, site_id: int) -> HttpResponse:
    """A site's staff and managers, and inviting someone."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = staff_invite(
                actor=request.actor,
                site=site,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except DomainError as error:
            _field_error(form, error)
        else:
            said = (
                _("Invitation envoyée à %(email)s.")
                if invitation
                else _("%(email)s a déjà un accès : le lieu y est ajouté.")
            )
            messages.success(request, said % {"email": form.cleaned_data["email"]})
            return redirect("backoffice:team", site_id=site.pk)
    members = site_team(site=site)
    audit_record(
        actor=request.actor,
        action="view",
        object_type="staff.team",
        object_id=site.pk,
        site=site,
        summary=_("Équipe du lieu consultée"),
    )
    return render(
        request,
        "backoffice/onboarding/team.html",
        {
            "site": site,
            "form": form,
            "members": members,
            "manages": staff_may(profile=request.staff, permission="site.manage"),
            "works_days": staff_may(profile=request.staff, permission="day.work"),
            "cancels": staff_may(profile=request.staff, permission="session.cancel"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@staff_view(permission="staff.manage")
def team_remove(request: HttpRequest, site_id: int, user_id: int) -> HttpResponse:
    site = staff_site_get(profile=request.staff, site_id=site_id)
    try:
        staff_remove(actor=request.actor, site=site, user_id=user_id)
    except InvalidInput as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Retiré(e) de l'équipe du lieu."))
    return redirect("backoffice:team", site_id=site.pk)


@require_http_methods(["GET", "POST"])
@staff_view(permission="site.manage")
def without_slots(request: HttpRequest, site_id: int) -> HttpResponse:
    """The site says it vaccinates without appointments online yet, or no longer."""
    site = staff_site_get(profile=request.staff, site_id=site_id)
    declared = SiteWithoutSlots.objects.filter(site=site).exists()
    form = WithoutSlotsForm(
        request.POST if request.method == "POST" else None, initial={"without_slots": declared}
    )
    if request.method == "POST" and form.is_valid():
        site_without_slots_set(
            actor=request.actor, site=site, without_slots=form.cleaned_data["without_slots"]
        )
        messages.success(request, _("Enregistré."))
        return redirect("backoffice:without_slots", site_id=site.pk)
    return render(
        request,
        "backoffice/onboarding/without_slots.html",
        {
            "site": site,
            "form": form,
            "manages": True,
            "works_days": staff_may(profile=request.staff, permission="day.work"),
            "cancels": staff_may(profile=request.staff, permission="session.cancel"),
        },
    )


@require_http_methods(["GET"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link: checked (404 unknown, 409 used, 410 expired), then kept in the
    session and taken out of the address bar (history, Referer), as Django's password
    reset does."""
    invitation_check(token=token)
    request.session[INVITATION_TOKEN] = token
    return redirect("backoffice:invitation_password")


@require_http_methods(["GET", "POST"])
def invitation_password(request: HttpRequest) -> HttpResponse:
    token = request.session.get(INVITATION_TOKEN, "")
    found = invitation_check(token=token)
    form = InvitationPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept(
                token=token,
                password=form.cleaned_data["password"],
                password_again=form.cleaned_data["password_again"],
            )
        except InvalidInput as error:
            _field_error(form, error)
        else:
            del request.session[INVITATION_TOKEN]
            messages.success(
                request,
                _("Mot de passe enregistré. Connectez-vous avec l'identifiant %(username)s.")
                % {"username": user.get_username()},
            )
            return redirect("backoffice:login")
    return render(
        request,
        "backoffice/onboarding/invitation.html",
        {"form": form, "invitation": found},
        status=400 if form.errors else 200,
    )
