from django.shortcuts import render

from creneau.core.errors import DomainError

# The front doors whose pages this applies to (the API answers JSON errors itself).
PAGES = {"portal", "backoffice", "callcenter"}


class DomainErrorPage:
    """A refusal the page did not handle itself becomes a page that says why, with the
    error's 4xx status: never a 500 for bad input."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        match = request.resolver_match
        if not isinstance(exception, DomainError) or match is None or match.namespace not in PAGES:
            return None
        return render(request, "portal/error.html", {"error": exception}, status=exception.status)
