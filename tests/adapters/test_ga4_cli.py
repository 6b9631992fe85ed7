"""The ga4 source from the command line, against the fake on 127.0.0.1: `pull` then
`explain` shows the points of the GA4 events on the CRM contact they name; `check` and
`check --online`; the service account's key never in the output, `--debug` included."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pytest_httpserver import HTTPServer

from adapters.ga4.settings import CREDENTIALS_ENV
from connector.errors import ExitCode
from tests.adapters.ga4_fake import DISCOVERY, PROPERTY, FakeGa4, service_account_file
from tests.cli.test_cli import add_source, cfg, clean_env, leadsync

__all__ = ["cfg"]

pytestmark = pytest.mark.skipif(
    not DISCOVERY.exists(), reason=f"GA4's discovery document is not at {DISCOVERY}"
)


@dataclass
class Project:
    config: Path
    fake: FakeGa4
    env: dict[str, str]
    pem: str

    def run(self, *args: str) -> tuple[int, str, str]:
        done = leadsync("--config", self.config, *args, cwd=self.config.parent, env=self.env)
        return done.returncode, done.stdout, done.stderr

    def key_lines(self) -> list[str]:
        return [line for line in self.pem.splitlines() if line and "PRIVATE" not in line]


def yesterday() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d")


@pytest.fixture
def project(cfg: Path, httpserver: HTTPServer, tmp_path: Path) -> Iterator[Project]:
    key_file, pem = service_account_file(tmp_path)
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    fake = FakeGa4(public_key=private.public_key())
    httpserver.expect_request(re.compile(r"/v1beta/.*")).respond_with_handler(fake.handler())
    # Ann filled in a form: the CRM's contact id the site sets in GA4 is hers.
    form = {
        "id": "form-1",
        "kind": "form_submit",
        "occurred_at": "2026-11-02T10:00:00Z",
        "email": "ann@example.com",
        "ids": {"hubspot": "501"},
    }
    add_source(cfg, [form])
    endpoint = httpserver.url_for("/").rstrip("/")
    with cfg.open("a", encoding="utf-8") as stream:
        stream.write(
            f'\n[sources.web]\ntype = "ga4"\nproperty_id = "{PROPERTY}"\n'
            f'user_dimension = "crm_id"\nid_namespace = "hubspot"\n'
            f'api_endpoint = "{endpoint}"\n\n[sources.web.events]\n'
            'generate_lead = "quote_request"\n'
        )
    env = clean_env(
        LEADSYNC_STORE_URL=f"sqlite:///{tmp_path / 'store.db'}", **{CREDENTIALS_ENV: str(key_file)}
    )
    yield Project(cfg, fake, env, pem)


def test_pull_then_explain_shows_the_ga4_events_points(project: Project) -> None:
    project.fake.counts = {
        (yesterday(), "501", "generate_lead"): 1,
        (yesterday(), "501", "page_view"): 2,
    }
    code, out, err = project.run("--debug", "pull", "--json")
    assert code == 0, err
    web = next(summary for summary in json.loads(out) if summary["source"] == "web")
    assert (web["read"], web["stored"]) == (3, 3)
    for line in project.key_lines():
        assert line not in out + err

    code, out, err = project.run("explain", "ann@example.com", "--json")
    assert code == 0, err
    explained = json.loads(out)
    (lead,) = [line for line in explained["lines"] if line["source"] == "web"]
    assert (lead["kind"], lead["points"]) == ("quote_request", 20.0)
    assert lead["occurred_at"].endswith("T00:00:00+00:00")  # the day, at 00:00 UTC
    assert explained["score"] == 25.0  # and the form's 5


def test_check_describes_and_check_online_names_what_the_property_lacks(
    project: Project,
) -> None:
    with project.config.open("a", encoding="utf-8") as stream:
        stream.write('tutorial_view = "email_sent"\n')  # into [sources.web.events]
    code, out, err = project.run("check")
    assert code == 0, err
    assert f"web (GA4 property {PROPERTY} as leadsync@" in out
    # A kind no rule scores: stored, never counted.
    assert "warning        sources.web.events.tutorial_view maps to email_sent" in out

    project.fake.metrics = ["eventCount", "keyEvents", "keyEvents:purchase"]
    code, out, err = project.run("check", "--online")
    assert code == 0, err
    assert "has customUser:crm_id" in out
    assert "not key events there" in out and "sources.web.events.generate_lead" in out
    assert "sources.web.events.page_view" not in out  # GA4's own events are not asked

    project.fake.dimensions = ["date", "eventName", "customUser:contact"]
    code, out, err = project.run("--debug", "check", "--online")
    assert code == int(ExitCode.CONFIG), out + err
    assert "customUser:crm_id" in err and "customUser:contact" in err
    assert "sources.web.user_dimension" in err
    for line in project.key_lines():
        assert line not in out + err


def test_a_refused_key_is_a_config_error_naming_the_variable(project: Project) -> None:
    # google-auth's session refreshes the credentials after a 401 and sends again, twice.
    for _ in range(3):
        project.fake.fail_next(401, "UNAUTHENTICATED", "Request had invalid authentication.")
    code, out, err = project.run("--debug", "pull", "web")
    assert code == int(ExitCode.CONFIG), out + err
    assert CREDENTIALS_ENV in err and "UNAUTHENTICATED" not in out
    for line in project.key_lines():
        assert line not in out + err


def test_a_broken_key_file_is_a_config_error_without_the_key(project: Project) -> None:
    key_file = Path(project.env[CREDENTIALS_ENV])
    key_file.write_text(key_file.read_text(encoding="utf-8")[:900], encoding="utf-8")
    code, out, err = project.run("--debug", "check")
    assert code == int(ExitCode.CONFIG), out + err
    assert f"{CREDENTIALS_ENV} names {key_file}, which is not JSON" in err
    for line in project.key_lines():
        assert line not in out + err
