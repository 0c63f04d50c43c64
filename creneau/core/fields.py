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
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import FieldError, ValidationError
from django.db import models

from .crypto import value_decrypt, value_encrypt


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

    def get_prep_value(self, value):
        if value is None or value == "":
            return value
        return value_encrypt(self.value_to_text(self.to_python(value)), purpose=self.purpose)

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


class EncryptedJSONField(EncryptedField):
    def value_to_text(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def text_to_value(self, text: str) -> Any:
        return json.loads(text)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        # An empty list is a value, not an absent one: it is sealed like any other.
        if value is None:
            return value
        return value_encrypt(self.value_to_text(value), purpose=self.purpose)
