"""Create the people Salesforce does not know (as Leads, or Contacts), never one twice.

A create (``POST composite/sobjects``, up to 200 records) is not safe to send again: when
its answer is lost (a reset, a timeout, a 5xx other than 503), Salesforce may have made
some of the records, or all. ``SalesforceApi.run`` sends it again only after a 429 or a
503, which say it was not done. After any other failure the batch's e-mails are looked
up: each record was looked up just before the create and not found, so one found now is
one the create made, with the fields it carried (written: ok, with its id). Only the
others are sent again, by the same rule, up to ``retry_attempts`` creates of the batch in
all; past that, the error goes up with what was made so far, and the rest waits for the
next push, which looks them up by e-mail before creating anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.errors import reason_of
from adapters.salesforce.records import fields_for
from connector.errors import RetriableError
from connector.ports import CrmRecordWrite, WriteResult, linked_to_another
from connector.retry import NOT_APPLIED_STATUSES

__all__ = ["create_batch"]

log = structlog.get_logger(__name__)

# Web-to-lead's own placeholder for a company nobody gave (Company is required on Leads).
_NO_COMPANY = "[not provided]"


def _creation(sobject: str, records: Sequence[CrmRecordWrite]) -> dict[str, Any]:
    return {
        "allOrNone": False,
        "records": [
            {
                "attributes": {"type": sobject},
                "Email": record.email,
                "LastName": (record.email or "?").split("@")[0][:80],
                **({"Company": _NO_COMPANY} if sobject == "Lead" else {}),
                **fields_for(sobject, record.fields),
            }
            for record in records
        ],
    }


def create_batch(
    api: SalesforceApi,
    records: Sequence[CrmRecordWrite],
    *,
    sobject: str,
    find: Callable[[Sequence[str]], Mapping[str, str]],
    claims: dict[str, int],
    results: dict[int, WriteResult],
) -> None:
    """Create ``records`` (one sObject Collections call's worth, none in Salesforce when
    looked up by e-mail just before) as ``sobject``; a result for each in ``results``.

    Args:
        find: e-mail (lower case) -> Salesforce id, for the e-mails given (the writer's
            look-up).
        claims: Salesforce id -> the contact written to it in this push; grows with the
            records a lost create is found to have made.

    Raises:
        RetriableError: the creates kept failing; ``results`` holds what was made.
        LimitReachedError, FatalError, ConfigError: as ``SalesforceApi.run`` says.
    """
    pending = list(records)
    attempts = api.retry_policy.attempts
    for attempt in range(1, attempts + 1):
        try:
            answer = api.restful(
                "a creation of records",
                "composite/sobjects",
                method="POST",
                body=_creation(sobject, pending),
                safe_to_repeat=False,
            )
        except RetriableError as lost:
            if lost.status in NOT_APPLIED_STATUSES or attempt == attempts:
                raise  # refused (already retried by run), or lost too often
            before = len(pending)
            pending = _made_meanwhile(pending, find, claims, results)
            log.warning(
                "salesforce.create_answer_lost",
                attempt=attempt,
                of=attempts,
                records=before,
                found=before - len(pending),
                resent=len(pending),
                status=lost.status,
                error=str(lost),
            )
            if not pending:
                return
            continue
        _judge(pending, answer, results)
        return


def _made_meanwhile(
    records: Sequence[CrmRecordWrite],
    find: Callable[[Sequence[str]], Mapping[str, str]],
    claims: dict[str, int],
    results: dict[int, WriteResult],
) -> list[CrmRecordWrite]:
    """The records a create whose answer was lost made, found by e-mail, become results;
    the others are returned, to be created."""
    found = find([record.email for record in records if record.email])
    rest: list[CrmRecordWrite] = []
    for record in records:
        crm_id = found.get((record.email or "").lower())
        taken = linked_to_another(record, crm_id, claims, shown_as="Salesforce record")
        if taken is not None:
            results[record.contact_id] = taken
        elif crm_id is not None:
            claims[crm_id] = record.contact_id
            results[record.contact_id] = WriteResult(record.contact_id, "ok", crm_id=crm_id)
        else:
            rest.append(record)
    return rest


def _judge(records: Sequence[CrmRecordWrite], answer: Any, results: dict[int, WriteResult]) -> None:
    """Each record's result, read by position (Salesforce answers in request order)."""
    items = list(answer) if isinstance(answer, list) else []
    for position, record in enumerate(records):
        item = items[position] if position < len(items) else None
        if not isinstance(item, Mapping) or (item.get("success") and not item.get("id")):
            # Created or not, Salesforce did not say: the next look-up by e-mail finds it
            # if it was.
            results[record.contact_id] = WriteResult(
                record.contact_id, "deferred", reason="Salesforce gave no result for its creation"
            )
        elif item.get("success"):
            results[record.contact_id] = WriteResult(
                record.contact_id, "ok", crm_id=str(item["id"])
            )
        else:
            results[record.contact_id] = WriteResult(
                record.contact_id, "rejected", reason=reason_of(item.get("errors"))
            )
