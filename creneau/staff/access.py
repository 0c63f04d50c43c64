"""The door of every staff page: signed in, a staff profile, and the permission asked;
and the `Actor` that the page's services are given."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse

from creneau.core.actor import Actor
from creneau.core.clients import request_ip
from creneau.core.errors import NotFound
from creneau.staff.refusals import refusal_record
from creneau.staff.selectors import second_factor_required, staff_may, staff_profile_get

USER_AGENT_LENGTH = 200


def actor_from_request(request: HttpRequest, *, profile: models.Model | None = None) -> Actor:
    """Who acts through this request, as the audit log records it (the account may be
    anonymous: a failed sign-in)."""
    return Actor(
        user=request.user,
        profile=profile,
        ip=request_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH],
    )


def second_factor_passed(request: HttpRequest) -> bool:
    """The signed-in account gave its second factor in this session, or needs none
    (django-otp's middleware finds the device of the accepted code in the session; a
    user signed in during this very request has none yet)."""
    verified = getattr(request.user, "otp_device", None) is not None
    return verified or not second_factor_required(user=request.user)


def staff_view(permission: str | None = None):
    """Anonymous visitors go to the staff sign-in, and so does an account that owes its
    second factor (the sign-in page takes it on to the code or the enrolment); an account
    without a staff profile, or without the permission, gets the same 404 as a page that
    does not exist, and so does an object not found in the account's scope (`NotFound`):
    each refusal is audited. The view finds the profile in `request.staff` and the actor
    its services are given in `request.actor`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated or not second_factor_passed(request):
                return redirect_to_login(request.get_full_path())
            profile = staff_profile_get(user=request.user)
            if profile is None or (
                permission is not None and not staff_may(profile=profile, permission=permission)
            ):
                refusal_record(
                    request=request, actor=actor_from_request(request, profile=profile), error=None
                )
                raise Http404
            request.staff = profile
            request.actor = actor_from_request(request, profile=profile)
            try:
                return view(request, *args, **kwargs)
            except NotFound as error:
                refusal_record(request=request, actor=request.actor, error=error)
                raise

        return wrapped

    return decorate
