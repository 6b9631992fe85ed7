"""A period's new customers' margin: a margin field, else the won amount times the rate."""

from __future__ import annotations

import pytest

from connector.kpi.figures import Figure
from connector.kpi.margin import MarginPolicy, margin_of


class TestMargin:
    def test_the_margin_field_first_then_the_won_amount(self) -> None:
        """The first customer's own margin (120) wins over its amount; the second's
        amount times 0.25 (250); the third has neither."""
        profiles = [
            {"gross_margin": 120, "deal_amount": 9999},
            {"deal_amount": 1000},
            {"deal_won": True},
        ]
        assert margin_of(profiles, MarginPolicy(rate=0.25, field="gross_margin")) == Figure(
            370.0,
            "sum over the period's new customers: 1 from their 'gross_margin' field, 1 as won "
            "amount (deal_amount) × margin_rate 0.25; 1 of 3 customers have neither a "
            "'gross_margin' value nor a won amount",
        )

    def test_a_margin_field_alone_leaves_amounts_unused(self) -> None:
        profiles = [{"gross_margin": "80.5"}, {"deal_amount": 1000}]
        assert margin_of(profiles, MarginPolicy(field="gross_margin")) == Figure(
            80.5,
            "sum over the period's new customers: 1 from their 'gross_margin' field; 1 of 2 "
            "customers have no 'gross_margin' value",
        )

    @pytest.mark.parametrize(
        ("profiles", "policy", "reason"),
        [
            ([], MarginPolicy(rate=0.3), "no new customers in the period"),
            (
                [{"deal_amount": 10}],
                MarginPolicy(),
                "neither [kpi] margin_rate nor [kpi] margin_field is set: the won amounts "
                "cannot be turned into a margin",
            ),
            (
                [{"deal_amount": "n/a"}, {"deal_amount": float("inf")}, {}],
                MarginPolicy(rate=0.3),
                "none of the 3 new customers has a won amount (deal_amount)",
            ),
        ],
        ids=["no customers", "no rate", "no usable amount"],
    )
    def test_what_cannot_be_computed_is_null_with_the_reason(
        self, profiles, policy: MarginPolicy, reason: str
    ) -> None:
        assert margin_of(profiles, policy) == Figure(None, reason)
