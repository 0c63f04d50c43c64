"""The staff door, shared by the back office, the call centre and Django's admin: the
password, then the second factor (or its enrolment at the first sign-in), the recovery
codes, sign-out and the password reset by e-mail. docs/architecture.md "The staff door"."""

from base64 import b32encode
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from creneau.admission.limits import limit_hit
from creneau.audit.services import audit_record
from creneau.core.clients import network_key, request_ip
from creneau.core.errors import DomainError, TooManyRequests
from creneau.staff.access import actor_from_request, second_factor_passed
from creneau.staff.selectors import recovery_codes_left, second_factor_enrolled
from creneau.staff.services import (
    login_success_record,
    recovery_codes_renew,
    second_factor_verify,
    totp_device_confirm,
    totp_device_start,
)

from .forms import (
    EnrolForm,
    SecondFactorForm,
    StaffLoginForm,
    StaffPasswordResetForm,
    StaffSetPasswordForm,
)

# Where the recovery codes wait, between the enrolment's POST and the page that shows
# them once.
CODES_KEY = "staff_recovery_codes"


def _next_url(request: HttpRequest) -> str:
    """The page asked before the sign-in, if it is one of ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _second_factor_step(request: HttpRequest) -> HttpResponse:
    """The code page for an enrolled account, the enrolment for one without an app."""
    step = (
        "backoffice:second_factor"
        if second_factor_enrolled(user=request.user)
        else "backoffice:second_factor_enrol"
    )
    return redirect(_with_next(step, _next_url(request)))


def _signed_in(request: HttpRequest) -> None:
    """The whole sign-in passed (the password, and the code when one is asked)."""
    login_success_record(username=request.user.get_username())
    audit_record(actor=actor_from_request(request), action="login")


class StaffLoginView(auth_views.LoginView):
    template_name = "backoffice/login.html"
    authentication_form = StaffLoginForm
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        # Signed in with the password but not the code yet: the next step, not a loop
        # between this page and the page asked.
        if request.user.is_authenticated and not second_factor_passed(request):
            return _second_factor_step(request)
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        self.request.session.set_expiry(settings.STAFF_SESSION_SECONDS)
        if not second_factor_passed(self.request):
            return _second_factor_step(self.request)
        _signed_in(self.request)
        return response


@require_http_methods(["GET", "POST"])
@login_required
def second_factor(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the app, or a recovery code."""
    if second_factor_passed(request):
        return redirect(_next_url(request))
    if not second_factor_enrolled(user=request.user):
        return _second_factor_step(request)
    form = SecondFactorForm(request.POST or None)
    status = 400
    if request.method == "POST" and form.is_valid():
        try:
            passed = second_factor_verify(user=request.user, token=form.cleaned_data["token"])
        except TooManyRequests as refused:
            form.add_error("token", refused.message)
            status = 429
        else:
            if passed is not None:
                otp_login(request, passed.device)
                _signed_in(request)
                if passed.recovery:
                    messages.warning(
                        request,
                        _(
                            "Code de secours utilisé : il ne servira plus. Il vous en reste "
                            "%(n)d ; renouvelez-les depuis votre accueil."
                        )
                        % {"n": recovery_codes_left(user=request.user)},
                    )
                return redirect(_next_url(request))
            audit_record(
                actor=actor_from_request(request),
                action="login_failed",
                object_type="auth.user",
                object_id=request.user.get_username(),
                summary=_("Code de double authentification refusé"),
            )
            form.add_error(
                "token", _("Ce code ne correspond pas. Saisissez le code affiché maintenant.")
            )
    return render(
        request,
        "backoffice/second_factor.html",
        {"form": form, "next": _next_url(request)},
        status=status if form.errors else 200,
    )


def _qr_svg(text: str) -> str:
    """The QR code of `text` as an inline SVG image, drawn here (nothing is fetched), on a
    white square so that it scans in the dark theme too."""
    image = qrcode.make(
        text, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=2
    )
    svg = image.to_string(encoding="unicode")
    label = format_html(
        '<svg role="img" aria-label="{}" class="creneau-qr" ',
        _("QR code à scanner avec votre application d'authentification"),
    )
    # Drawn by qrcode from our own data; the label is escaped by format_html.
    return mark_safe(svg.replace("<svg ", label, 1))


