import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
_full = get_wsgi_application()

# Imported once Django is set up: the booking flow's endpoints take a lean middleware chain.
from creneau.api.lean import lean_dispatch  # noqa: E402

application = lean_dispatch(_full)
