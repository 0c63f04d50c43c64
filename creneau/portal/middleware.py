from django.shortcuts import render
from django.utils.translation import gettext

from creneau.core.errors import DomainError, InvalidInput
from creneau.core.inputs import has_null_character

# The front doors whose pages this applies to (the API answers JSON errors itself).
PAGES = {"portal", "backoffice", "callcenter"}


class DomainErrorPage:
    """A refusal the page did not handle itself becomes a page that says why, with the
    error's 4xx status: never a 500 for bad input."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        # Forms refuse NUL themselves; this covers the values views read directly.
        if request.resolver_match.namespace in PAGES and (
            has_null_character(request.GET) or has_null_character(request.POST)
        ):
            return self._page(request, InvalidInput(gettext("Caractère invalide (NUL).")))
        return None

    def process_exception(self, request, exception):
        match = request.resolver_match
        if not isinstance(exception, DomainError) or match is None or match.namespace not in PAGES:
            return None
        return self._page(request, exception)

    @staticmethod
    def _page(request, error: DomainError):
        response = render(request, "portal/error.html", {"error": error}, status=error.status)
        if "retry_after" in error.details:
            response["Retry-After"] = str(error.details["retry_after"])
        return response
