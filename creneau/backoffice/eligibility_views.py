"""The national authority's eligibility phases: the rules listed, added, changed and
scheduled, and the sites' restrictions to some categories. Each change is previewed
first (the bookings to come it would no longer allow, who it opens to in the imported
population), then saved by one audited service."""

from copy import copy
from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from creneau.booking.selectors import bookings_refused_by
from creneau.campaigns.selectors import population_opened
from creneau.core.errors import DomainError, PastUnconfirmed
from creneau.core.inputs import id_parse
from creneau.eligibility.models import EligibilityRule
from creneau.eligibility.selectors import (
    category_labels,
    rule_draft_check,
    rule_get,
    rule_list,
    rules_overlapping,
    rules_proposed,
    rules_saved,
)
from creneau.eligibility.services import rule_create, rule_update, site_restriction_set
from creneau.staff.access import staff_view
from creneau.staff.selectors import staff_site_get

from .phase_forms import RestrictionForm, RuleForm
from .site_views import _field_error


@require_http_methods(["GET"])
@staff_view(permission="eligibility.manage")
def rules(request: HttpRequest) -> HttpResponse:
    """Every rule, latest opening first, with where it stands now."""
    now = timezone.now()
    listed = [(rule, _rule_state(rule, now)) for rule in rule_list()]
    return render(request, "backoffice/eligibility/rules.html", {"rules": listed})


@require_http_methods(["GET", "POST"])
@staff_view(permission="eligibility.manage")
def rule_new(request: HttpRequest) -> HttpResponse:
    return _rule_page(request, rule=None)


@require_http_methods(["GET", "POST"])
@staff_view(permission="eligibility.manage")
def rule_change(request: HttpRequest, rule_id: int) -> HttpResponse:
    return _rule_page(request, rule=rule_get(rule_id=rule_id))


def _rule_page(request: HttpRequest, *, rule: EligibilityRule | None) -> HttpResponse:
    """POST `action=preview` shows what the rules as typed would do; `action=save`
    (offered on the preview) saves them. A date already past asks for the box."""
    initial = RuleForm.initial_of(rule) if rule else None
    form = RuleForm(request.POST or None, initial=initial)
    preview = None
    # The box to confirm a past date is offered once a date turned out to be past.
    asks_confirmation = bool(request.POST.get("past_confirmed"))
    action = request.POST.get("action")
    if request.method == "POST" and form.is_valid():
        draft = form.draft()
        confirmed = form.cleaned_data["past_confirmed"]
        try:
            if action == "save":
                saved = (
                    rule_update(
                        actor=request.actor, rule_id=rule.pk, draft=draft, past_confirmed=confirmed
                    )
                    if rule
                    else rule_create(actor=request.actor, draft=draft, past_confirmed=confirmed)
                )
                messages.success(
                    request,
                    _("Règle « %(name)s » enregistrée. Les rendez-vous déjà pris restent.")
                    % {"name": saved.name},
                )
                return redirect("backoffice:eligibility_rules")
            preview = _rule_preview(rule=rule, form=form, confirmed=confirmed)
        except DomainError as error:
            asks_confirmation |= isinstance(error, PastUnconfirmed)
            _field_error(form, error)
    return render(
        request,
        "backoffice/eligibility/rule.html",
        {
            "rule": rule,
            "form": form,
            "preview": preview,
            "asks_confirmation": asks_confirmation,
        },
        status=400 if form.errors else 200,
    )


def _rule_preview(*, rule: EligibilityRule | None, form: RuleForm, confirmed: bool) -> dict:
    now = timezone.now()
    draft = form.draft()
    # A copy: the preview checks and shows the rule as typed, and saves nothing.
    checked = rule_draft_check(
        draft=draft, rule=copy(rule) if rule else None, past_confirmed=confirmed, now=now
    )
    before = rules_saved()
    after = rules_proposed(
        rule=checked, categories=draft.categories, vaccine_ids=draft.vaccine_ids, base=before
    )
    at = max(now, checked.effective_from)
    return {
        "at": at,
        "refused": bookings_refused_by(before=before, after=after, now=now),
        "opened": population_opened(before=before, after=after, at=at),
        "overlapping": rules_overlapping(rule=checked, rules=after) if checked.active else [],
        "categories": category_labels(codes=draft.categories),
    }


def _rule_state(rule: EligibilityRule, now: datetime) -> str:
    """Where a rule stands: inactive, scheduled, ended or in force (the badge's word)."""
    if not rule.active:
        return "inactive"
    if rule.effective_from > now:
        return "scheduled"
    if rule.effective_until is not None and rule.effective_until <= now:
        return "ended"
    return "in_force"


@require_http_methods(["GET", "POST"])
@staff_view(permission="eligibility.manage")
def site_restriction(request: HttpRequest) -> HttpResponse:
    """A site's restriction to some categories: the site asked by its number (`?lieu=`),
    the categories ticked, previewed (the bookings to come it would no longer allow),
    then saved (`action=save`, offered on the preview)."""
    site = preview = None
    asked = request.POST.get("site") or request.GET.get("lieu")
    form = RestrictionForm(request.POST or None)
    try:
        if asked:
            site = staff_site_get(
                profile=request.staff,
                site_id=id_parse(asked, message=_("Numéro de lieu invalide.")),
            )
            if request.method == "GET":
                form = RestrictionForm(initial={"site": site.pk, "categories": site.restricted_to})
        if request.method == "POST" and form.is_valid() and site is not None:
            categories = form.cleaned_data["categories"]
            if request.POST.get("action") == "save":
                site_restriction_set(actor=request.actor, site_id=site.pk, categories=categories)
                messages.success(
                    request,
                    _("Restriction du lieu « %(name)s » enregistrée.") % {"name": site.name},
                )
                return redirect("backoffice:eligibility_rules")
            rules = rules_saved()
            preview = {
                "refused": bookings_refused_by(
                    before=rules,
                    after=rules,
                    now=timezone.now(),
                    restrictions={site.pk: list(categories)},
                ),
                "categories": category_labels(codes=categories),
            }
    except DomainError as error:
        if not form.is_bound:  # a site number in the address that names none
            form = RestrictionForm({"site": asked})
            form.is_valid()
        _field_error(form, error)
    return render(
        request,
        "backoffice/eligibility/restriction.html",
        {"form": form, "site": site, "preview": preview},
        status=400 if form.errors else 200,
    )
