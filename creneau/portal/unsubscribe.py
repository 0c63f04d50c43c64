"""The unsubscribe link of reminders and invitations (`/desinscription/<signed key>/`).

Following it shows what it does and a button: a mail client's link checker or a
prefetching proxy fetches the page but never unsubscribes anyone. The button's POST, and
the one-click POST a mail client sends from the e-mail's List-Unsubscribe header (RFC
8058, without our CSRF cookie), record the opt-out: the signed key is what authorises
it, and it can only ever stop reminders and invitations to one address."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from creneau.outreach.rendering import unsubscribe_token_read
from creneau.outreach.services import optout_by_link


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        optout_by_link(token=token)  # a refusal is a 400 page (portal.middleware)
        return render(request, "portal/unsubscribe.html", {"done": True})
    valid = unsubscribe_token_read(token) is not None
    context = {"done": False, "valid": valid}
    return render(request, "portal/unsubscribe.html", context, status=200 if valid else 400)
