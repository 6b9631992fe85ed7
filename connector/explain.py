"""Why a contact has its score: its events rescored with the current rules, line by line."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from connector.errors import ExitCode, LeadsyncError
from connector.identity import normalize_email
from connector.model import ContactScore
from connector.scoring import Scorer, ScoringRules
from connector.store.scores import contact_id_for_email, contacts_to_score

__all__ = ["ContactNotFoundError", "Explanation", "explain_contact"]


class ContactNotFoundError(LeadsyncError):
    """No contact has that e-mail."""

    exit_code = ExitCode.INPUT


@dataclass(frozen=True, slots=True)
class Explanation:
    email: str
    contact_id: int
    score: ContactScore

    def as_dict(self) -> dict[str, object]:
        result = self.score
        return {
            "email": self.email,
            "contact_id": self.contact_id,
            "score": result.score,
            "behaviour_score": result.behaviour_score,
            "fit_score": result.fit_score,
            "temperature": result.temperature.value,
            "stage": result.stage.value,
            "route": None if result.route is None else result.route.value,
            "treatment": None if result.treatment is None else result.treatment.value,
            "reasons": result.reasons,
            "lines": [
                {
                    "rule": line.rule,
                    "kind": line.kind,
                    "occurred_at": line.occurred_at,
                    "source": line.source,
                    "url": line.url,
                    "points": line.points,
                    "route": None if line.route is None else line.route.value,
                    "treatment": None if line.treatment is None else line.treatment.value,
                }
                for line in result.lines
            ],
        }


def explain_contact(connection: sa.Connection, email: str, rules: ScoringRules) -> Explanation:
    wanted = normalize_email(email)
    contact_id = contact_id_for_email(connection, wanted)
    if contact_id is None:
        raise ContactNotFoundError(
            f"no contact has the e-mail {wanted!r}",
            hint="check the spelling, or ingest its events first",
        )
    contact = next(iter(contacts_to_score(connection, [contact_id])))
    return Explanation(wanted, contact_id, Scorer(rules).score(contact.events, contact.profile))
