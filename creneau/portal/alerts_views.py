"""The alerts' public pages: subscribing (the contact verified by a code, as for a booking
or the waiting list, or already verified in this session), a verified contact's alerts
and their "stop" buttons, and the link of every alert, whose key is in the fragment
(`/alertes/arreter/#cle=…`): portal.js posts it, so no log sees it. Each view reads its
input, calls one alerts service, renders."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from creneau.admission.limits import limit_hit
from creneau.alerts.selectors import contact_subscriptions, stop_link_read
from creneau.alerts.services import alert_subscribe, alert_wishes_check, alerts_stop
from creneau.booking.models import Contact
from creneau.core.errors import DomainError, InvalidInput, TooManyRequests
from creneau.core.inputs import id_parse

from .alerts_forms import AlertForm, AlertsManageForm, draft_arguments
from .views import _code_step, _redirects, _session_contact, _verification_send, _wishes_step

# Session key: the alert typed (or only the wish to manage) while its code is on its way.
ALERTS = "portal_alerts"


def _page(request: HttpRequest, *, form: AlertForm, contact: Contact | None, status: int = 200):
    return render(
        request,
        "portal/alerts.html",
        {
            "form": form,
            "contact": contact,
            "subscriptions": contact_subscriptions(contact=contact) if contact else [],
            "manage_form": AlertsManageForm(prefix="gerer") if contact is None else None,
        },
        status=status,
    )


@_redirects
@require_http_methods(["GET", "POST"])
def alerts(request: HttpRequest) -> HttpResponse:
    contact = _session_contact(request)
    form = AlertForm(request.POST or None, contact_known=contact is not None)
    if request.method == "POST" and form.is_valid():
        answer = _wishes_step(
            request,
            form=form,
            contact=contact,
            check=lambda: alert_wishes_check(**form.wishes()),
            done=lambda verified, draft: _subscribe(
                request, contact=verified, draft=draft, form=form
            ),
            state_key=ALERTS,
            code_page="portal:alerts_code",
        )
        if answer is not None:
            return answer
    return _page(request, form=form, contact=contact, status=400 if form.errors else 200)


def _subscribe(
    request: HttpRequest, *, contact: Contact, draft: dict, form: AlertForm | None = None
) -> HttpResponse:
    try:
        limit_hit(name="bookings_per_contact", key=str(contact.pk))
        alert_subscribe(contact=contact, **draft_arguments(draft))
    except DomainError as error:
        if form is not None:
            form.refusal(error)
            return _page(request, form=form, contact=contact, status=error.status)
        messages.error(request, error.message)
        return redirect("portal:alerts")
    request.session.pop(ALERTS, None)
    messages.success(
        request, _("C'est fait : votre alerte est créée pour 30 jours. Un message le confirme.")
    )
    return redirect("portal:alerts")


@require_http_methods(["POST"])
def manage(request: HttpRequest) -> HttpResponse:
    """ "Déjà une alerte ?": a code to the phone or e-mail, then the alerts it has."""
    form = AlertsManageForm(request.POST, prefix="gerer")
    if form.is_valid():
        try:
            verification = _verification_send(request, **form.contact_given())
        except (InvalidInput, TooManyRequests) as error:
            form.contact_error(error)
        else:
            request.session[ALERTS] = {"draft": None, "verification": verification}
            return redirect("portal:alerts_code")
    return render(
        request,
        "portal/alerts.html",
        {"form": AlertForm(), "contact": None, "subscriptions": [], "manage_form": form},
        status=400,
    )


@_redirects
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    state = request.session.get(ALERTS)
    if not state:
        return redirect("portal:alerts")

    def verified(contact: Contact) -> HttpResponse:
        if state["draft"] is None:
            request.session.pop(ALERTS, None)
            return redirect("portal:alerts")
        return _subscribe(request, contact=contact, draft=state["draft"])

    return _code_step(
        request,
        state=state,
        verified=verified,
        again="portal:alerts_code",
        context=lambda: {"managing": True},
    )


@require_http_methods(["POST"])
def stop(request: HttpRequest) -> HttpResponse:
    """A verified contact stops one of its own alerts (another's id: nothing stops)."""
    contact = _session_contact(request)
    if contact is None:
        messages.error(request, _("Recevez d'abord un code pour gérer vos alertes."))
        return redirect("portal:alerts")
    subscription_id = id_parse(
        request.POST.get("subscription"), message=_("Cette alerte n'existe pas.")
    )
    if alerts_stop(subscription_ids=[subscription_id], contact=contact):
        messages.success(request, _("Alerte arrêtée."))
    return redirect("portal:alerts")


@require_http_methods(["GET", "POST"])
def stop_link(request: HttpRequest) -> HttpResponse:
    """The link in every alert. GET: a page whose script posts the fragment's key;
    without JavaScript it offers a code instead. POST: those alerts stop."""
    if request.method == "POST":
        try:
            ids = stop_link_read(token=request.POST.get("cle", ""))
        except DomainError as error:
            return render(
                request, "portal/alerts_stopped.html", {"error": error.message}, status=400
            )
        stopped = alerts_stop(subscription_ids=ids)
        return render(request, "portal/alerts_stopped.html", {"stopped": stopped})
    return render(request, "portal/alerts_stop.html")
