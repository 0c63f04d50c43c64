"""`make demo` and the README call `manage.py demo_load`: the demo app answers to it."""

from django.core.management import get_commands, load_command_class


def test_demo_load_is_the_demo_app_s_command():
    assert get_commands()["demo_load"] == "creneau.demo"
    assert load_command_class("creneau.demo", "demo_load").help.startswith("Load the demo")
