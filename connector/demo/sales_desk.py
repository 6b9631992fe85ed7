"""A simulated sales desk for the demo: answers for the MQLs, through the CRM port.

It is a ``CrmReader`` like the HubSpot and Salesforce adapters, so the demo exercises the
same path real CRM answers take: snapshots into the store, then a scoring pass moves the
stages. Seeded: the same sample gets the same answers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from connector.model import BANT, SalesSignals, SalesStatus
from connector.ports import ProfileSnapshot, SnapshotPage

__all__ = ["DEMO_RULES_TOML", "SalesDesk"]

# The demo's config.toml: rules a marketing-ops admin of the sample's company (industrial
# pumps and valves) would write, on top of the built-in table.
DEMO_RULES_TOML = """\
# The demo's rules: the built-in table plus these (see README, "Scoring").
[kpi]
# What each campaign cost, month by month (the demo writes it), and the share of a won
# deal that is gross margin: `leadsync kpi` turns them into cost per lead, per customer
# and ROI.
costs = "costs.csv"
margin_rate = 0.35

[scoring]
normalised = true
# These rules give more points than the built-in table alone: hot from 50 keeps MQLs to the
# most engaged (under one contact in ten), and 50 on the 0-100 scale where hot starts.
warm_from = 20
hot_above = 50

# Yours come first: the strong clicks, then weak ones with a cap, so a heavy newsletter
# reader does not look like a buyer.
[[scoring.behaviour]]
name = "strong_email_click"
kind = "email_click"
url = ["*quote*", "*devis*", "*pricing*"]
points = 3
route = "telemarketing"
treatment = "project_detection"

[[scoring.behaviour]]
name = "weak_email_click"
kind = "email_click"
points = 1
max_points = 10

[[scoring.behaviour]]
name = "form_submit"
kind = "form_submit"
points = 5
max_times = 3

[[scoring.behaviour]]
name = "pricing_page"
kind = "page_view"
url = "*/pricing*"
points = 4
max_times = 5

[[scoring.behaviour]]
name = "careers_page"      # job seekers, not buyers
kind = "page_view"
url = "*/careers*"
points = -2
max_points = 6

[[scoring.behaviour]]
name = "recent_visit"
kind = "site_visit"
points = 1
window_days = 45
max_points = 15

[[scoring.behaviour]]
name = "download"
kind = "document_download"
points = 5
route = "telemarketing"
treatment = "project_detection"
half_life_days = 60
max_points = 25

[[scoring.fit]]
name = "decision_maker"
field = "job_title"
regex = "\\\\b(ceo|cto|director|head of)\\\\b"
points = 10

[[scoring.fit]]
name = "large_company"
field = "company_size"
in = ["201-1000", "1000+"]
points = 5

[[scoring.fit]]
name = "target_industry"
field = "industry"
in = ["manufacturing", "energy", "logistics"]
points = 5

[[scoring.fit]]
name = "region_not_served"
field = "country"
in = ["CA", "US"]
points = -15

[[scoring.fit]]
name = "student"
field = "job_title"
contains = "student"
disqualify = true
"""


class SalesDesk:
    """Answers for the given contacts: some "not now", some BANT confirmed, some won (with
    the deal's close date and amount, as the CRM readers give them)."""

    name = "sales-desk"

    def __init__(self, emails: Sequence[str], *, at: datetime, seed: int) -> None:
        self._emails = list(emails)
        self._at = at
        self._seed = seed

    def read_changes(self, cursor: str | None) -> Iterator[SnapshotPage]:
        if cursor is not None:
            return
        rng = random.Random(self._seed)
        answers = []
        for email in self._emails:
            draw = rng.random()
            if draw < 0.35:
                signals = SalesSignals(status=SalesStatus.NOT_NOW)
            elif draw < 0.65:
                signals = SalesSignals(bant=frozenset(BANT))
            elif draw < 0.75:
                # A deal of 8,000 to 60,000 closed in the last three weeks.
                signals = SalesSignals(
                    bant=frozenset(BANT),
                    won=True,
                    won_at=self._at - timedelta(days=rng.randint(0, 30)),
                    won_amount=float(rng.randrange(8_000, 60_000, 500)),
                )
            else:
                continue  # not called yet
            # Sales called within the last month: each answer is dated by its read.
            read = self._at - timedelta(days=rng.randint(0, 30))
            answers.append(ProfileSnapshot(self.name, read, email, sales=signals))
        yield SnapshotPage(answers, cursor="answered")
