import pytest

from creneau.eligibility.services import eligibility_seed
from creneau.geography.services import geography_load
from creneau.vaccines.services import vaccines_seed
from tests.staff_door import second_factor_give

pytest_plugins = ["tests.redis_server"]

# Paris, Bouches-du-Rhône, Seine-Saint-Denis and La Réunion: enough for every search test.
TEST_DEPARTMENTS = ("75", "13", "93", "974")


@pytest.fixture
def reference(db):
    """The real geography of a few departments and the vaccine catalogue."""
    geography_load(departments=TEST_DEPARTMENTS)
    vaccines_seed()
    eligibility_seed()


@pytest.fixture
def reference_committed(transactional_db):
    """The same for tests whose transactions really commit (threads, processes)."""
    geography_load(departments=TEST_DEPARTMENTS)
    vaccines_seed()
    eligibility_seed()


@pytest.fixture(autouse=True)
def fresh_answers(settings):
    """Tests change data between two identical requests: no cached public answers (nor
    any a previous test left in this process's copy)."""
    from creneau.api import caching
    from creneau.core.cache import kept_forget_all

    caching._LOCAL.clear()
    kept_forget_all()
    settings.API_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def fresh_external_snapshot(monkeypatch):
    """Each test's database has its own other platforms: no snapshot of a previous one.
    And its snapshot is read again in the searching thread, not in one of its own: most
    tests' data sit in their connection's open transaction, which no other thread sees
    (tests/interop/test_snapshot_thread.py puts the thread back, on committed data)."""
    from creneau.interop import snapshot

    snapshot.external_snapshot_forget()
    monkeypatch.setattr(snapshot, "_thread_start", lambda work: work())


@pytest.fixture(autouse=True)
def quick_passwords(settings):
    """Tests create and sign in many staff accounts: PBKDF2's deliberate slowness would
    take much of the suite's time. (The password rules are validators, still applied.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def client():
    """Django's test client, dispatching as creneau/wsgi.py does (tests/lean_client.py)."""
    from tests.lean_client import LeanClient

    return LeanClient()


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's admin client, past the second factor that Django's admin asks (as
    the code step gives it: tests/staff_door.py)."""
    client.force_login(admin_user)
    second_factor_give(client, admin_user)
    return client
