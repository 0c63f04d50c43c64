"""The door of every staff page: signed in, a staff profile, and the permission asked."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from creneau.staff.selectors import staff_may, staff_profile_get


def staff_view(permission: str | None = None):
    """Anonymous visitors go to the staff sign-in; an account without a staff profile, or
    without the permission, gets the same 404 as a page that does not exist. The view
    finds the profile in `request.staff`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            profile = staff_profile_get(user=request.user)
            if profile is None or (
                permission is not None and not staff_may(profile=profile, permission=permission)
            ):
                raise Http404
            request.staff = profile
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
