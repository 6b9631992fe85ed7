"""The ``[kpi]`` section of ``config.toml``: where `leadsync kpi` finds the campaigns' costs
and how it values a new customer (outside `connector.kpi` so the config can read it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KpiSettings"]


class KpiSettings(BaseModel):
    """``[kpi]``: costs and margins for `leadsync kpi`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A CSV with the columns campaign,month,cost (relative to the config file's folder);
    # None: cost, cost per lead, cost per acquisition and ROI are null, with that reason.
    costs: Path | None = None
    # The share of a won deal's amount that is gross margin (0.3: 30 %).
    margin_rate: float | None = Field(default=None, ge=0, le=1)
    # A profile field (as the mapping files name it) holding a customer's margin itself;
    # where a customer has it, it is used instead of deal_amount times margin_rate.
    margin_field: str | None = Field(default=None, min_length=1, max_length=100)
