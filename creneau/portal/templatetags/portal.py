from datetime import datetime

import phonenumbers
from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from creneau.booking import tokens
from creneau.geography.selectors import department_timezone
from creneau.sites.models import Site

from ..forms import category_labels

register = template.Library()


class _CaptureNode(template.Node):
    def __init__(self, nodelist: template.NodeList, name: str) -> None:
        self.nodelist = nodelist
        self.name = name

    def render(self, context: template.Context) -> str:
        # What the nodes rendered is already escaped: kept as it is, shown where used.
        context[self.name] = mark_safe(self.nodelist.render(context))
        return ""


@register.tag
def capture(parser: template.base.Parser, token: template.base.Token) -> _CaptureNode:
    """``{% capture name %}…{% endcapture %}``: renders its content (blocks included, so
    child templates still fill them) into the variable ``name`` instead of the page, for
    markup a page shows twice."""
    try:
        _tag, name = token.split_contents()
    except ValueError:
        raise template.TemplateSyntaxError("capture takes one variable name") from None
    nodelist = parser.parse(("endcapture",))
    parser.delete_first_token()
    return _CaptureNode(nodelist, name)


@register.filter
def bdi(text: str) -> SafeString:
    """Someone's text isolated from the sentence around it, for a translated sentence's
    variable: a right-to-left character in a name cannot reverse the words after it."""
    return format_html("<bdi>{}</bdi>", text)


@register.filter
def at_site(moment: datetime | None, site: Site) -> datetime | None:
    """The wall-clock time at the site: 9:00 in Saint-Denis de La Réunion shows as 9:00.

    Naive on purpose: Django's date filters would turn an aware value back into the
    server's time zone.
    """
    if moment is None:
        return None
    local = moment.astimezone(department_timezone(department_code=site.department_id))
    return local.replace(tzinfo=None)


@register.filter
def get_item(mapping: dict, key: str) -> str:
    return mapping.get(key, key)


@register.filter
def categories_spoken(codes: list[str]) -> str:
    """Category codes as people read them, in the page's language.

    The filter reads the labels itself: a page that shows a restricted site needs
    nothing in its context for it (the rebooking page had not had them, and failed).
    """
    labels = category_labels()
    return ", ".join(labels.get(code, code) for code in codes)


@register.filter
def accessibility_spoken(text: str) -> str:
    """A site's accessibility said as a sentence in the page's language when the site only
    answered yes or no: the official file mostly holds "oui" (or "OUI", "Oui."), which
    read "Accessibility: oui" on English pages. Empty for a description, shown as given."""
    answer = text.strip().rstrip(".").lower()
    if answer in ("oui", "yes"):
        return gettext("Accessible aux personnes à mobilité réduite")
    if answer in ("non", "no"):
        return gettext("Non accessible aux personnes à mobilité réduite")
    return ""


@register.filter
def phone(number: str) -> str:
    """+33145678901 as a French reader says it: 01 45 67 89 01."""
    try:
        parsed = phonenumbers.parse(number, "FR")
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


@register.filter
def reference(value: str) -> str:
    """A booking reference as people read and type it: 7K2M-Q9XA-4."""
    return tokens.reference_display(value)
