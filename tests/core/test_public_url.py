"""Links in messages lead to the server people can reach: the one `make demo` serves, or
the PUBLIC_URL production must give (it refuses to start without one).

The settings are read once, when a process starts: each case starts one, with the
environment the demo's commands or a production server would have.
"""

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


def run_settings(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [sys.executable, "-c", PRINT_LINKS],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "creneau.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def demo_commands(*make_args: str, **env: str) -> list[tuple[dict[str, str], list[str]]]:
    """The `manage.py` commands `make demo` would run, each with the variables it sets."""
    base = {k: v for k, v in os.environ.items() if k != "PUBLIC_URL"}
    printed = subprocess.run(
        ["make", "--dry-run", "demo", *make_args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commands = []
    for line in printed.splitlines():
        if "manage.py" not in line:
            continue
        words = shlex.split(line)
        assignments = {}
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            assignments[name] = value
        commands.append((assignments, words))
    return commands


def test_every_demo_command_links_to_the_port_make_demo_serves():
    commands = demo_commands("PORT=18765")

    assert [words[-1] for _, words in commands if "runserver" in words] == ["127.0.0.1:18765"]
    # demo_load books people (messages with links); the server writes every later one.
    assert {words[words.index("manage.py") + 1] for _, words in commands} >= {
        "demo_load",
        "runserver",
    }
    for assignments, _ in commands:
        assert assignments.get("PUBLIC_URL") == "http://127.0.0.1:18765"


def test_the_demo_s_messages_link_to_its_host_and_port():
    (assignments, _), *_ = demo_commands("HOST=localhost", "PORT=18765")

    done = run_settings(**assignments)

    assert done.returncode == 0, done.stderr
    booking_link, rebook_link, *_ = done.stdout.split()
    assert booking_link == "http://localhost:18765/rendez-vous/{reference}/?cle={token}"
    assert rebook_link == "http://localhost:18765/reprendre/{token}/"


def test_a_public_url_given_to_the_demo_wins():
    commands = demo_commands("PORT=18765", PUBLIC_URL="https://demo.example.fr")

    for assignments, _ in commands:
        assert assignments.get("PUBLIC_URL") == "https://demo.example.fr"


def test_production_refuses_to_start_without_public_url():
    done = run_settings(SECRET_KEY="x" * 50)

    assert done.returncode != 0
    assert "ImproperlyConfigured: PUBLIC_URL must be set" in done.stderr


def test_production_links_start_with_public_url():
    done = run_settings(SECRET_KEY="x" * 50, PUBLIC_URL="https://creneau.example.fr/")

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == [
        "https://creneau.example.fr/rendez-vous/{reference}/?cle={token}",
        "https://creneau.example.fr/reprendre/{token}/",
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
    assert done.stdout.split()[1] == "http://127.0.0.1:8000/reprendre/{token}/"


def test_the_demo_served_on_another_address_answers_there():
    (assignments, _), *_ = demo_commands("HOST=192.168.1.20", "PORT=18765")

    done = run_settings(**assignments)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split() == ["127.0.0.1", "localhost", "192.168.1.20"]


def test_allowed_hosts_given_win():
    done = run_settings(
        SECRET_KEY="x" * 50, PUBLIC_URL="https://creneau.example.fr", ALLOWED_HOSTS="a.fr,b.fr"
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split() == ["a.fr", "b.fr"]
