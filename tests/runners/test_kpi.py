"""`leadsync kpi`'s figures on a small store whose every answer is worked out by hand
below: lead starts, visitors, stage dates, costs, won amounts, margin, ROI, and the rows
by month and by campaign. On real SQLite and the real PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.config import Settings, load_settings
from connector.errors import ConfigError
from connector.runners.kpi import KpiAsked, kpi_of
from connector.settings.kpi import KpiSettings
from connector.store.schema import contacts, events, identities, scores, stage_history

TODAY = date(2026, 12, 7)
SEPTEMBER_AND_OCTOBER = KpiAsked(since=date(2026, 9, 1), until=date(2026, 10, 31))
COSTS = """campaign,month,cost
q3-webinar,2026-09,1000
q3-webinar,2026-10,500
spring-ads,2026-09,250
spring-ads,2026-11,999
summer,2026-08,300
"""


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Person:
    """One contact as the test writes it: its keys, events and stage history rows."""

    email: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    profile: dict[str, object] = field(default_factory=dict)
    profile_at: str | None = None
    # (kind, occurred_at, source, url, attributes)
    events: list[tuple[str, str, str, str | None, dict[str, object]]] = field(default_factory=list)
    stages: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, at)
    temperature: str | None = None


def _store(engine: Engine, people: dict[str, Person]) -> dict[str, int]:
    """Write ``people`` through the store's tables; their contact ids by name."""
    ids: dict[str, int] = {}
    created = _at("2026-12-01T00:00:00")
    with engine.begin() as connection:
        for number, (name, person) in enumerate(people.items()):
            contact_id = connection.execute(
                sa.insert(contacts)
                .values(
                    email=person.email,
                    profile=person.profile,
                    profile_at=_at(person.profile_at) if person.profile_at else None,
                    created_at=created,
                )
                .returning(contacts.c.id)
            ).scalar_one()
            ids[name] = contact_id
            keys = {**({"email": person.email} if person.email else {}), **person.keys}
            for namespace, value in keys.items():
                connection.execute(
                    sa.insert(identities).values(
                        namespace=namespace,
                        value=value,
                        contact_id=contact_id,
                        source="test",
                        linked_at=created,
                    )
                )
            for index, (kind, occurred_at, source, url, attributes) in enumerate(person.events):
                connection.execute(
                    sa.insert(events).values(
                        source=source,
                        source_event_id=f"{number}-{index}",
                        kind=kind,
                        occurred_at=_at(occurred_at),
                        contact_id=contact_id,
                        url=url,
                        attributes=attributes,
                    )
                )
            for from_stage, to_stage, at in person.stages:
                row: dict[str, object] = {
                    "contact_id": contact_id,
                    "at": _at(at),
                    "from_stage": from_stage,
                    "to_stage": to_stage,
                    "reason": "test",
                }
                if "recorded_at" in stage_history.c:  # the column migration 0007 adds
                    row["recorded_at"] = created
                connection.execute(sa.insert(stage_history).values(**row))
            if person.temperature is not None:
                connection.execute(
                    sa.insert(scores).values(
                        contact_id=contact_id,
                        score=1.0,
                        behaviour_score=1.0,
                        fit_score=0.0,
                        temperature=person.temperature,
                        stage="lead",
                        reasons="",
                        rules_hash="test",
                        scored_seq=0,
                        scored_at=created,
                    )
                )
    return ids


