"""``leadsync check --online`` for Salesforce: the mapping against the describe of Lead and
Contact, answered in Salesforce's shapes through ``responses`` (simple-salesforce sends
through requests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from simple_salesforce.api import Salesforce
from typer.testing import CliRunner

from adapters.salesforce.client import SalesforceApi
from adapters.salesforce.setup import MappingProblem, mapping_problems
from connector.cli import app
from connector.config import KeyLines
from connector.crm.mapping import CrmMapping, load_mapping
from connector.errors import ConfigError, FatalError
from tests.conftest import REPO_ROOT

INSTANCE = "https://sf.test"
VERSION = "62.0"
DEFAULT_MAPPING = REPO_ROOT / "mappings" / "salesforce.toml"
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)


def field(
    name: str,
    kind: str = "string",
    *,
    updateable: bool = True,
    length: int = 0,
    values: tuple[str, ...] = (),
    relationship: str | None = None,
    restricted: bool = False,
) -> dict[str, Any]:
    """One entry of a describe's ``fields``, with the keys Salesforce sends for it."""
    return {
        "name": name,
        "label": name.removesuffix("__c").replace("_", " "),
        "type": kind,
        "soapType": "xsd:string",
        "custom": name.endswith("__c"),
        "calculated": False,
        "updateable": updateable,
        "createable": updateable,
        "nillable": kind != "boolean",
        "length": length,
        "precision": 18 if kind == "double" else 0,
        "scale": 0,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": False,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in values
        ],
        "restrictedPicklist": restricted,
        "relationshipName": relationship,
        "referenceTo": [relationship] if relationship else [],
    }


def leadsync_fields() -> list[dict[str, Any]]:
    """The LeadSync_* custom fields mappings/salesforce.toml writes, as its comments say."""
    return [
        field("LeadSync_Score__c", "double"),
        field("LeadSync_Behaviour_Score__c", "double"),
        field("LeadSync_Fit_Score__c", "double"),
        field("LeadSync_Temperature__c", "picklist", length=255, values=("Cold", "Warm", "Hot")),
        field("LeadSync_Route__c", length=40),
        field("LeadSync_Treatment__c", length=80),
        field("LeadSync_Reasons__c", length=255),
        field("LeadSync_Scored_At__c", "datetime"),
        field("LeadSync_Stage__c", length=40),
    ]


def lead_fields() -> list[dict[str, Any]]:
    return [
        field("Id", "id", updateable=False, length=18),
        field("Email", "email", length=80),
        field("Title", length=128),
        field("NumberOfEmployees", "int"),
        field("Industry", "picklist", length=255, values=("Banking", "Retail")),
        field("Country", length=80),
        field("AnnualRevenue", "currency"),
        field("Phone", "phone", length=40),
        field("Status", "picklist", length=255, values=LEAD_STATUSES, restricted=True),
        field("Rating", "picklist", length=255, values=("Hot", "Warm", "Cold")),
        field("IsConverted", "boolean", updateable=False),
        field(
            "ConvertedContactId",
            "reference",
            updateable=False,
            length=18,
            relationship="ConvertedContact",
        ),
        *leadsync_fields(),
        field("LeadSync_BANT_Budget__c", "boolean"),
        field("LeadSync_BANT_Authority__c", "boolean"),
        field("LeadSync_BANT_Need__c", "boolean"),
        field("LeadSync_BANT_Timing__c", "boolean"),
    ]


def contact_fields() -> list[dict[str, Any]]:
    return [
        field("Id", "id", updateable=False, length=18),
        field("Email", "email", length=80),
        field("Title", length=128),
        field("MailingCountry", length=80),
        field("Phone", "phone", length=40),
        field("AccountId", "reference", length=18, relationship="Account"),
        *leadsync_fields(),
    ]


def describe(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "custom": False,
        "queryable": True,
        "updateable": True,
        "fields": fields,
        "urls": {"describe": f"/services/data/v{VERSION}/sobjects/{name}/describe"},
    }


def describe_url(sobject: str) -> str:
    return f"{INSTANCE}/services/data/v{VERSION}/sobjects/{sobject}/describe"


def changed(fields: list[dict[str, Any]], which: str, **changes: Any) -> list[dict[str, Any]]:
    return [{**item, **changes} if item["name"] == which else item for item in fields]


