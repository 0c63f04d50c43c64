"""The app map of docs/architecture.md, checked on the code: each domain app imports only
the apps beneath it, none imports a front door or the demo, and nothing imports the demo.

Modules are read with `ast`, not imported, so an import inside a function counts too.
"""

import ast
from pathlib import Path

import creneau

PACKAGE = Path(creneau.__file__).parent
APPS = {path.parent.name for path in PACKAGE.glob("*/apps.py")}
FRONT_DOORS = {"api", "portal", "backoffice", "callcenter"}
TOP_FLOOR = {"demo"}
# What each domain app may import: the arrows of the map and what lies beneath them.
BENEATH = {
    "core": set(),
    # Used by the front doors only: it knows nothing of bookings, only counts.
    "admission": {"core"},
    # Below every app that records a staff action (sites and departments it names, not
    # imports).
    "audit": {"core"},
    "geography": {"core"},
    "sites": {"core", "audit", "geography"},
    "vaccines": {"core", "audit", "geography", "sites"},
    "scheduling": {"core", "audit", "geography", "sites", "vaccines"},
    "eligibility": {"core", "audit", "geography", "sites", "vaccines"},
    # The shared counters of admission pace the sending (a rate per channel).
    "outreach": {"core", "audit", "admission"},
    "staff": {"core", "audit", "geography", "sites"},
    "booking": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        "outreach",
    },
    "care": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        *("outreach", "booking"),
    },
    # Retention and a person's rights: erases across booking, the waiting list, the
    # alerts and the campaigns' population, keeps care's doses; purges decided
    # applications to join.
    "privacy": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        *("outreach", "booking", "care", "waitlist", "alerts", "campaigns", "onboarding"),
    },
    # Invitation campaigns: the population, campaigns, waves and invitations.
    "campaigns": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        *("outreach", "booking"),
    },
    # Leftover doses offered to a waiting list, booked through the booking engine.
    "waitlist": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        *("outreach", "booking"),
    },
    # Alerts when places open: the read model's changes matched to subscriptions.
    "alerts": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        *("outreach", "booking"),
    },
    # Summary tables and open data: reads care, booking, vaccines, geography.
    "stats": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        *("outreach", "booking", "care"),
    },
    # SMART Scheduling Links published and imported, the official file exported.
    "interop": {
        *("core", "audit", "geography", "sites", "vaccines", "scheduling", "eligibility"),
        *("outreach", "booking", "care"),
    },
    # Sites joining (applications, invitations, teams): a site and its staff accounts.
    "onboarding": {"core", "audit", "geography", "sites", "vaccines", "staff", "outreach"},
}
DOMAIN = set(BENEATH)


def _parse(source: str) -> ast.Module:
    # CPython 3.11 keeps one AST recursion counter for all threads (gh-106905): a parse
    # while another thread of the test run parses (a live server importing a module) may
    # fail with "AST constructor recursion depth mismatch". The source is not at fault.
    try:
        return ast.parse(source)
    except SystemError:
        return ast.parse(source)


def modules_imported(source: str, *, package: str) -> set[str]:
    """The modules the import statements of `source` name, relative ones made absolute
    (`package` is the module's own); `from a import b` names both `a` and `a.b`."""
    modules = set()
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, node.module] if node.module else parent)
            else:
                base = node.module
            modules |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return modules


def imported_apps(app: str) -> set[str]:
    """The other apps of ours that a module of `app` imports."""
    found = set()
    for path in (PACKAGE / app).rglob("*.py"):
        package = ".".join(["creneau", *path.relative_to(PACKAGE).parent.parts])
        for module in modules_imported(path.read_text(encoding="utf-8"), package=package):
            parts = module.split(".")
            if parts[0] == "creneau" and len(parts) > 1 and parts[1] in APPS:
                found.add(parts[1])
    return found - {app}


def test_every_app_has_its_place_on_the_map():
    assert APPS == DOMAIN | FRONT_DOORS | TOP_FLOOR


def test_each_domain_app_imports_only_the_apps_beneath_it():
    overreach = {app: imported_apps(app) - allowed for app, allowed in BENEATH.items()}
    assert {app: found for app, found in overreach.items() if found} == {}


def test_no_domain_app_imports_a_front_door_or_the_demo():
    upward = {app: imported_apps(app) & (FRONT_DOORS | TOP_FLOOR) for app in DOMAIN}
    assert {app: found for app, found in upward.items() if found} == {}


def test_only_the_demo_imports_the_demo():
    assert [app for app in APPS - TOP_FLOOR if "demo" in imported_apps(app)] == []


def test_absolute_relative_package_and_nested_imports_are_all_read():
    source = """
import creneau.sites.models
from creneau import vaccines as products
from ..booking import services
from .. import staff
from .models import Slot

def later():
    from creneau.eligibility.selectors import eligibility_decide
"""
    read = modules_imported(source, package="creneau.scheduling")
    assert {
        "creneau.sites.models",
        "creneau.vaccines",
        "creneau.booking.services",
        "creneau.staff",
        "creneau.scheduling.models",
        "creneau.eligibility.selectors",
    } <= read
