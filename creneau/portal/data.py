"""What is held about a person, as a JSON file to keep (their right of access): shared by
the portal and the call centre, which send it the same way."""

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse


def data_download(data: dict[str, Any], *, filename: str) -> HttpResponse:
    """`data` (privacy.selectors.person_data) as a JSON attachment, UTF-8, readable."""
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
