"""Rows of apps above booking that keep a contact in use: the retention purge (privacy)
deletes a contact nobody books for after a day, and must not delete one that such a row
still points to (a person waiting on the list of leftover doses). Each app declares its
rows here, from its AppConfig, like the secrets of its messages; privacy reads them
without importing the app."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContactHolder:
    model: str  # "app_label.Model"
    field: str  # its foreign key to booking.Contact
    conditions: dict = field(default_factory=dict)  # which of its rows count


_holders: list[ContactHolder] = []


def contact_holder_declare(*, model: str, field: str, **conditions: object) -> None:
    holder = ContactHolder(model=model, field=field, conditions=conditions)
    if holder not in _holders:
        _holders.append(holder)


def contact_holders() -> list[ContactHolder]:
    return list(_holders)