PEOPLE = {
    # A lead of September (first event 09-03, a campaign's e-mail), MQL in September,
    # SQL and customer in October; won 10,000.
    "alice": Person(
        email="alice@acme.example",
        profile={"deal_won": True, "deal_amount": 10000},
        events=[
            ("email_click", "2026-09-03T09:00:00", "mailer", None, {"campaign": "q3-webinar"}),
            ("page_view", "2026-10-01T09:00:00", "web", "https://acme.example/pricing", {}),
        ],
        stages=[
            ("lead", "mql", "2026-09-10T12:00:00"),
            ("mql", "sql", "2026-10-02T12:00:00"),
            ("sql", "customer", "2026-10-20T12:00:00"),
        ],
        temperature="hot",
    ),
    # A lead of September landing from a tagged link: first touch spring-ads, though a
    # later e-mail names q3-webinar. Won "2500" (text, as some CRMs give it).
    "bob": Person(
        email="bob@acme.example",
        profile={"deal_won": True, "deal_amount": "2500"},
        events=[
            (
                "page_view",
                "2026-09-15T08:00:00",
                "web",
                "https://acme.example/?utm_campaign=spring-ads&utm_medium=cpc",
                {},
            ),
            ("email_click", "2026-09-20T08:00:00", "mailer", None, {"campaign": "q3-webinar"}),
        ],
        stages=[
            ("lead", "mql", "2026-10-05T12:00:00"),
            ("mql", "sql", "2026-10-10T12:00:00"),
            ("sql", "customer", "2026-10-25T12:00:00"),
        ],
        temperature="hot",
    ),
    # A lead of August (not of the period), MQL twice in it: September, and again in
    # October after nurturing.
    "carol": Person(
        email="carol@acme.example",
        events=[("email_open", "2026-08-20T10:00:00", "mailer", None, {"campaign": "summer"})],
        stages=[
            ("lead", "mql", "2026-09-05T12:00:00"),
            ("mql", "nurturing", "2026-09-25T12:00:00"),
            ("nurturing", "mql", "2026-10-12T12:00:00"),
        ],
        temperature="warm",
    ),
    # A lead of October with no campaign; MQL on its last day.
    "dan": Person(
        email="dan@acme.example",
        events=[("form_submit", "2026-10-07T10:00:00", "forms", None, {"form": "contact"})],
        stages=[("lead", "mql", "2026-10-31T23:59:00")],
        temperature="cold",
    ),
    # Known by a CRM id alone, no event: a lead from its profile's time (09-12); SQL and
    # customer in October with no won amount.
    "eve": Person(
        keys={"hubspot": "5101"},
        profile={"deal_won": True},
        profile_at="2026-09-12T10:00:00",
        stages=[("lead", "sql", "2026-10-14T12:00:00"), ("sql", "customer", "2026-10-15T12:00:00")],
    ),
    # An anonymous visitor from a Matomo campaign visit: a visitor, never a lead.
    "visitor": Person(
        keys={"matomo_visitor": "a1b2c3"},
        events=[
            (
                "site_visit",
                "2026-09-04T10:00:00",
                "matomo",
                None,
                {"referrer_type": "campaign", "referrer_name": "spring-ads"},
            )
        ],
    ),
    # After the period: a lead of November, an MQL of November.
    "frank": Person(
        email="frank@acme.example",
        events=[("page_view", "2026-11-02T10:00:00", "web", "https://acme.example/", {})],
        stages=[("lead", "mql", "2026-11-01T00:00:00")],
    ),
}


@pytest.fixture
def store(engine: Engine) -> Engine:
    _store(engine, PEOPLE)
    return engine


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "costs.csv").write_text(COSTS, encoding="utf-8")
    return Settings(kpi=KpiSettings(costs=Path("costs.csv"), margin_rate=0.4), base_dir=tmp_path)


def _kpi(engine: Engine, settings: Settings, asked: KpiAsked = SEPTEMBER_AND_OCTOBER):
    with engine.connect() as connection:
        return kpi_of(connection, settings, asked, today=TODAY)


def _figures(report) -> dict[str, object]:
    """The report's figures without their basis texts."""
    return {key: value for key, value in report.items() if key not in ("basis", "by")}