def without(fields: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    kept = [item for item in fields if item["name"] != name]
    assert len(kept) == len(fields) - 1, f"no field {name} to remove"
    return kept


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def serve(
    mocked: responses.RequestsMock,
    lead: list[dict[str, Any]] | None = None,
    contact: list[dict[str, Any]] | None = None,
) -> None:
    for name, fields in (("Lead", lead), ("Contact", contact)):
        mocked.get(
            describe_url(name),
            json=describe(
                name,
                fields
                if fields is not None
                else (lead_fields() if name == "Lead" else contact_fields()),
            ),
            headers={"Sforce-Limit-Info": "api-usage=10/100000"},
        )


def api() -> SalesforceApi:
    return SalesforceApi(Salesforce(instance_url=INSTANCE, session_id="token", version=VERSION))


def problems_of(mapping: CrmMapping) -> list[MappingProblem]:
    return mapping_problems(api(), mapping)


def line_in(path: Path, text: str) -> int:
    """The 1-based line of ``path`` that starts with ``text`` (stripped)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    matches = [number for number, line in enumerate(lines, start=1) if line.startswith(text)]
    assert len(matches) == 1, (text, matches)
    return matches[0]


def line_of(path: Path, key: tuple[str, ...]) -> int | None:
    return KeyLines(path.read_text(encoding="utf-8")).line_of(list(key))


# -- the whole mapping against a matching org ----------------------------------------------------


def test_an_org_with_every_field_has_no_problem_and_costs_one_describe_per_object(
    mocked: responses.RequestsMock,
) -> None:
    serve(mocked)
    client = api()
    assert mapping_problems(client, load_mapping(DEFAULT_MAPPING)) == []
    assert client.calls == 2
    assert [call.request.url for call in mocked.calls] == [
        describe_url("Lead"),
        describe_url("Contact"),
    ]


# -- written fields -------------------------------------------------------------------------------


def test_a_custom_field_missing_on_contact_only_is_named_with_where_to_create_it(
    mocked: responses.RequestsMock,
) -> None:
    serve(mocked, contact=without(contact_fields(), "LeadSync_Reasons__c"))
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("fields", "reasons")]
    message = problems[0].message
    assert "Contact has no field 'LeadSync_Reasons__c'" in message
    assert "hidden from the integration user by field-level security" in message
    assert "Setup > Object Manager > Contact > Fields & Relationships" in message
    assert "Long Text Area(1000)" in message
    assert "Object Manager > Lead" not in message
    assert line_of(DEFAULT_MAPPING, problems[0].key) == line_in(DEFAULT_MAPPING, "reasons ")


def test_a_read_only_field_is_reported_on_its_object(mocked: responses.RequestsMock) -> None:
    serve(mocked, lead=changed(lead_fields(), "LeadSync_Score__c", updateable=False))
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("fields", "score")]
    assert "Lead.LeadSync_Score__c is read-only for the integration user" in problems[0].message
    assert "Set Field-Level Security" in problems[0].message


def test_a_score_field_of_text_type_is_reported_with_the_type_to_choose(
    mocked: responses.RequestsMock,
) -> None:
    serve(
        mocked,
        lead=changed(lead_fields(), "LeadSync_Fit_Score__c", type="string", length=18),
        contact=changed(contact_fields(), "LeadSync_Fit_Score__c", type="string", length=18),
    )
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("fields", "fit_score")] * 2
    lead, contact = (problem.message for problem in problems)
    assert lead.startswith("Lead.LeadSync_Fit_Score__c is a string field")
    assert contact.startswith("Contact.LeadSync_Fit_Score__c is a string field")
    assert "Number(18, 0)" in lead
    assert "double" in lead


def test_a_temperature_picklist_without_hot_is_reported_at_the_hot_line(
    mocked: responses.RequestsMock,
) -> None:
    serve(
        mocked,
        lead=changed(
            lead_fields(),
            "LeadSync_Temperature__c",
            picklistValues=[
                {"value": "Cold", "label": "Cold", "active": True},
                {"value": "Warm", "label": "Warm", "active": True},
                {"value": "Hot", "label": "Hot", "active": False},
            ],
        ),
        contact=changed(
            contact_fields(),
            "LeadSync_Temperature__c",
            picklistValues=[{"value": "Cold", "active": True}, {"value": "Warm", "active": True}],
            restrictedPicklist=True,
        ),
    )
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("temperatures", "hot")] * 2
    lead, contact = (problem.message for problem in problems)
    assert "Lead.LeadSync_Temperature__c has an inactive value 'Hot'" in lead
    assert "Contact.LeadSync_Temperature__c has no value 'Hot'" in contact
    assert "active values: Cold, Warm" in contact
    assert "Salesforce would refuse the write" in contact
    assert line_of(DEFAULT_MAPPING, problems[0].key) == line_in(DEFAULT_MAPPING, "hot ")


def test_an_opt_in_lead_status_mapping_with_a_value_the_org_lacks(
    mocked: responses.RequestsMock, tmp_path: Path
) -> None:
    path = tmp_path / "salesforce.toml"
    path.write_text(
        """crm = "salesforce"
objects = ["Lead", "Contact"]

[fields]
score = "LeadSync_Score__c"

[temperatures]
cold = "Cold"
warm = "Warm"
hot  = "Hot"

[object_fields.Lead]
temperature = "Rating"
stage       = "Status"

[object_stages.Lead]
lead      = "Open - Not Contacted"
mql       = "Working - Contacted"
nurturing = "Nurturing"
""",
        encoding="utf-8",
    )
    serve(mocked)
    problems = problems_of(load_mapping(path))
    # Rating offers Hot/Warm/Cold: the temperatures fit; Status lacks one stage's value.
    assert [problem.key for problem in problems] == [("object_stages", "Lead", "nurturing")]
    message = problems[0].message
    assert "the picklist Lead.Status has no value 'Nurturing'" in message
    assert "active values: " + ", ".join(LEAD_STATUSES) in message
    assert "Setup > Object Manager > Lead > Fields & Relationships > Status > Values" in message
    assert line_of(path, problems[0].key) == line_in(path, "nurturing ")


def test_a_stage_value_longer_than_its_text_field(mocked: responses.RequestsMock) -> None:
    serve(mocked, contact=changed(contact_fields(), "LeadSync_Stage__c", length=9))
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("stages", "disqualified")]
    assert "more than Contact.LeadSync_Stage__c holds (9)" in problems[0].message
    assert "STRING_TOO_LONG" in problems[0].message


# -- read fields ----------------------------------------------------------------------------------


def test_a_missing_profile_field_and_relationship_are_named_at_their_lines(
    mocked: responses.RequestsMock,
) -> None:
    serve(
        mocked,
        contact=changed(
            without(contact_fields(), "MailingCountry"), "AccountId", relationshipName="Company"
        ),
    )
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    keys = [problem.key for problem in problems]
    assert keys == [
        ("profile", "Contact.Account.NumberOfEmployees"),
        ("profile", "Contact.Account.Industry"),
        ("profile", "Contact.MailingCountry"),
        ("profile", "Contact.Account.AnnualRevenue"),
    ]
    by_key = {problem.key: problem.message for problem in problems}
    assert "Contact has no field 'MailingCountry'" in by_key[("profile", "Contact.MailingCountry")]
    assert (
        "Contact has no relationship 'Account'" in by_key[("profile", "Contact.Account.Industry")]
    )
    assert line_of(DEFAULT_MAPPING, ("profile", "Contact.MailingCountry")) == line_in(
        DEFAULT_MAPPING, '"Contact.MailingCountry"'
    )


def test_a_field_spelled_in_another_case_is_found_as_salesforce_finds_it(
    mocked: responses.RequestsMock, tmp_path: Path
) -> None:
    path = tmp_path / "salesforce.toml"
    path.write_text(
        DEFAULT_MAPPING.read_text(encoding="utf-8")
        .replace('"LeadSync_Score__c"', '"leadsync_score__c"')
        .replace('"Lead.Title"', '"Lead.title"'),
        encoding="utf-8",
    )
    # Read-only on Lead: found under the other spelling, so checked, and named as the
    # org spells it.
    serve(mocked, lead=changed(lead_fields(), "LeadSync_Score__c", updateable=False))
    problems = problems_of(load_mapping(path))
    assert [problem.key for problem in problems] == [("fields", "score")]
    assert problems[0].message.startswith("Lead.LeadSync_Score__c is read-only")


def test_lead_statuses_the_picklist_lacks_and_a_bant_field_not_a_checkbox(
    mocked: responses.RequestsMock,
) -> None:
    lead = changed(
        lead_fields(),
        "Status",
        picklistValues=[
            {"value": "Open - Not Contacted", "active": True},
            {"value": "Working - Contacted", "active": True},
            # Deactivated since: old Leads still hold it, so reading it stays fine.
            {"value": "Closed - Converted", "active": False},
        ],
    )
    serve(mocked, lead=changed(lead, "LeadSync_BANT_Need__c", type="string", length=10))
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [
        ("bant", "need"),
        ("lead_statuses", "Closed - Not Converted"),
    ]
    bant, status = (problem.message for problem in problems)
    assert "Lead.LeadSync_BANT_Need__c is a string field" in bant
    assert "Checkbox" in bant
    assert "the picklist Lead.Status has no value 'Closed - Not Converted'" in status
    assert line_of(DEFAULT_MAPPING, problems[1].key) == line_in(
        DEFAULT_MAPPING, '"Closed - Not Converted"'
    )


def test_a_status_stage_the_picklist_lacks(mocked: responses.RequestsMock) -> None:
    renamed = [value.replace("Closed - Converted", "Converted") for value in LEAD_STATUSES]
    serve(
        mocked,
        lead=changed(
            lead_fields(),
            "Status",
            picklistValues=[{"value": value, "active": True} for value in renamed],
        ),
    )
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("status_stages", "Closed - Converted")]
    assert "values: Open - Not Contacted, Working - Contacted, Converted," in problems[0].message
    assert line_of(DEFAULT_MAPPING, problems[0].key) == line_in(
        DEFAULT_MAPPING, '"Closed - Converted" = "sql"'
    )


def test_a_missing_bant_checkbox_says_to_create_it(mocked: responses.RequestsMock) -> None:
    serve(mocked, lead=without(lead_fields(), "LeadSync_BANT_Timing__c"))
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("bant", "timing")]
    assert "Lead has no field 'LeadSync_BANT_Timing__c'" in problems[0].message
    assert "Fields & Relationships > New, as Checkbox" in problems[0].message


def test_a_missing_lead_status_field_is_one_problem(mocked: responses.RequestsMock) -> None:
    serve(mocked, lead=changed(lead_fields(), "Status", name="Stage__c"))
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("lead_status_property",)]
    assert "Lead has no field 'Status'" in problems[0].message
    assert line_of(DEFAULT_MAPPING, ("lead_status_property",)) == line_in(
        DEFAULT_MAPPING, "lead_status_property"
    )


# -- objects --------------------------------------------------------------------------------------


def test_an_object_the_user_cannot_see_is_one_problem_at_objects(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(describe_url("Lead"), json=describe("Lead", lead_fields()))
    mocked.get(
        describe_url("Contact"),
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )
    problems = problems_of(load_mapping(DEFAULT_MAPPING))
    assert [problem.key for problem in problems] == [("objects",)]
    assert "the org has no object 'Contact', or the integration user cannot see it" in (
        problems[0].message
    )


def test_a_refused_describe_stops_the_check_instead_of_blaming_the_mapping(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(
        describe_url("Lead"),
        status=403,
        json=[{"errorCode": "API_DISABLED_FOR_ORG", "message": "API is not enabled"}],
    )
    with pytest.raises(FatalError, match="API_DISABLED_FOR_ORG"):
        problems_of(load_mapping(DEFAULT_MAPPING))


# -- through the CLI ------------------------------------------------------------------------------


def test_check_online_names_the_line_of_a_renamed_field(
    mocked: responses.RequestsMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    (folder / "mappings").mkdir(parents=True)
    config = folder / "config.toml"
    config.write_text("[crm.salesforce]\n", encoding="utf-8")
    original = 'treatment          = "LeadSync_Treatment__c"'
    text = DEFAULT_MAPPING.read_text(encoding="utf-8")
    assert original in text
    mapping = folder / "mappings" / "salesforce.toml"
    mapping.write_text(
        text.replace(original, 'treatment          = "LeadSync_Treatement__c"'), encoding="utf-8"
    )
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "00Dxx!setup-check-token")
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", INSTANCE)
    serve(mocked)

    result = CliRunner().invoke(app, ["--config", str(config), "check", "--online"])

    assert result.exit_code != 0
    error = result.exception
    assert isinstance(error, ConfigError), result.output
    expected = line_in(mapping, 'treatment          = "LeadSync_Treatement__c"')
    assert error.line == expected
    assert str(error).startswith(f"mappings/salesforce.toml:{expected}: [fields.treatment] ")
    assert "Lead has no field 'LeadSync_Treatement__c'" in str(error)
    # Contact lacks it too: listed below the first, at the same line.
    assert f"mappings/salesforce.toml:{expected}: [fields.treatment] Contact has no field" in (
        str(error)
    )
    assert [call.request.headers["Authorization"] for call in mocked.calls] == [
        "Bearer 00Dxx!setup-check-token",
        "Bearer 00Dxx!setup-check-token",
    ]


def test_check_online_passes_against_a_matching_org(
    mocked: responses.RequestsMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    (folder / "mappings").mkdir(parents=True)
    config = folder / "config.toml"
    config.write_text("[crm.salesforce]\n", encoding="utf-8")
    # check goes on to the offline checks, which read both default mapping files.
    for name in ("salesforce.toml", "hubspot.toml"):
        (folder / "mappings" / name).write_text(
            (REPO_ROOT / "mappings" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "00Dxx!setup-check-token")
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", INSTANCE)
    serve(mocked)

    result = CliRunner().invoke(app, ["--config", str(config), "check", "--online"])

    assert result.exception is None, result.exception
    assert "online     ok  salesforce" in result.output
    assert len(mocked.calls) == 2
