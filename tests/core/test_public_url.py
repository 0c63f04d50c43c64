"""Links in messages lead to the server people can reach: the one `make demo` serves
(scripts/prod.sh --demo), or the PUBLIC_URL production must give (it refuses to start
without one).

The settings are read once, when a process starts: each case starts one, with the
environment the demo's commands or a production server would have.
"""

import base64
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_LINKS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.BOOKING_LINK); print(settings.REBOOK_LINK); print(*settings.ALLOWED_HOSTS)"
)
# What is left of the environment of a process that pytest did not start.
UNSET = ("PUBLIC_URL", "DEBUG", "CRENEAU_DEMO", "PYTEST_VERSION", "PYTEST_CURRENT_TEST")
# Production's encryption keys, so that each case fails (or not) on what it tests.
KEYS = {
    "FIELD_ENCRYPTION_KEYS": "1:" + base64.urlsafe_b64encode(bytes(32)).decode(),
    "BLIND_INDEX_KEY": base64.urlsafe_b64encode(bytes(range(32))).decode(),
    "FIELD_KEYS_FILE": "",
}


def run_settings(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [sys.executable, "-c", PRINT_LINKS],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "creneau.settings", **KEYS, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def demo_environment(**env: str) -> dict[str, str]:
    """What `make demo` serves at and links to: the command it runs (scripts/prod.sh
    --demo) and what that script exports for migrate, demo_load, the worker and gunicorn,
    as its --dry-run prints them."""
    base = {k: v for k, v in os.environ.items() if k not in {"PUBLIC_URL", "HOST", "PORT"}}
    make_args = [f"{name}={value}" for name, value in env.items() if name in {"HOST", "PORT"}]
    printed = subprocess.run(
        ["make", "--dry-run", "demo", *make_args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (command,) = [line for line in printed.splitlines() if "scripts/prod.sh" in line]
    words = shlex.split(command)
    assignments = dict(word.partition("=")[::2] for word in words if "=" in word)
    assert words[-2:] == ["scripts/prod.sh", "--demo"]
    done = subprocess.run(
        ["scripts/prod.sh", "--demo", "--dry-run"],
        cwd=ROOT,
        env={**base, **env, **assignments},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.partition("=")[::2] for line in done.stdout.splitlines())


def test_the_demo_serves_and_links_to_the_port_asked():
    served = demo_environment(PORT="18765")

    assert served == {"BIND": "127.0.0.1:18765", "PUBLIC_URL": "http://127.0.0.1:18765"}


def test_the_demo_s_messages_link_to_its_host_and_port():
    served = demo_environment(HOST="localhost", PORT="18765")

    done = run_settings(CRENEAU_DEMO="1", PUBLIC_URL=served["PUBLIC_URL"])

    assert done.returncode == 0, done.stderr
    booking_link, rebook_link, *_ = done.stdout.split()
    assert booking_link == "http://localhost:18765/rendez-vous/{reference}/ouvrir/#cle={token}"
    assert rebook_link == "http://localhost:18765/reprendre/ouvrir/#cle={token}"


def test_a_public_url_given_to_the_demo_wins():
    served = demo_environment(PORT="18765", PUBLIC_URL="https://demo.example.fr")

    assert served["PUBLIC_URL"] == "https://demo.example.fr"


def test_production_refuses_to_start_without_public_url():
    done = run_settings(SECRET_KEY="x" * 50)

    assert done.returncode != 0
    assert "ImproperlyConfigured: PUBLIC_URL must be set" in done.stderr


def test_production_refuses_to_start_without_encryption_keys():
    done = run_settings(
        SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS="", BLIND_INDEX_KEY="", FIELD_KEYS_FILE=""
    )

    assert done.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY, or FIELD_KEYS_FILE, must be set" in (
        done.stderr
    )


def test_production_links_start_with_public_url():
    done = run_settings(SECRET_KEY="x" * 50, PUBLIC_URL="https://creneau.example.fr/")

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == [
        "https://creneau.example.fr/rendez-vous/{reference}/ouvrir/#cle={token}",
        "https://creneau.example.fr/reprendre/ouvrir/#cle={token}",
    ]


@pytest.mark.parametrize(
    "public_url", ["creneau.example.fr", "ftp://creneau.example.fr", "https://"]
)
def test_a_public_url_that_is_no_web_address_is_refused(public_url):
    done = run_settings(CRENEAU_DEMO="1", PUBLIC_URL=public_url)

    assert done.returncode != 0
    assert "PUBLIC_URL must start with http:// or https:// and a host name" in done.stderr


@pytest.mark.parametrize("mode", [{"DEBUG": "1"}, {"CRENEAU_DEMO": "1"}])
def test_development_and_the_demo_default_to_runserver_s_address(mode):
    done = run_settings(**mode)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1] == "http://127.0.0.1:8000/reprendre/ouvrir/#cle={token}"


def test_the_demo_served_on_another_address_answers_there():
    served = demo_environment(HOST="192.168.1.20", PORT="18765")

    done = run_settings(CRENEAU_DEMO="1", PUBLIC_URL=served["PUBLIC_URL"])

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split() == ["127.0.0.1", "localhost", "192.168.1.20"]


def test_allowed_hosts_given_win():
    done = run_settings(
        SECRET_KEY="x" * 50, PUBLIC_URL="https://creneau.example.fr", ALLOWED_HOSTS="a.fr,b.fr"
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split() == ["a.fr", "b.fr"]
