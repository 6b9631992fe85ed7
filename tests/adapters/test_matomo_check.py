"""`leadsync check` for a matomo source: its keys validated with errors naming them, the
token's variable named when it is missing, the kinds its goals map to; and
`check --online` against a fake Matomo: the version, and each goal or custom dimension
the site does not have."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from adapters.matomo import ADAPTER
from connector.config import Settings, load_settings
from connector.errors import ConfigError
from connector.model import EventKind
from connector.plugins import source_context
from tests.adapters.matomo_fake import TOKEN, FakeMatomo

BASE_CONFIG = '[sources.web]\ntype = "matomo"\nurl = "https://matomo.example.com"\nsite_id = 1\n'


@pytest.fixture(autouse=True)
def _no_matomo_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MATOMO_"):
            monkeypatch.delenv(name)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def settings_of(tmp_path: Path, extra: str = "") -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(BASE_CONFIG + extra, encoding="utf-8")
    return load_settings(config)


def check(settings: Settings, *, online: bool = False) -> str:
    call = ADAPTER.check_online if online else ADAPTER.check
    assert call is not None
    return call(settings.sources["web"], source_context(settings, "web"))


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ('visitor_namespace = "matomo_browser"\n', "visitor_namespace", "must end in '_visitor'"),
        ('user_id_namespace = "crm_visitor"\n', "user_id_namespace", "anonymous visitor"),
        ('user_id_namespace = "Email"\n', "user_id_namespace", "not an identity namespace"),
        ('[sources.web.goals]\n"Quote request" = "quote"\n', "goals", "quote"),
        ("page_size = 0\n", "page_size", ""),
        ("site_idd = 2\n", "site_idd", ""),
    ],
)
def test_a_wrong_key_is_a_config_error_naming_it(
    tmp_path: Path, extra: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_of(tmp_path, extra)
    assert key in str(caught.value) and words in str(caught.value)


def test_a_missing_token_names_its_variable_and_a_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(tmp_path, 'token_env = "WEB_MATOMO_TOKEN"\n')
    with pytest.raises(ConfigError) as caught:
        check(settings)
    assert "WEB_MATOMO_TOKEN is not set" in str(caught.value)
    assert caught.value.key == "sources.web.token_env"

    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    monkeypatch.setenv("WEB_MATOMO_TOKEN_FILE", str(secret))
    described = check(settings)
    assert "https://matomo.example.com/index.php site 1" in described
    assert TOKEN not in described


def test_the_goals_mapped_kinds_are_declared(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path,
        '[sources.web.goals]\n"Quote request" = "quote_request"\n"7" = "webinar_registered"\n',
    )
    assert ADAPTER.mapped_kinds is not None
    assert ADAPTER.mapped_kinds(settings.sources["web"]) == {
        "goals.Quote request": EventKind.QUOTE_REQUEST,
        "goals.7": EventKind.WEBINAR_REGISTERED,
    }


def test_online_names_the_version_and_the_mapped_goals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rsps: responses.RequestsMock
) -> None:
    monkeypatch.setenv("MATOMO_TOKEN", TOKEN)
    FakeMatomo(
        goals=[
            {"idsite": "1", "idgoal": "2", "name": "Quote request", "match_attribute": "url"},
            {"idsite": "1", "idgoal": "7", "name": "Webinar", "match_attribute": "url"},
        ],
        dimensions=[{"idcustomdimension": "3", "idsite": "1", "name": "CRM id", "scope": "visit"}],
    ).register(rsps)
    settings = settings_of(
        tmp_path,
        'user_dimension = 3\n[sources.web.goals]\n"Quote request" = "quote_request"\n'
        '"7" = "goal"\n',
    )
    answered = check(settings, online=True)
    assert (
        answered
        == "Matomo 5.2.0 took the token: site 1, 2 goals mapped, the user's id in dimension3"
    )
    assert all(TOKEN not in str(call.request.url) for call in rsps.calls)


def test_online_names_each_goal_and_dimension_the_site_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rsps: responses.RequestsMock
) -> None:
    monkeypatch.setenv("MATOMO_TOKEN", TOKEN)
    FakeMatomo(
        goals=[{"idsite": "1", "idgoal": "2", "name": "Quote request"}],
        dimensions=[{"idcustomdimension": "4", "idsite": "1", "name": "Plan", "scope": "action"}],
    ).register(rsps)
    settings = settings_of(
        tmp_path,
        'user_dimension = 4\n[sources.web.goals]\n"Quote request" = "quote_request"\n'
        '"Callback" = "callback_request"\n"9" = "goal"\n',
    )
    with pytest.raises(ConfigError) as caught:
        check(settings, online=True)
    message = str(caught.value)
    assert "'Callback', '9'" in message and "its goals: 2 'Quote request'" in message
    assert "user_dimension = 4 is an action-scoped dimension" in message
    assert caught.value.key == "sources.web.goals"


def test_online_a_refused_token_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rsps: responses.RequestsMock
) -> None:
    monkeypatch.setenv("MATOMO_TOKEN", "not-the-token-matomo-knows")
    FakeMatomo().register(rsps)
    with pytest.raises(ConfigError) as caught:
        check(settings_of(tmp_path), online=True)
    assert "MATOMO_TOKEN" in str(caught.value)
    assert "not-the-token-matomo-knows" not in str(caught.value)
    (call,) = rsps.calls
    assert "not-the-token-matomo-knows" not in str(call.request.url)
