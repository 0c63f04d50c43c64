"""Model fields whose values are encrypted at rest (core.crypto): the model sees text, a
date or JSON; the database holds `v1:<key id>:<ciphertext>` in a text column.

Encrypted columns cannot be compared by the database (each write draws a new nonce), so
every lookup but `isnull` is refused with a FieldError instead of silently finding
nothing: equality goes through the blind index stored beside the value, ordering and
substring search through Python on rows already narrowed by other columns.

The empty string stays empty (a dump shows that there is no landline, not what it is),
so that `blank=True, default=""` columns need no key to be created.
"""

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import FieldError, ValidationError
from django.db import models

from .crypto import value_decrypt, value_encrypt, values_encrypt


class EncryptedField(models.TextField):
    """The text column and the sealing; subclasses say how a value becomes text."""

    # Every encrypted field, for `manage.py keys_rotate`.
    encrypted = True

    @property
    def purpose(self) -> str:
        # The column, authenticated with the value: moved to another column, it fails.
        return f"{self.model._meta.db_table}.{self.column}"

    def value_to_text(self, value: Any) -> str:
        return str(value)

    def text_to_value(self, text: str) -> Any:
        return text

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return self.text_to_value(value_decrypt(value, purpose=self.purpose))

    def kept_as_is(self, value: Any) -> bool:
        """None and the empty string are stored as they are (see the module's doc)."""
        return value is None or value == ""

    def get_prep_value(self, value):
        if self.kept_as_is(value):
            return value
        return value_encrypt(self.value_to_text(self.to_python(value)), purpose=self.purpose)

    def get_prep_values(self, values: Sequence[Any]) -> list:
        """get_prep_value of each of `values`, the column's values sealed in one go
        (core.crypto.values_encrypt), for a bulk write."""
        kept = [self.kept_as_is(value) for value in values]
        sealed = iter(
            values_encrypt(
                [
                    self.value_to_text(self.to_python(value))
                    for value, as_is in zip(values, kept, strict=True)
                    if not as_is
                ],
                purpose=self.purpose,
            )
        )
        return [value if as_is else next(sealed) for value, as_is in zip(values, kept, strict=True)]

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted: the database cannot compare it "
            f"({lookup_name!r}); look it up by its blind index."
        )

    def get_transform(self, lookup_name):
        # A JSON key or a date part cannot be reached inside ciphertext either.
        self.get_lookup(lookup_name)


class EncryptedTextField(EncryptedField):
    def to_python(self, value):
        return value if value is None or isinstance(value, str) else str(value)


class EncryptedDateField(EncryptedField):
    def value_to_text(self, value: date) -> str:
        return value.isoformat()

    def text_to_value(self, text: str) -> date:
        return date.fromisoformat(text)

    def to_python(self, value):
        if value is None or isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError as error:
            raise ValidationError(f"Not a date: {value!r}.") from error

    def formfield(self, **kwargs):
        return models.Field.formfield(self, **{"form_class": forms.DateField, **kwargs})


# json.dumps with these options builds an encoder at each call; one is enough.
_JSON_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class EncryptedJSONField(EncryptedField):
    def value_to_text(self, value: Any) -> str:
        return _JSON_ENCODE(value)

    def text_to_value(self, text: str) -> Any:
        return json.loads(text)

    def to_python(self, value):
        return value

    def kept_as_is(self, value: Any) -> bool:
        # An empty list is a value, not an absent one: it is sealed like any other.
        return value is None
