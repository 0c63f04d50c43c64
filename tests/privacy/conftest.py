"""The call-centre agent of the cancel pages' tests, signed in: the rights pages use it."""

from tests.portal.test_cancel_pages import agent  # noqa: F401 (a fixture)
