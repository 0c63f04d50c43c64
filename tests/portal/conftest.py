"""What the portal's page tests share: a two-dose centre in Paris 17e, the demo on (its
outbox shows the codes)."""

import pytest

from tests.factories import two_dose_site


@pytest.fixture
def site_and_session(reference, settings):
    settings.DEMO = True
    return two_dose_site(name="Centre Wagram", address="12 avenue de Wagram")
