"""Django's admin behind the staff door: the same sign-in, throttles and second factor as
the back office, never a door of its own."""

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite


class StaffDoorAdminSite(OTPAdminSite):
    """OTPAdminSite lets in only a session that gave its second factor; its sign-in page
    is the back office's (which sends an account without an app to the enrolment)."""

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        wanted = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        return redirect(f"{reverse('backoffice:login')}?{urlencode({'next': wanted})}")


def admin_site_secure() -> None:
    """Turn the default admin site, where every app registered its models, into one."""
    admin.site.__class__ = StaffDoorAdminSite