class TestWholePeriod:
    def test_counts_rates_costs_margin_and_roi(self, store: Engine, settings: Settings) -> None:
        """Leads: alice, bob, dan and eve (by its profile); carol's first event is of
        August, frank's of November, the visitor is anonymous. Visitors: alice, bob and
        the visitor. MQLs: alice, bob, carol (twice, counted once), dan. SQLs: alice,
        bob, eve. Customers: alice, bob, eve. Cost 1000 + 500 + 250. Margin 0.4 * (10000
        + 2500); eve has no amount. ROI (5000 - 1750) / 1750."""
        report = _kpi(store, settings)
        assert _figures(report) == {
            "period": {"since": "2026-09-01", "until": "2026-10-31"},
            "leads": 4,
            "visitors": 3,
            "mqls": 4,
            "sqls": 3,
            "customers": 3,
            "conversion": {
                "visitor_to_lead": 4 / 3,
                "lead_to_mql": 1.0,
                "mql_to_sql": 0.75,
                "sql_to_customer": 1.0,
                "lead_to_customer": 0.75,
            },
            "cost": 1750.0,
            "cpl": 437.5,
            "cpa": 1750 / 3,
            "margin": pytest.approx(5000.0),
            "roi": pytest.approx(3250 / 1750),
            "by_dimension": None,
        }
        assert report["by"] == []

    def test_each_figure_says_what_it_was_computed_from(
        self, store: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        basis = _kpi(store, settings)["basis"]
        costs = tmp_path / "costs.csv"
        assert basis["cost"] == (
            f"1750: 3 row(s) of {costs} for 2026-09, 2026-10 (campaigns q3-webinar, spring-ads)"
        )
        assert basis["margin"] == (
            "sum over the period's new customers: 2 as won amount (deal_amount) × margin_rate "
            "0.4; 1 of 3 customers have no won amount"
        )
        assert basis["cpl"] == "cost / leads (1750 / 4)"
        assert basis["cpa"] == "cost / customers (1750 / 3)"
        assert basis["roi"] == "(margin − cost) / cost ((5000 − 1750) / 1750)"
        assert basis["conversion.mql_to_sql"].startswith("sqls / mqls of the same period (3 / 4)")
        assert set(basis) == {
            "period",
            "leads",
            "visitors",
            "mqls",
            "sqls",
            "customers",
            "conversion.visitor_to_lead",
            "conversion.lead_to_mql",
            "conversion.mql_to_sql",
            "conversion.sql_to_customer",
            "conversion.lead_to_customer",
            "cost",
            "cpl",
            "cpa",
            "margin",
            "roi",
        }

    def test_a_month_the_period_covers_in_part_counts_whole(
        self, store: Engine, settings: Settings
    ) -> None:
        """From 09-15: September's costs count whole (the file knows months only), and
        the basis says so; alice and eve started before the 15th."""
        report = _kpi(store, settings, KpiAsked(date(2026, 9, 15), date(2026, 10, 31)))
        assert (report["leads"], report["cost"]) == (2, 1750.0)
        assert report["basis"]["cost"].endswith(
            "; counted whole though the period covers part of 2026-09"
        )

    def test_since_defaults_to_the_first_event_and_until_to_today(
        self, store: Engine, settings: Settings
    ) -> None:
        """From carol's first event (08-20) to today: frank is a lead too, and every
        costs row counts; the months without a row are named."""
        report = _kpi(store, settings, KpiAsked())
        assert report["period"] == {"since": "2026-08-20", "until": "2026-12-07"}
        assert (report["leads"], report["mqls"], report["cost"]) == (6, 5, 3049.0)
        assert report["basis"]["cost"].endswith("; no row for 2026-12, counted as nothing spent")

    def test_without_a_costs_file_cost_and_what_depends_on_it_are_null(
        self, store: Engine, tmp_path: Path
    ) -> None:
        report = _kpi(store, Settings(kpi=KpiSettings(margin_rate=0.4), base_dir=tmp_path))
        no_file = "no costs file: set [kpi] costs to a CSV of campaign,month,cost"
        assert (report["cost"], report["cpl"], report["cpa"], report["roi"]) == (
            None,
            None,
            None,
            None,
        )
        assert report["margin"] == pytest.approx(5000.0)
        assert report["basis"]["cost"] == no_file
        assert report["basis"]["cpl"] == f"no cost: {no_file}"
        assert report["basis"]["roi"] == f"no cost: {no_file}"

    def test_without_a_margin_rate_margin_and_roi_are_null(
        self, store: Engine, settings: Settings
    ) -> None:
        report = _kpi(
            store, settings.model_copy(update={"kpi": KpiSettings(costs=Path("costs.csv"))})
        )
        assert (report["margin"], report["roi"], report["cost"]) == (None, None, 1750.0)
        assert report["basis"]["margin"].startswith(
            "neither [kpi] margin_rate nor [kpi] margin_field is set"
        )

    def test_a_period_with_nothing_gives_nulls_not_zeros(
        self, store: Engine, settings: Settings
    ) -> None:
        report = _kpi(store, settings, KpiAsked(date(2026, 7, 1), date(2026, 7, 31)))
        assert _figures(report) == {
            "period": {"since": "2026-07-01", "until": "2026-07-31"},
            "leads": 0,
            "visitors": 0,
            "mqls": 0,
            "sqls": 0,
            "customers": 0,
            "conversion": dict.fromkeys(
                (
                    "visitor_to_lead",
                    "lead_to_mql",
                    "mql_to_sql",
                    "sql_to_customer",
                    "lead_to_customer",
                )
            ),
            "cost": None,
            "cpl": None,
            "cpa": None,
            "margin": None,
            "roi": None,
            "by_dimension": None,
        }
        assert report["basis"]["cost"] == (
            f"{settings.base_dir / 'costs.csv'} has no row for the months 2026-07 to 2026-07"
        )
        assert report["basis"]["conversion.visitor_to_lead"] == "no visitors in the period"

    def test_a_store_without_web_analytics_has_no_visitor_count(
        self, engine: Engine, settings: Settings
    ) -> None:
        _store(
            engine,
            {
                "alice": PEOPLE["alice"].__class__(
                    email="alice@acme.example",
                    events=[("email_click", "2026-09-03T09:00:00", "mailer", None, {})],
                )
            },
        )
        report = _kpi(engine, settings)
        assert (report["leads"], report["visitors"]) == (1, None)
        assert report["conversion"]["visitor_to_lead"] is None
        assert report["basis"]["visitors"].startswith("no web analytics events stored")
        assert report["basis"]["conversion.visitor_to_lead"].startswith(
            "no web analytics events stored"
        )


def _rows(report) -> list[dict[str, object]]:
    return [
        {
            key: row[key]
            for key in (
                "group",
                "leads",
                "visitors",
                "mqls",
                "sqls",
                "customers",
                "cost",
                "cpl",
                "cpa",
                "margin",
                "roi",
            )
        }
        for row in report["by"]
    ]


class TestByMonth:
    def test_a_row_per_month_counts_each_date_in_its_month(
        self, store: Engine, settings: Settings
    ) -> None:
        """September: leads alice, bob, eve; visitors bob and the visitor; MQLs alice and
        carol; costs 1000 + 250. October: lead dan; visitor alice; MQLs bob, carol (again)
        and dan; SQLs alice, bob, eve; customers alice, bob, eve; cost 500; margin 5000."""
        report = _kpi(store, settings, KpiAsked(date(2026, 9, 1), date(2026, 10, 31), "month"))
        assert report["by_dimension"] == "month"
        assert _rows(report) == [
            {
                "group": "2026-09",
                "leads": 3,
                "visitors": 2,
                "mqls": 2,
                "sqls": 0,
                "customers": 0,
                "cost": 1250.0,
                "cpl": 1250 / 3,
                "cpa": None,
                "margin": None,
                "roi": None,
            },
            {
                "group": "2026-10",
                "leads": 1,
                "visitors": 1,
                "mqls": 3,
                "sqls": 3,
                "customers": 3,
                "cost": 500.0,
                "cpl": 500.0,
                "cpa": 500 / 3,
                "margin": pytest.approx(5000.0),
                "roi": pytest.approx(9.0),
            },
        ]
        september, october = report["by"]
        assert september["period"] == {"since": "2026-09-01", "until": "2026-09-30"}
        assert october["period"] == {"since": "2026-10-01", "until": "2026-10-31"}
        assert september["basis"]["cpa"] == "no customers in the period"
        assert september["basis"]["margin"] == "no new customers in the period"
        assert october["conversion"]["lead_to_mql"] == 3.0
        # The whole period's figures stay on top.
        assert (report["leads"], report["mqls"]) == (4, 4)


class TestByCampaign:
    def test_first_touch_campaigns_with_their_own_costs(
        self, store: Engine, settings: Settings, tmp_path: Path
    ) -> None:
        """alice: q3-webinar (her first e-mail); bob and the visitor: spring-ads (bob's
        tagged landing page, the visitor's Matomo campaign visit), though bob's later
        e-mail names q3-webinar; carol: summer; dan and eve: none. spring-ads's
        November row and summer's August row are outside the period."""
        report = _kpi(store, settings, KpiAsked(date(2026, 9, 1), date(2026, 10, 31), "campaign"))
        assert _rows(report) == [
            {
                "group": "q3-webinar",
                "leads": 1,
                "visitors": 1,
                "mqls": 1,
                "sqls": 1,
                "customers": 1,
                "cost": 1500.0,
                "cpl": 1500.0,
                "cpa": 1500.0,
                "margin": pytest.approx(4000.0),
                "roi": pytest.approx(2500 / 1500),
            },
            {
                "group": "spring-ads",
                "leads": 1,
                "visitors": 2,
                "mqls": 1,
                "sqls": 1,
                "customers": 1,
                "cost": 250.0,
                "cpl": 250.0,
                "cpa": 250.0,
                "margin": pytest.approx(1000.0),
                "roi": pytest.approx(3.0),
            },
            {
                "group": "summer",
                "leads": 0,
                "visitors": 0,
                "mqls": 1,
                "sqls": 0,
                "customers": 0,
                "cost": None,
                "cpl": None,
                "cpa": None,
                "margin": None,
                "roi": None,
            },
            {
                "group": "(none)",
                "leads": 2,
                "visitors": 0,
                "mqls": 1,
                "sqls": 1,
                "customers": 1,
                "cost": None,
                "cpl": None,
                "cpa": None,
                "margin": None,
                "roi": None,
            },
        ]
        summer, none = report["by"][2], report["by"][3]
        assert summer["basis"]["cost"] == (
            f"{tmp_path / 'costs.csv'} has no row of campaign 'summer' for the months "
            "2026-09 to 2026-10"
        )
        assert none["basis"]["cost"] == (
            "costs are kept per campaign, and these contacts' events name none"
        )
        assert (
            none["basis"]["margin"] == "none of the 1 new customers has a won amount (deal_amount)"
        )
        assert report["by"][0]["basis"]["group"] == (
            "contacts whose first event naming a campaign names 'q3-webinar' (first touch)"
        )
        assert (report["cost"], report["leads"]) == (1750.0, 4)


class TestBySourceAndBand:
    def test_by_source_of_the_first_event_has_no_costs(
        self, store: Engine, settings: Settings
    ) -> None:
        """alice's first event came from the mailer, bob's from the web, dan's from the
        forms, the visitor's from Matomo; eve has none."""
        report = _kpi(store, settings, KpiAsked(date(2026, 9, 1), date(2026, 10, 31), "source"))
        assert [
            (row["group"], row["leads"], row["visitors"], row["cost"]) for row in report["by"]
        ] == [
            ("forms", 1, 0, None),
            ("mailer", 1, 1, None),
            ("matomo", 0, 1, None),
            ("web", 1, 1, None),
            ("(none)", 1, 0, None),
        ]
        assert report["by"][0]["basis"]["cost"] == "costs are kept per campaign, not per source"

    def test_by_band_of_the_current_temperature(self, store: Engine, settings: Settings) -> None:
        report = _kpi(store, settings, KpiAsked(date(2026, 9, 1), date(2026, 10, 31), "band"))
        assert [
            (row["group"], row["leads"], row["mqls"], row["customers"], row["cost"])
            for row in report["by"]
        ] == [
            ("cold", 1, 1, 0, None),
            ("hot", 2, 2, 2, None),
            ("warm", 0, 1, 0, None),
            ("(unscored)", 1, 0, 1, None),
        ]


class TestCostsFile:
    def test_a_missing_file_names_the_key_and_the_path(self, store: Engine, tmp_path: Path) -> None:
        config = tmp_path / "config.toml"
        config.write_text('[kpi]\nmargin_rate = 0.3\ncosts = "spend/costs.csv"\n', encoding="utf-8")
        settings = load_settings(config)
        expected = str(tmp_path / "spend" / "costs.csv")
        with pytest.raises(ConfigError) as raised:
            _kpi(store, settings)
        assert str(raised.value).startswith(
            f"{config}:3: [kpi.costs] names {expected!r}, which is not a file; write the CSV"
        )
        assert raised.value.key == "kpi.costs"

    def test_a_bad_row_names_the_file_and_the_line(self, store: Engine, settings: Settings) -> None:
        costs = settings.base_dir / "costs.csv"
        costs.write_text("campaign,month,cost\nq3-webinar,2026-09,1000\nq3-webinar,09/2026,5\n")
        with pytest.raises(ConfigError, match=rf"^{costs}:3: '09/2026' is not a month"):
            _kpi(store, settings)


class TestEmptyStore:
    def test_an_empty_store_has_an_open_period_and_every_cost_row_up_to_today(
        self, engine: Engine, settings: Settings
    ) -> None:
        """No event: the period has no first day; the costs rows up to today (all five)
        count, and nothing divides by them."""
        report = _kpi(engine, settings, KpiAsked(by="month"))
        assert report["period"] == {"since": None, "until": "2026-12-07"}
        assert (report["leads"], report["visitors"], report["cost"], report["cpl"]) == (
            0,
            None,
            3049.0,
            None,
        )
        assert report["by"] == []
        assert report["basis"]["leads"].endswith("is dated up to 2026-12-07")
