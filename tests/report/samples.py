"""Hand-made data of every shape the report draws: what `kpi`, `calibrate` and `simulate`
print with --json, and the store's snapshot. Figures chosen so each chart has something
to show, with the nulls a real store gives (a month without costs, a band with too few
outcomes)."""

from __future__ import annotations

AS_OF = "2026-12-07T12:00:00+00:00"

MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"]
_LEADS = [180, 210, 260, 240, 290, 80]
_MQLS = [40, 52, 71, 66, 80, 19]
_SQLS = [14, 20, 28, 25, 31, 6]
_CUSTOMERS = [4, 6, 9, 8, 11, 2]
_COSTS = [2400.0, 2650.0, 3100.0, 2900.0, 3400.0, None]


def _month_row(index: int) -> dict[str, object]:
    month, leads, cost = MONTHS[index], _LEADS[index], _COSTS[index]
    customers = _CUSTOMERS[index]
    return {
        "group": month,
        "period": {"since": f"{month}-01", "until": f"{month}-28"},
        "leads": leads,
        "visitors": leads * 9,
        "mqls": _MQLS[index],
        "sqls": _SQLS[index],
        "customers": customers,
        "conversion": {
            "visitor_to_lead": 1 / 9,
            "lead_to_mql": _MQLS[index] / leads,
            "mql_to_sql": _SQLS[index] / _MQLS[index],
            "sql_to_customer": customers / _SQLS[index],
            "lead_to_customer": customers / leads,
        },
        "cost": cost,
        "cpl": None if cost is None else cost / leads,
        "cpa": None if cost is None else cost / customers,
        "margin": None,
        "roi": None,
        "basis": {"cost": "no costs row for this month"} if cost is None else {},
    }


KPI: dict[str, object] = {
    "period": {"since": "2026-07-01", "until": "2026-12-07"},
    "leads": 1260,
    "visitors": 11340,
    "mqls": 328,
    "sqls": 124,
    "customers": 40,
    "conversion": {
        "visitor_to_lead": 1260 / 11340,
        "lead_to_mql": 328 / 1260,
        "mql_to_sql": 124 / 328,
        "sql_to_customer": 40 / 124,
        "lead_to_customer": 40 / 1260,
    },
    "cost": 14450.0,
    "cpl": 14450.0 / 1260,
    "cpa": 14450.0 / 40,
    "margin": None,
    "roi": None,
    "basis": {
        "leads": "known contacts whose first event is in the period",
        "visitors": "distinct contacts with a site_visit or page_view in the period",
        "mqls": "contacts that reached mql in the period (stage history)",
        "sqls": "contacts that reached sql in the period (stage history)",
        "customers": "contacts that became customers in the period",
        "conversion.visitor_to_lead": "leads / visitors of the same period",
        "conversion.lead_to_mql": "mqls / leads of the same period",
        "conversion.mql_to_sql": "sqls / mqls of the same period",
        "conversion.sql_to_customer": "customers / sqls of the same period",
        "conversion.lead_to_customer": "customers / leads of the same period",
        "cost": "costs.csv: 5 months (2026-07 to 2026-11), 3 campaigns",
        "cpl": "cost / leads",
        "cpa": "cost / customers",
        "margin": "no [kpi] margin_rate and no margin_field set",
        "roi": "needs the margin, which is null",
    },
    "by_dimension": "month",
    "by": [_month_row(index) for index in range(len(MONTHS))],
}

CALIBRATION: dict[str, object] = {
    "as_of": AS_OF,
    "horizon_days": 180,
    "min_outcomes": 30,
    "current": {"warm_from": 10, "hot_above": 20},
    "bands": [
        {
            "band": "cold",
            "outcomes": 820,
            "customers": 29,
            "rate": 29 / 820,
            "low": 0.0247,
            "high": 0.0504,
            "expected": 0.05,
            "note": None,
        },
        {
            "band": "warm",
            "outcomes": 240,
            "customers": 52,
            "rate": 52 / 240,
            "low": 0.1696,
            "high": 0.2724,
            "expected": 0.25,
            "note": None,
        },
        {
            "band": "hot",
            "outcomes": 18,
            "customers": 9,
            "rate": None,
            "low": None,
            "high": None,
            "expected": 0.5,
            "note": "18 outcomes, fewer than 30: no rate",
        },
    ],
    "buckets": [
        {
            "from": start,
            "to": start + 5,
            "outcomes": outcomes,
            "customers": customers,
            "rate": None if outcomes < 30 else customers / outcomes,
            "low": None if outcomes < 30 else max(customers / outcomes - 0.04, 0),
            "high": None if outcomes < 30 else customers / outcomes + 0.05,
            "note": f"{outcomes} outcomes, fewer than 30" if outcomes < 30 else None,
        }
        for start, outcomes, customers in (
            (-5, 40, 0),
            (0, 410, 10),
            (5, 370, 19),
            (10, 150, 25),
            (15, 90, 27),
            (20, 12, 6),
            (25, 6, 3),
        )
    ],
    "suggested": {
        "warm_from": 12.5,
        "hot_above": None,
        "targets": {"warm": 0.25, "hot": 0.5},
        "basis": {
            "warm_from": "the lowest bucket whose conversion reaches 25 %: 10 to under 15",
            "hot_above": "no bucket with 30 outcomes reaches 50 %",
        },
    },
    "unknown_outcomes": 311,
    "drift": {
        "since": "2026-09-01T08:00:00+00:00",
        "bands": {"cold": -0.004, "warm": 0.021, "hot": None},
        "warm_from": 2.5,
        "hot_above": None,
    },
}

