from django import template

from creneau.staff.selectors import staff_may

register = template.Library()


@register.simple_tag
def may(profile, permission: str) -> bool:
    """Whether this staff profile has the permission (a page's link shown or not)."""
    return profile is not None and staff_may(profile=profile, permission=permission)
