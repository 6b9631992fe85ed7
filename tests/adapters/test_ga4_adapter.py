"""The ga4 declaration: its settings as config gives them, the kinds its events map to
(for `leadsync check`'s warning), and an event mapped to no kind as a ConfigError naming
its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.ga4 import ADAPTER, Ga4Settings
from connector.config import load_settings
from connector.errors import ConfigError
from connector.model import EventKind
from connector.plugins import installed_adapters

BASE = '[sources.web]\ntype = "ga4"\nproperty_id = "123456789"\nuser_dimension = "crm_id"\n'


def load(tmp_path: Path, text: str) -> Ga4Settings:
    config = tmp_path / "config.toml"
    config.write_text(BASE + text, encoding="utf-8")
    settings = load_settings(config).sources["web"]
    assert isinstance(settings, Ga4Settings)
    return settings


def test_the_entry_point_is_the_declaration() -> None:
    assert installed_adapters().source("ga4", key="sources.web.type") is ADAPTER


def test_the_defaults(tmp_path: Path) -> None:
    own = load(tmp_path, "")
    assert (own.id_namespace, own.window_days, own.lookback_days) == ("ga4_user", 3, 30)
    assert (own.quota_share, own.page_size, own.page_path) == (0.5, 10_000, False)
    assert own.api_endpoint == "https://analyticsdata.googleapis.com"
    assert own.events == {
        "page_view": EventKind.PAGE_VIEW,
        "session_start": EventKind.SITE_VISIT,
        "file_download": EventKind.DOCUMENT_DOWNLOAD,
    }


def test_mapped_kinds_names_each_event_by_its_key(tmp_path: Path) -> None:
    own = load(tmp_path, '[sources.web.events]\ngenerate_lead = "quote_request"\n')
    assert ADAPTER.mapped_kinds is not None
    mapped = ADAPTER.mapped_kinds(own)
    assert mapped["events.generate_lead"] == EventKind.QUOTE_REQUEST
    assert len(mapped) == 4


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[sources.web.events]\ngenerate_lead = "lead"\n', "sources.web.events.generate_lead"),
        ("page_size = 250001\n", "sources.web.page_size"),
        ("quota_share = 0\n", "sources.web.quota_share"),
        ('id_namespace = "email"\n', "sources.web.id_namespace"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_its_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, text)
    assert refused.value.key == key


def test_a_property_id_is_digits(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(BASE.replace('"123456789"', '"G-ABC123"'), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert refused.value.key == "sources.web.property_id"