_WEEKS = [
    ("2026-W38", "2026-09-14"),
    ("2026-W39", "2026-09-21"),
    ("2026-W40", "2026-09-28"),
    ("2026-W41", "2026-10-05"),
    ("2026-W42", "2026-10-12"),
    ("2026-W43", "2026-10-19"),
    ("2026-W44", "2026-10-26"),
    ("2026-W45", "2026-11-02"),
    ("2026-W46", "2026-11-09"),
    ("2026-W47", "2026-11-16"),
    ("2026-W48", "2026-11-23"),
    ("2026-W49", "2026-11-30"),
]
_BEFORE_MQLS = [14, 17, 15, 19, 16, 18, 21, 17, 20, 22, 19, 9]
_AFTER_MQLS = [10, 12, 11, 14, 11, 13, 15, 12, 14, 16, 13, 6]


def _move(number: int) -> dict[str, object]:
    score_before = 26.0 - number * 0.1
    return {
        "email": None if number == 3 else f"person{number}@client{number % 7}.example",
        "contact_id": 1000 + number,
        "score_before": score_before,
        "score_after": score_before - 6,
        "temperature_before": "hot",
        "temperature_after": "warm",
        "stage_before": "mql",
        "stage_after": "mql" if number % 4 else "lead",
        "lines": [
            {
                "rule": "pricing page view",
                "kind": "page_view",
                "occurred_at": "2026-11-03T09:14:00+00:00",
                "before": 6.0,
                "after": 3.0,
            },
            {
                "rule": "webinar attended",
                "kind": "webinar_attended",
                "occurred_at": "2026-10-21T15:00:00+00:00",
                "before": 5.0,
                "after": 2.0,
            },
        ]
        + (
            [
                {
                    "rule": "job title: student",
                    "kind": "fit",
                    "occurred_at": None,
                    "before": None,
                    "after": -4.0,
                }
            ]
            if number % 5 == 0
            else []
        ),
    }


SIMULATION: dict[str, object] = {
    "as_of": AS_OF,
    "contacts": 1260,
    "changed": {"score": 212, "temperature": 61, "stage": 15, "any": 212},
    "before": {
        "temperature": {"cold": 820, "warm": 300, "hot": 140},
        "stage": {
            "lead": 900,
            "mql": 200,
            "sql": 84,
            "customer": 40,
            "nurturing": 26,
            "disqualified": 10,
        },
    },
    "after": {
        "temperature": {"cold": 840, "warm": 341, "hot": 79},
        "stage": {
            "lead": 915,
            "mql": 185,
            "sql": 84,
            "customer": 40,
            "nurturing": 26,
            "disqualified": 10,
        },
    },
    "mql_per_week": [
        {"week": week, "start": start, "before": before, "after": after}
        for (week, start), before, after in zip(_WEEKS, _BEFORE_MQLS, _AFTER_MQLS, strict=True)
    ],
    "moves": [_move(number) for number in range(60)],
    "current": {"warm_from": 10, "hot_above": 20},
    "candidate": {"warm_from": 10, "hot_above": 26},
    "duration_s": 4.2,
}

SNAPSHOT: dict[str, object] = {
    "as_of": AS_OF,
    "warm_from": 10,
    "hot_above": 20,
    "stage_temperature": {
        "lead": {"cold": 760, "warm": 120, "hot": 20},
        "mql": {"cold": 10, "warm": 110, "hot": 80},
        "sql": {"cold": 4, "warm": 40, "hot": 40},
        "customer": {"cold": 20, "warm": 12, "hot": 8},
        "nurturing": {"cold": 16, "warm": 10, "hot": 0},
        "disqualified": {"cold": 10, "warm": 0, "hot": 0},
    },
    "histogram": {
        "width": 5,
        "bins": [
            {"from": start, "to": start + 5, "count": count}
            for start, count in zip(
                range(-10, 50, 5), [6, 34, 410, 360, 190, 110, 70, 40, 22, 12, 5, 1], strict=True
            )
        ],
    },
}
