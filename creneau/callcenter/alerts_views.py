"""Alerts for a caller: the agent subscribes them (the mobile or e-mail read back to them,
no code: the agent is the check, and alert_subscribe records it), finds the alerts that the
caller's phone or e-mail has (the look audited, the number sealed) and stops one
(alert_stop, a staff action)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from creneau.alerts.selectors import caller_subscriptions
from creneau.alerts.services import alert_stop, alert_subscribe
from creneau.audit.services import audit_record, audit_sealed
from creneau.core.errors import InvalidInput
from creneau.portal.alerts_forms import AlertForm, AlertsManageForm, draft_arguments
from creneau.staff.access import staff_view

from .wishes import caller_wishes_save

# The prefix of the form that finds a caller's alerts (a GET, like the caller search).
LOOKUP = "appelant"


@require_http_methods(["GET", "POST"])
@staff_view(permission="callcentre.book")
def alerts(request: HttpRequest) -> HttpResponse:
    form = AlertForm(request.POST or None)
    status = 400
    if request.method == "POST" and form.is_valid():
        refused = caller_wishes_save(
            request, form=form, service=alert_subscribe, arguments=draft_arguments
        )
        if refused is None:
            messages.success(
                request,
                _("L'alerte de %(name)s est créée pour 30 jours ; un message le confirme.")
                % {"name": form.cleaned_data["given_name"]},
            )
            return redirect("callcenter:alerts")
        # The refusal's own status (409: the caller has this alert already).
        status = refused
    looked = any(key.startswith(f"{LOOKUP}-") for key in request.GET)
    lookup = AlertsManageForm(request.GET if looked else None, prefix=LOOKUP)
    found = None
    if lookup.is_bound and lookup.is_valid():
        given = lookup.contact_given()
        try:
            found = caller_subscriptions(**given)
        except InvalidInput as error:
            lookup.contact_error(error)
        else:
            audit_record(
                actor=request.actor,
                action="view",
                object_type="alerts.subscription",
                summary=_("Alertes de l'appelant : %(count)s") % {"count": len(found)},
                details={
                    "query": audit_sealed(next(iter(given.values()))),
                    "subscriptions": [subscription.pk for subscription in found],
                },
            )
    return render(
        request,
        "callcenter/alerts.html",
        {"form": form, "lookup": lookup, "found": found},
        status=status if form.errors or lookup.errors else 200,
    )


@require_POST
@staff_view(permission="callcentre.book")
def stop(request: HttpRequest, subscription_id: int) -> HttpResponse:
    if alert_stop(actor=request.actor, subscription_id=subscription_id):
        messages.success(request, _("Alerte arrêtée : l'appelant ne recevra plus ses messages."))
    else:
        messages.error(request, _("Cette alerte était déjà arrêtée ou terminée : rien n'a changé."))
    return redirect("callcenter:alerts")
