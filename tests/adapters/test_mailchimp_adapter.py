"""The mailchimp adapter's declaration: its entry point, settings, offline and online
checks, and the factories' secrets."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
import responses

from adapters.mailchimp import ADAPTER, MailchimpSettings
from adapters.mailchimp.source import MailchimpActivitySource
from adapters.mailchimp.webhook import MailchimpWebhook
from connector.errors import ConfigError, ExitCode
from connector.plugins import installed_adapters
from connector.ports import RangeSource, SourceContext
from tests.adapters.mailchimp_fake import API_KEY, FakeMailchimp
from tests.cli.test_check import _initialised_with
from tests.cli.test_cli import assert_clean_failure, clean_env, leadsync
from tests.conftest import REPO_ROOT

CONTEXT = SourceContext(
    name="newsletter", base_dir=Path("."), max_line_bytes=1 << 20, page_size=100
)


@pytest.fixture(autouse=True)
def _no_mailchimp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MAILCHIMP_"):
            monkeypatch.delenv(name)


def settings(**keys: object) -> MailchimpSettings:
    return MailchimpSettings(type="mailchimp", **keys)  # type: ignore[arg-type]


class TestDeclaration:
    def test_the_entry_point_declares_a_pulled_webhook_source_that_backfills(self) -> None:
        declared = installed_adapters().sources["mailchimp"]
        assert declared is ADAPTER
        assert (declared.reads_ranges, declared.settings_model) == (True, MailchimpSettings)
        assert declared.secrets == (
            "MAILCHIMP_API_KEY", "MAILCHIMP_WEBHOOK_SECRET", "MAILCHIMP_WEBHOOK_TOKEN"
        )  # fmt: skip

    def test_a_misspelt_key_or_a_bad_server_is_refused(self) -> None:
        with pytest.raises(ValueError, match="lookback"):
            settings(lookback=7)
        with pytest.raises(ValueError, match="server"):
            settings(server="evil.example/")

    def test_the_source_reads_from_the_keys_data_center(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MAILCHIMP_API_KEY", API_KEY)
        assert ADAPTER.source is not None and ADAPTER.range_source is not None
        source = ADAPTER.source(settings(), CONTEXT)
        assert isinstance(source, MailchimpActivitySource)
        assert isinstance(ADAPTER.range_source(settings(), CONTEXT), RangeSource)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            FakeMailchimp(rsps, campaigns=[])
            assert list(source.pull(None)) == []
            urls = [call.request.url.split("?")[0] for call in rsps.calls]
        assert urls == ["https://us19.api.mailchimp.com/3.0/campaigns"]


class TestConfigExample:
    def test_the_commented_mailchimp_table_is_valid_once_uncommented(self) -> None:
        """config.example.toml's block, uncommented, gives every key its documented default."""
        text = (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8")
        block = text.split("# -- Mailchimp --\n")[1].split("\n\n")[0]
        table = "\n".join(
            line.removeprefix("#").strip()
            for line in block.splitlines()
            if line.startswith(("# [sources.", "#   ")) and not line.startswith("#    ")
        )
        written = tomllib.loads(table)["sources"]["newsletter"]
        assert MailchimpSettings(**written) == settings(server="us19")
        assert set(written) == set(MailchimpSettings.model_fields)


class TestCheck:
    def test_a_missing_api_key_names_its_variable(self) -> None:
        assert ADAPTER.check is not None
        with pytest.raises(ConfigError, match="MAILCHIMP_API_KEY is not set") as caught:
            ADAPTER.check(settings(), CONTEXT)
        assert caught.value.key == "sources.newsletter.api_key_env"

    def test_a_key_without_its_data_center_asks_for_server(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MAILCHIMP_API_KEY", "fedcba9876543210-dc")
        monkeypatch.setenv("MAILCHIMP_WEBHOOK_TOKEN", "tok-1234")
        assert ADAPTER.check is not None
        with pytest.raises(ConfigError, match="does not end in its data center") as caught:
            ADAPTER.check(settings(), CONTEXT)
        assert caught.value.key == "sources.newsletter.server"
        assert "data center us2:" in ADAPTER.check(settings(server="us2"), CONTEXT)

    def test_neither_webhook_secret_names_both(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MAILCHIMP_API_KEY", API_KEY)
        assert ADAPTER.check is not None
        with pytest.raises(
            ConfigError, match="neither MAILCHIMP_WEBHOOK_SECRET nor MAILCHIMP_WEBHOOK_TOKEN"
        ):
            ADAPTER.check(settings(), CONTEXT)

    def test_other_variables_can_be_named(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Two accounts, two sources: each names its own variables; *_FILE works too."""
        (tmp_path / "secret").write_text("whsec-from-a-file\n", encoding="utf-8")
        monkeypatch.setenv("SHOP_MAILCHIMP_KEY", API_KEY)
        monkeypatch.setenv("SHOP_MAILCHIMP_SECRET_FILE", str(tmp_path / "secret"))
        own = settings(api_key_env="SHOP_MAILCHIMP_KEY", webhook_secret_env="SHOP_MAILCHIMP_SECRET")
        assert ADAPTER.check is not None and ADAPTER.webhook is not None
        assert ADAPTER.check(own, CONTEXT) == (
            "Mailchimp data center us19: campaigns of the last 30 days, webhook signed"
        )
        receiver = ADAPTER.webhook(own, CONTEXT)
        assert isinstance(receiver, MailchimpWebhook)
        assert receiver.name == "newsletter"

    def test_leadsync_check_describes_the_source(self, tmp_path: Path) -> None:
        _initialised_with(
            tmp_path, '[sources.newsletter]\ntype = "mailchimp"\nlookback_days = 14\n'
        )
        missing = leadsync("check", cwd=tmp_path)
        assert_clean_failure(missing, ExitCode.CONFIG)
        assert "MAILCHIMP_API_KEY is not set" in missing.stderr.splitlines()[0]

        env = clean_env(MAILCHIMP_API_KEY=API_KEY, MAILCHIMP_WEBHOOK_TOKEN="tok-1234")
        result = leadsync("check", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert API_KEY not in result.stdout + result.stderr
        assert (
            "source     ok  newsletter (Mailchimp data center us19: campaigns of "
            "the last 14 days, webhook with a URL token)"
        ) in result.stdout.splitlines()


class TestCheckOnline:
    def test_the_ping_answers_through_the_client(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MAILCHIMP_API_KEY", API_KEY)
        assert ADAPTER.check_online is not None
        with responses.RequestsMock() as rsps:
            FakeMailchimp(rsps, campaigns=[], members={}).with_ping()
            rsps.assert_all_requests_are_fired = False
            said = ADAPTER.check_online(settings(), CONTEXT)
            urls = [call.request.url for call in rsps.calls]
        assert said == "Mailchimp (us19) answered the ping: Everything's Chimpy!"
        assert urls == ["https://us19.api.mailchimp.com/3.0/ping"]

    def test_a_refused_key_says_which_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MAILCHIMP_API_KEY", API_KEY)
        assert ADAPTER.check_online is not None
        with responses.RequestsMock() as rsps:
            rsps.get(
                "https://us19.api.mailchimp.com/3.0/ping",
                status=401,
                content_type="application/problem+json",
                body=json.dumps({"title": "API Key Invalid", "status": 401, "detail": "bad key"}),
            )
            with pytest.raises(
                ConfigError,
                match=r"refused the API key in MAILCHIMP_API_KEY \(401: API Key Invalid: bad key\)",
            ):
                ADAPTER.check_online(settings(), CONTEXT)

    def test_a_key_mailchimp_echoes_back_is_blanked_out(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An answer quoting the key does not carry it into our error."""
        monkeypatch.setenv("MAILCHIMP_API_KEY", API_KEY)
        assert ADAPTER.check_online is not None
        with responses.RequestsMock() as rsps:
            rsps.get(
                "https://us19.api.mailchimp.com/3.0/ping",
                status=401,
                content_type="application/problem+json",
                body=json.dumps({"title": "API Key Invalid", "detail": f"{API_KEY} is revoked"}),
            )
            with pytest.raises(ConfigError) as caught:
                ADAPTER.check_online(settings(), CONTEXT)
        assert API_KEY not in str(caught.value)
        assert "(401: API Key Invalid: *** is revoked)" in str(caught.value)

    def test_a_key_suffix_that_is_no_data_center_is_not_taken_for_one(self) -> None:
        from adapters.mailchimp.client import server_of

        assert [server_of(key, None) for key in (API_KEY, "k-us1", "k-center", "k-", "k")] == [
            "us19", "us1", None, None, None
        ]  # fmt: skip
        assert server_of("k-center", "eu2") == "eu2"
