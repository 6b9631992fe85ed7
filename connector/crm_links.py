"""A CRM record found by e-mail that already stands for another of our contacts."""

from __future__ import annotations

from collections.abc import Mapping

from connector.ports import CrmRecordWrite, WriteResult

__all__ = ["linked_to_another"]


def linked_to_another(
    record: CrmRecordWrite, crm_id: str | None, owners: Mapping[str, int], *, shown_as: str
) -> WriteResult | None:
    """A rejection when ``crm_id``, found by ``record``'s e-mail, is linked to another
    leadsync contact: its e-mail changed in the CRM, or two people were merged there, and
    writing would put this contact's score on that one. ``shown_as`` names the record
    ("HubSpot contact", "Salesforce record")."""
    owner = owners.get(crm_id or "")
    if crm_id is None or owner is None or owner == record.contact_id:
        return None
    return WriteResult(
        record.contact_id,
        "rejected",
        reason=f"{shown_as} {crm_id}, found by the e-mail {record.email}, is already linked "
        f"to leadsync contact #{owner}; merge or fix the e-mails",
    )