def _secret_groups(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four to type it without the QR code."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@require_http_methods(["GET", "POST"])
@login_required
def second_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Enrolment, at the first sign-in of an account that needs a second factor (or when
    a member of staff chooses one): scan the QR code or type the secret, then confirm
    with the first code. An account already enrolled gives its code instead."""
    if second_factor_enrolled(user=request.user):
        return _second_factor_step(request)
    device = totp_device_start(user=request.user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = totp_device_confirm(
                actor=actor_from_request(request),
                device_id=device.pk,
                token=form.cleaned_data["token"],
            )
        except DomainError as refused:
            form.add_error("token", refused.message)
        else:
            otp_login(request, TOTPDevice.objects.get(pk=device.pk))
            _signed_in(request)
            request.session[CODES_KEY] = codes
            return redirect(_with_next("backoffice:recovery_codes", _next_url(request)))
    return render(
        request,
        "backoffice/second_factor_enrol.html",
        {
            "form": form,
            "next": _next_url(request),
            "qr_svg": _qr_svg(device.config_url),
            "secret": _secret_groups(device),
            "issuer": settings.OTP_TOTP_ISSUER,
            "username": request.user.get_username(),
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes, shown once: after the enrolment, or renewed (POST). Any
    signed-in account past its second factor (the admin's accounts have no staff
    profile)."""
    if not second_factor_passed(request):
        return _second_factor_step(request)
    if request.method == "POST":
        try:
            request.session[CODES_KEY] = recovery_codes_renew(actor=actor_from_request(request))
        except DomainError as refused:
            messages.error(request, refused.message)
            return redirect("backoffice:home")
        return redirect(_with_next("backoffice:recovery_codes", _next_url(request)))
    codes = request.session.pop(CODES_KEY, None)
    return render(
        request,
        "backoffice/recovery_codes.html",
        {
            "codes": [f"{code[:4]}-{code[4:]}" for code in codes or []],
            "left": recovery_codes_left(user=request.user),
            "enrolled": second_factor_enrolled(user=request.user),
            "next": _next_url(request),
        },
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(actor=actor_from_request(request), action="logout")
    logout(request)
    return redirect("backoffice:login")


class PasswordResetView(auth_views.PasswordResetView):
    """Asks for the account's e-mail address and sends a link (valid
    PASSWORD_RESET_TIMEOUT, once) with Django's `send_mail` through EMAIL_BACKEND: not
    through the outbox, which keeps what it sends. The answer is the same whether the
    address is known or not."""

    template_name = "backoffice/password_reset.html"
    form_class = StaffPasswordResetForm
    email_template_name = "backoffice/password_reset_email.txt"
    subject_template_name = "backoffice/password_reset_subject.txt"
    success_url = reverse_lazy("backoffice:password_reset_done")

    def form_valid(self, form):
        # The link starts with the configured address, never with the request's Host.
        self.extra_email_context = {"public_url": settings.PUBLIC_URL}
        try:
            limit_hit(name="password_resets_per_address", key=network_key(request_ip(self.request)))
        except TooManyRequests as refused:
            form.add_error("email", refused.message)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "backoffice/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The new password, under the staff rules. The lockout of the account is lifted
    (the e-mail proved who asks); the second factor is still asked at the next sign-in."""

    template_name = "backoffice/password_reset_confirm.html"
    form_class = StaffSetPasswordForm
    success_url = reverse_lazy("backoffice:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        login_success_record(username=form.user.get_username())
        audit_record(
            actor=actor_from_request(self.request),
            action="change",
            object_type="auth.user",
            object_id=form.user.pk,
            summary=_("Mot de passe changé par le lien envoyé par e-mail (%(username)s)")
            % {"username": form.user.get_username()},
        )
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "backoffice/password_reset_complete.html"
