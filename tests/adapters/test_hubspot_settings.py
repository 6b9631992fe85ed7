"""``[crm.hubspot] base_url`` read as the official client (urllib3) will read it: no user
name or password in it, and http:// only to this machine, so the token never leaves it
unencrypted nor goes to a host the URL hides."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.hubspot.settings import HubSpotSettings
from connector.config import load_settings
from connector.errors import ConfigError, ExitCode

_USERINFO = (
    "config.toml:3: [crm.hubspot.base_url] holds a user name or password (user@ or "
    "user:password@ before the host); remove it: the token comes from HUBSPOT_ACCESS_TOKEN, "
    "and the URL would send whatever stands there to the host after the @"
)
_HTTP_ELSEWHERE = (
    "config.toml:3: [crm.hubspot.base_url] uses http:// for a host other than this machine: "
    "the token would travel unencrypted; use https:// (http:// is only for a local test "
    "server or proxy on 127.0.0.1, ::1 or localhost)"
)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # errors name the config file as given: config.toml


def _base_url_error(tmp_path: Path, url: str) -> str:
    (tmp_path / "config.toml").write_text(
        f'[crm.hubspot]\n# a local proxy\nbase_url = "{url}"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(Path("config.toml"))
    assert refused.value.exit_code is ExitCode.CONFIG
    return str(refused.value)


def _base_url_taken(tmp_path: Path, url: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[crm.hubspot]\nbase_url = "{url}"\n', encoding="utf-8")
    settings = load_settings(path).crm["hubspot"]
    assert isinstance(settings, HubSpotSettings)
    return settings.base_url


class TestBaseUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "http://localhost:1@evil.example",  # urllib3: user "localhost", host evil.example
            "http://ops@127.0.0.1:8080",
            "https://ops@api.hubapi.com",
            "https://ops:S3cr3t-pw@api.hubapi.com",
        ],
    )
    def test_a_user_name_or_password_is_refused_without_echoing_it(
        self, tmp_path: Path, url: str
    ) -> None:
        """Whatever stands before an @ is refused, https or not, and not repeated."""
        message = _base_url_error(tmp_path, url)
        assert message == _USERINFO
        assert "S3cr3t" not in message and "evil" not in message

    @pytest.mark.parametrize(
        ("url", "taken"),
        [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.45.6.7/", "http://127.45.6.7"),
            ("http://localhost:3000/hubspot/", "http://localhost:3000/hubspot"),
            ("http://LocalHost", "http://LocalHost"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("https://api.hubapi.com", "https://api.hubapi.com"),
            (
                "https://hubspot-proxy.acme.example:8443/api/",
                "https://hubspot-proxy.acme.example:8443/api",
            ),
        ],
    )
    def test_https_anywhere_and_http_to_this_machine_are_taken(
        self, tmp_path: Path, url: str, taken: str
    ) -> None:
        """Loopback addresses (127.0.0.0/8, ::1) and localhost may use http://."""
        assert _base_url_taken(tmp_path, url) == taken

    @pytest.mark.parametrize(
        "url",
        [
            "http://api.hubapi.com",
            "http://10.0.0.5:8080",
            "http://localhost.evil.example",
            "http://0x7f.1",  # an address only some resolvers read as 127.0.0.1
            "http://[::ffff:10.0.0.5]",
        ],
    )
    def test_http_to_another_host_is_refused(self, tmp_path: Path, url: str) -> None:
        """The token would travel unencrypted over the network."""
        assert _base_url_error(tmp_path, url) == _HTTP_ELSEWHERE

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("ftp://api.hubapi.com", "must be an https URL like https://api.hubapi.com"),
            ("api.hubapi.com", "must be an https URL like https://api.hubapi.com"),
            ("http://127.0.0.1:http", "is not a URL; write it like https://api.hubapi.com"),
            (
                "http://127.0.0.1#@evil.example",
                "must be a base URL without ?query or #fragment, like https://api.hubapi.com",
            ),
        ],
    )
    def test_what_is_not_a_base_url_is_refused(
        self, tmp_path: Path, url: str, message: str
    ) -> None:
        """A base URL is a scheme, a host, a port and a path: the client appends its own."""
        assert _base_url_error(tmp_path, url) == f"config.toml:3: [crm.hubspot.base_url] {message}"


def test_the_portal_time_zone_is_checked_and_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[crm.hubspot]\ntime_zone = "Europe/Paris"\n', encoding="utf-8")
    settings = load_settings(path).crm["hubspot"]
    assert isinstance(settings, HubSpotSettings) and settings.time_zone == "Europe/Paris"
    path.write_text('[crm.hubspot]\ntime_zone = "Paris"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(Path("config.toml"))
    assert str(refused.value).startswith(
        "config.toml:2: [crm.hubspot.time_zone] 'Paris' is not a time zone name"
    )
